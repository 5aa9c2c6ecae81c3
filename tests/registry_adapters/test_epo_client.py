from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from registry_adapters.base import RegistryAdapter, RegistryError
from registry_adapters.epo_ops import EpoOpsClient, EpoOpsRegistry, ops_number, parse_throttling_control
from registry_adapters.epo_ops.client import input_format

from .factories import FETCHED_AT, fixture

TOKEN = json.loads(fixture("token.json"))
BIBLIO = fixture("biblio_cn_invention.xml")
LEGAL = fixture("legal_pledge_registered.xml")
THROTTLE = "idle (images=green:200, inpadoc=green:45, other=green:1000, retrieval=green:200, search=green:30)"
BASE = "https://ops.epo.org/3.2"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FakeOps:
    """An OPS stand-in: issues numbered tokens and serves the data routes, recording every request."""

    def __init__(self, data: Callable[[httpx.Request, str], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.issued: list[str] = []
        self.data = data or self.serve

    def serve(self, request: httpx.Request, token: str) -> httpx.Response:
        if token != self.issued[-1]:
            return httpx.Response(401, text="<fault><message>invalid_access_token</message></fault>")
        path = request.url.path
        if path.endswith("/CN.112345678.B/biblio"):
            return httpx.Response(200, content=BIBLIO, headers={"X-Throttling-Control": THROTTLE})
        if path.endswith("/legal/publication/docdb/CN.112345678.B"):
            return httpx.Response(200, content=LEGAL, headers={"X-Throttling-Control": THROTTLE})
        return httpx.Response(404, text="<fault><code>SERVER.EntityNotFound</code></fault>")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/3.2/auth/accesstoken":
            self.issued.append(f"token-{len(self.issued) + 1}")
            return httpx.Response(200, json={**TOKEN, "access_token": self.issued[-1]})
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return self.data(request, bearer)

    def data_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if not r.url.path.endswith("/auth/accesstoken")]


def client_for(ops: Callable[[httpx.Request], httpx.Response], clock: Clock | None = None) -> EpoOpsClient:
    return EpoOpsClient("key", "secret", transport=httpx.MockTransport(ops), clock=clock or Clock())


async def test_the_token_is_fetched_with_client_credentials_and_reused() -> None:
    ops = FakeOps()
    async with client_for(ops) as client:
        assert await client.biblio("CN.112345678.B") == BIBLIO
        assert await client.legal("CN.112345678.B") == LEGAL
    token_request = ops.requests[0]
    assert token_request.method == "POST"
    assert str(token_request.url) == f"{BASE}/auth/accesstoken"
    assert token_request.headers["Authorization"] == "Basic " + base64.b64encode(b"key:secret").decode()
    assert token_request.content == b"grant_type=client_credentials"
    assert [str(r.url) for r in ops.data_requests()] == [
        f"{BASE}/rest-services/published-data/publication/docdb/CN.112345678.B/biblio",
        f"{BASE}/rest-services/legal/publication/docdb/CN.112345678.B",
    ]
    assert {r.headers["Authorization"] for r in ops.data_requests()} == {"Bearer token-1"}
    assert ops.issued == ["token-1"]
    assert client.last_throttle is not None
    assert client.last_throttle.services["inpadoc"].limit == 45


async def test_an_expired_token_is_replaced_before_the_request() -> None:
    ops, clock = FakeOps(), Clock()
    client = client_for(ops, clock)
    await client.biblio("CN.112345678.B")
    clock.now += timedelta(seconds=1199 - 60 - 1)
    await client.biblio("CN.112345678.B")
    assert ops.issued == ["token-1"]
    clock.now += timedelta(seconds=1)
    await client.biblio("CN.112345678.B")
    assert ops.issued == ["token-1", "token-2"]
    assert client.tokens_fetched == 2
    await client.aclose()


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param(httpx.Response(401), id="401"),
        pytest.param(
            httpx.Response(
                400,
                text="<fault><code>CLIENT.InvalidAccessToken</code><message>invalid_access_token</message></fault>",
            ),
            id="400-invalid-access-token",
        ),
    ],
)
async def test_a_refused_token_is_refreshed_once_and_the_request_retried(refusal: httpx.Response) -> None:
    refused = {"count": 0}

    def data(request: httpx.Request, token: str) -> httpx.Response:
        if token == "token-1":
            refused["count"] += 1
            return refusal
        return httpx.Response(200, content=BIBLIO)

    ops = FakeOps(data)
    async with client_for(ops) as client:
        assert await client.biblio("CN.112345678.B") == BIBLIO
    assert ops.issued == ["token-1", "token-2"]
    assert refused["count"] == 1
    assert [r.headers["Authorization"] for r in ops.data_requests()] == ["Bearer token-1", "Bearer token-2"]


