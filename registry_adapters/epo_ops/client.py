"""An async client for EPO Open Patent Services 3.2: OAuth2 client credentials, legal and biblio.

Invariants
- One access token is cached per client until shortly before it expires (``expires_in`` minus
  ``token_margin``, by the injected clock); concurrent callers share one token fetch.
- A request whose token is refused is retried exactly once with a fresh token. OPS signals a
  stale token either as HTTP 401 or as HTTP 400 whose body says ``invalid_access_token`` (the
  behaviour python-epo-ops-client works around); both count. A second refusal is
  ``registry_auth_failed``.
- Answers: 200 → the body bytes, untouched; 404 → ``None``; 403 (fair-use or quota rejection,
  ``X-Rejection-Reason``) and 429 → ``registry_throttled``; 5xx and network failures →
  ``registry_unavailable``; anything else → ``bad_answer``. The client never sleeps or retries
  for throttling; it reports ``X-Throttling-Control`` in ``last_throttle`` and in the error detail.
- The client reads no environment and holds no global state; ``transport`` lets tests use
  ``httpx.MockTransport``.

Endpoints (OPS 3.2 reference guide): ``POST {base}/auth/accesstoken`` with HTTP Basic
``key:secret`` and ``grant_type=client_credentials`` (answer: JSON with ``access_token`` and
``expires_in`` in seconds, a string in practice); ``GET
{base}/rest-services/legal/publication/{docdb|epodoc}/{number}`` and ``GET
{base}/rest-services/published-data/publication/{docdb|epodoc}/{number}/biblio``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from urllib.parse import quote

import httpx

from registry_adapters.base import RegistryError

DEFAULT_BASE_URL = "https://ops.epo.org/3.2"
_SERVICE = re.compile(r"(?P<name>[a-z-]+)=(?P<color>[a-z]+):(?P<limit>\d+)")


@dataclass(frozen=True, slots=True)
class ServiceThrottle:
    color: str
    limit: int


@dataclass(frozen=True, slots=True)
class ThrottleState:
    """``X-Throttling-Control``: ``idle (retrieval=green:200, search=yellow:20, inpadoc=red:30, …)``.

    ``system`` is ``idle``, ``busy`` or ``overloaded``; each service carries a traffic light
    (``green``, ``yellow``, ``red``, ``black`` = suspended) and its requests-per-minute limit.
    """

    system: str
    services: Mapping[str, ServiceThrottle]

    def blocked(self, service: str | None = None) -> bool:
        if service is not None and service in self.services:
            return self.services[service].color == "black"
        return any(entry.color == "black" for entry in self.services.values())


def parse_throttling_control(header: str | None) -> ThrottleState | None:
    """The parsed header, or ``None`` when absent or unreadable."""
    if not header or not header.strip():
        return None
    system = header.strip().split(None, 1)[0].split("(", 1)[0].strip().lower()
    services = {
        match.group("name"): ServiceThrottle(match.group("color"), int(match.group("limit")))
        for match in _SERVICE.finditer(header.lower())
    }
    if not system and not services:
        return None
    return ThrottleState(system=system, services=services)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def input_format(number: str) -> str:
    """``docdb`` for ``CC.number.kind``, else ``epodoc`` (``CN112345678`` or ``CN112345678.B``)."""
    return "docdb" if number.count(".") == 2 else "epodoc"


def _retry_after(response: httpx.Response) -> str:
    value = response.headers.get("Retry-After")
    return f"; retry after {value}" if value else ""


class EpoOpsClient:
    """Fetches raw OPS answers; parsing lives in ``registry_adapters.epo_ops.parse``."""

    def __init__(
        self,
        key: str,
        secret: str,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        timeout: float = 20.0,
        token_margin: timedelta = timedelta(seconds=60),
    ) -> None:
        self._key = key
        self._secret = secret
        self._base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._clock = clock
        self._token_margin = token_margin
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self.last_throttle: ThrottleState | None = None
        self.tokens_fetched = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def legal(self, number: str) -> bytes | None:
        """The INPADOC legal-event answer for a publication, or ``None`` if OPS does not know it."""
        return await self._get(f"/rest-services/legal/publication/{input_format(number)}/{_path(number)}")

    async def biblio(self, number: str) -> bytes | None:
        """The bibliographic answer for a publication, or ``None`` if OPS does not know it."""
        return await self._get(
            f"/rest-services/published-data/publication/{input_format(number)}/{_path(number)}/biblio"
        )

    async def _get(self, path: str) -> bytes | None:
        token = await self._access_token()
        response = await self._send(path, token)
        if _token_refused(response):
            await self._forget(token)
            response = await self._send(path, await self._access_token())
            if _token_refused(response):
                raise RegistryError("registry_auth_failed", "OPS refused a freshly issued access token")
        return self._answer(response)

    async def _send(self, path: str, token: str) -> httpx.Response:
        try:
            return await self._http.get(
                f"{self._base_url}{path}",
                headers={"Authorization": f"Bearer {token}", "Accept": "application/xml"},
            )
        except httpx.TransportError as exc:
            raise RegistryError("registry_unavailable", f"OPS unreachable: {exc!r}") from exc

    def _answer(self, response: httpx.Response) -> bytes | None:
        self.last_throttle = parse_throttling_control(response.headers.get("X-Throttling-Control"))
        status = response.status_code
        if status == httpx.codes.OK:
            return response.content
        if status == httpx.codes.NOT_FOUND:
            return None
        throttle = response.headers.get("X-Throttling-Control", "")
        if status in (httpx.codes.FORBIDDEN, httpx.codes.TOO_MANY_REQUESTS):
            reason = response.headers.get("X-Rejection-Reason", "fair-use rejection")
            raise RegistryError(
                "registry_throttled",
                f"OPS answered {status} ({reason}); throttling {throttle or 'not reported'}"
                f"{_retry_after(response)}",
            )
        if status >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise RegistryError("registry_unavailable", f"OPS answered {status}{_retry_after(response)}")
        raise RegistryError("bad_answer", f"OPS answered {status}: {response.text[:200]}")

    async def _access_token(self) -> str:
        async with self._token_lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at:
                token = await self._fetch_token()
                self._token = token
            return token.value

    async def _forget(self, value: str) -> None:
        async with self._token_lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    async def _fetch_token(self) -> _Token:
        try:
            response = await self._http.post(
                f"{self._base_url}/auth/accesstoken",
                auth=httpx.BasicAuth(self._key, self._secret),
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise RegistryError("registry_unavailable", f"OPS token endpoint unreachable: {exc!r}") from exc
        if response.status_code in (httpx.codes.BAD_REQUEST, httpx.codes.UNAUTHORIZED):
            raise RegistryError(
                "registry_auth_failed", f"OPS refused the credentials ({response.status_code})"
            )
        if response.status_code != httpx.codes.OK:
            self._answer(response)
            raise RegistryError("bad_answer", f"OPS token endpoint answered {response.status_code}")
        try:
            body = response.json()
            value = body["access_token"]
            lifetime = int(body["expires_in"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError("bad_answer", "OPS token answer lacks access_token or expires_in") from exc
        if not isinstance(value, str) or not value or lifetime <= 0:
            raise RegistryError("bad_answer", "OPS token answer has an empty token or lifetime")
        self.tokens_fetched += 1
        lifetime_left = max(timedelta(0), timedelta(seconds=lifetime) - self._token_margin)
        return _Token(value=value, expires_at=self._clock() + lifetime_left)


def _path(number: str) -> str:
    return quote(number.strip(), safe=".")


def _token_refused(response: httpx.Response) -> bool:
    if response.status_code == httpx.codes.UNAUTHORIZED:
        return True
    return response.status_code == httpx.codes.BAD_REQUEST and b"invalid_access_token" in response.content