async def test_a_second_refusal_is_an_auth_failure_not_a_loop() -> None:
    ops = FakeOps(lambda request, token: httpx.Response(401))
    async with client_for(ops) as client:
        with pytest.raises(RegistryError) as caught:
            await client.legal("CN.112345678.B")
    assert caught.value.code == "registry_auth_failed"
    assert len(ops.data_requests()) == 2
    assert len(ops.issued) == 2


async def test_an_unknown_publication_is_none() -> None:
    async with client_for(FakeOps()) as client:
        assert await client.biblio("CN.999999999.B") is None
        assert await client.legal("CN999999999") is None


@pytest.mark.parametrize(
    ("response", "code", "detail"),
    [
        pytest.param(
            httpx.Response(
                403,
                headers={
                    "X-Rejection-Reason": "RegisteredQuotaPerWeek",
                    "X-Throttling-Control": "overloaded (inpadoc=black:0)",
                },
                text="<error><code>403</code><message>This request has been rejected due to the violation "
                "of Fair Use policy</message></error>",
            ),
            "registry_throttled",
            "RegisteredQuotaPerWeek",
            id="403-weekly-quota",
        ),
        pytest.param(
            httpx.Response(
                403, headers={"X-Throttling-Control": "busy (inpadoc=black:0)", "Retry-After": "60000"}
            ),
            "registry_throttled",
            "retry after 60000",
            id="403-black-light",
        ),
        pytest.param(httpx.Response(429), "registry_throttled", "429", id="429"),
        pytest.param(
            httpx.Response(503, headers={"Retry-After": "30"}), "registry_unavailable", "503", id="503"
        ),
        pytest.param(httpx.Response(500), "registry_unavailable", "500", id="500"),
        pytest.param(
            httpx.Response(400, text="<fault><code>CLIENT.InvalidReference</code></fault>"),
            "bad_answer",
            "InvalidReference",
            id="400-bad-reference",
        ),
    ],
)
async def test_refusals_and_outages_are_registry_errors(
    response: httpx.Response, code: str, detail: str
) -> None:
    async with client_for(FakeOps(lambda request, token: response)) as client:
        with pytest.raises(RegistryError) as caught:
            await client.legal("CN.112345678.B")
    assert caught.value.code == code
    assert detail in caught.value.detail


async def test_the_throttle_state_of_a_refusal_is_kept() -> None:
    refusal = httpx.Response(
        403, headers={"X-Throttling-Control": "overloaded (inpadoc=black:0, retrieval=red:50)"}
    )
    async with client_for(FakeOps(lambda request, token: refusal)) as client:
        with pytest.raises(RegistryError):
            await client.legal("CN.112345678.B")
    assert client.last_throttle is not None
    assert client.last_throttle.blocked("inpadoc")
    assert not client.last_throttle.blocked("retrieval")


async def test_a_network_failure_is_registry_unavailable() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with client_for(fail) as client:
        with pytest.raises(RegistryError) as caught:
            await client.biblio("CN.112345678.B")
    assert caught.value.code == "registry_unavailable"


def token_endpoint(response: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: response if request.url.path.endswith("/auth/accesstoken") else httpx.Response(200)


@pytest.mark.parametrize(
    ("response", "code"),
    [
        pytest.param(
            httpx.Response(401, json={"error": "invalid_client"}),
            "registry_auth_failed",
            id="bad-credentials-401",
        ),
        pytest.param(
            httpx.Response(400, json={"error": "invalid_client"}),
            "registry_auth_failed",
            id="bad-credentials-400",
        ),
        pytest.param(httpx.Response(200, text="not json"), "bad_answer", id="not-json"),
        pytest.param(httpx.Response(200, json={"access_token": "t"}), "bad_answer", id="no-lifetime"),
        pytest.param(
            httpx.Response(200, json={"access_token": "", "expires_in": "1199"}),
            "bad_answer",
            id="empty-token",
        ),
        pytest.param(
            httpx.Response(200, json={"access_token": "t", "expires_in": "soon"}),
            "bad_answer",
            id="bad-lifetime",
        ),
        pytest.param(httpx.Response(403), "registry_throttled", id="token-endpoint-throttled"),
        pytest.param(httpx.Response(502), "registry_unavailable", id="token-endpoint-down"),
        pytest.param(httpx.Response(404), "bad_answer", id="token-endpoint-missing"),
    ],
)
async def test_token_endpoint_failures(response: httpx.Response, code: str) -> None:
    async with client_for(token_endpoint(response)) as client:
        with pytest.raises(RegistryError) as caught:
            await client.biblio("CN.112345678.B")
    assert caught.value.code == code


async def test_concurrent_lookups_share_one_token_fetch() -> None:
    ops = FakeOps()
    async with client_for(ops) as client:
        answers = await asyncio.gather(*(client.biblio("CN.112345678.B") for _ in range(5)))
    assert answers == [BIBLIO] * 5
    assert ops.issued == ["token-1"]


@pytest.mark.parametrize(
    ("header", "system", "inpadoc", "blocked"),
    [
        pytest.param(THROTTLE, "idle", ("green", 45), False, id="idle"),
        pytest.param("busy (inpadoc=red:30, retrieval=yellow:100)", "busy", ("red", 30), False, id="busy"),
        pytest.param("overloaded (inpadoc=black:0)", "overloaded", ("black", 0), True, id="black"),
        pytest.param("idle", "idle", None, False, id="no-services"),
    ],
)
def test_parse_throttling_control(
    header: str, system: str, inpadoc: tuple[str, int] | None, blocked: bool
) -> None:
    state = parse_throttling_control(header)
    assert state is not None
    assert state.system == system
    entry = state.services.get("inpadoc")
    assert (None if entry is None else (entry.color, entry.limit)) == inpadoc
    assert state.blocked() is blocked


@pytest.mark.parametrize("header", [None, "", "   "])
def test_an_absent_throttling_header_is_none(header: str | None) -> None:
    assert parse_throttling_control(header) is None


@pytest.mark.parametrize(
    ("number", "query"),
    [
        pytest.param("CN112345678B", "CN.112345678.B", id="publication-with-kind"),
        pytest.param("cn 112345678 b", "CN.112345678.B", id="spaces-and-case"),
        pytest.param("CN112345678.B", "CN.112345678.B", id="epodoc-with-kind"),
        pytest.param("CN.112345678.B", "CN.112345678.B", id="docdb"),
        pytest.param("CN212345678U", "CN.212345678.U", id="utility-model"),
        pytest.param("CN112345678", "CN112345678", id="epodoc-without-kind"),
        pytest.param("CN202110345678.2", None, id="application-number-not-served"),
        pytest.param("EP1000000A1", None, id="not-chinese"),
        pytest.param("40123456", None, id="trademark-number"),
    ],
)
def test_ops_number(number: str, query: str | None) -> None:
    assert ops_number(number) == query


@pytest.mark.parametrize(
    ("number", "fmt"),
    [pytest.param("CN.112345678.B", "docdb", id="docdb"), pytest.param("CN112345678", "epodoc", id="epodoc")],
)
def test_input_format(number: str, fmt: str) -> None:
    assert input_format(number) == fmt


async def test_the_adapter_builds_a_record_from_both_answers() -> None:
    ops = FakeOps()
    async with client_for(ops) as client:
        registry = EpoOpsRegistry(client, clock=lambda: FETCHED_AT)
        assert isinstance(registry, RegistryAdapter)
        record = await registry.lookup("cnipa", "CN112345678B")
    assert record is not None
    assert (record.registry, record.number, record.kind, record.source) == (
        "cnipa",
        "CN112345678B",
        "invention_patent",
        "epo_ops",
    )
    assert record.pledges[0].registration_no == "Y2023980031234"
    assert record.fetched_at == FETCHED_AT


@pytest.mark.parametrize(
    ("registry", "number"),
    [
        pytest.param("cntmo", "CN112345678B", id="other-registry"),
        pytest.param("cnipa", "CN202110345678.2", id="application-number"),
        pytest.param("cnipa", "CN999999999B", id="unknown-to-ops"),
    ],
)
async def test_the_adapter_answers_none_where_it_cannot_serve(registry: str, number: str) -> None:
    ops = FakeOps()
    async with client_for(ops) as client:
        assert await EpoOpsRegistry(client, clock=lambda: FETCHED_AT).lookup(registry, number) is None
    if registry != "cnipa" or "." in number:
        assert ops.requests == []


async def test_a_publication_without_legal_events_is_still_a_record() -> None:
    def data(request: httpx.Request, token: str) -> httpx.Response:
        if request.url.path.endswith("/biblio"):
            return httpx.Response(200, content=BIBLIO)
        return httpx.Response(404)

    async with client_for(FakeOps(data)) as client:
        record = await EpoOpsRegistry(client, clock=lambda: FETCHED_AT).lookup("cnipa", "CN112345678B")
    assert record is not None
    assert record.events == ()
