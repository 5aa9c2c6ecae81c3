"""Rate limits on sign-in and bids, and a cap on live connections per client address.

Invariants:
- a limit is a fixed window: at most ``max_hits`` hits per subject in ``window_seconds`` from the
  subject's first hit; the hit past the limit is refused with 429 ``rate_limited`` and
  ``retry_after`` (also sent as ``Retry-After``) = the seconds until the window ends. Refused hits
  still count, so hammering does not shorten the wait;
- with Redis the counters live in Redis (``INCRBY`` and ``PEXPIRE`` in one Lua script, so the first
  hit always sets the expiry), and every node counts the same hits; for large limits a node counts
  a few hits per round trip and uses them locally until its window ends (:func:`lease_size`): never
  more than the limit over all nodes, at most 1 % of it refused early; without Redis (the embedded
  set-up), or while Redis is down, each process counts alone: the limits get looser, never
  stricter, and a Redis outage never refuses a bid;
- subjects are hashed before they become keys: no e-mail address or user id is written to Redis;
- a limit of 0, or ``rate_limits_enabled=False``, counts nothing; per-address limits skip loopback
  clients when ``rate_limit_exempt_loopback`` (local tools and the benchmark; behind a proxy,
  uvicorn's proxy headers give the real client address, see README "Reliability");
- live connections are capped per client address and per process (a websocket lives in one
  process; a node that dies takes its connections and their count with it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from marketplace.context import AppContext
from marketplace.errors import DomainError
from marketplace.resilience import RedisUnavailable, breaker_for
from marketplace.settings import Settings

_WINDOW_SCRIPT = """
local hits = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
"""
LOCAL_PRUNE_AT = 50_000
LEASE_SHARE = 100
"""A process takes at most 1/100 of a limit from Redis in one round trip (see :func:`lease_size`)."""
MAX_LEASE = 16


def lease_size(limit: Limit) -> int:
    """How many hits one Redis round trip counts for this process: 1 for small limits (exact, hit
    by hit), up to 16 for large ones (the default 1 200 bids a minute: 12). The hits are counted
    in Redis when they are taken, so every node together never admits more than ``max_hits``; what
    a node took but did not use is lost with its window, so a subject can be refused up to
    ``lease - 1`` hits per node early (1 % of the limit), never late."""
    return max(1, min(MAX_LEASE, limit.max_hits // LEASE_SHARE))


class RateLimited(DomainError):
    status = 429


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int

    @property
    def active(self) -> bool:
        return self.max_hits > 0 and self.window_seconds > 0


@dataclass(frozen=True, slots=True)
class Limits:
    login_per_ip: Limit
    login_per_account: Limit
    bid_per_user: Limit
    bid_per_ip: Limit

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        login_window = settings.login_limit_window_seconds
        bid_window = settings.bid_limit_window_seconds
        return cls(
            login_per_ip=Limit("login-ip", settings.login_limit_per_ip, login_window),
            login_per_account=Limit("login-account", settings.login_limit_per_account, login_window),
            bid_per_user=Limit("bid-user", settings.bid_limit_per_user, bid_window),
            bid_per_ip=Limit("bid-ip", settings.bid_limit_per_ip, bid_window),
        )


def _subject_key(prefix: str, limit: Limit, subject: str) -> str:
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{prefix}{limit.name}:{digest}"


class RateLimiter:
    """Counts hits per (limit, subject); :meth:`hit` raises :class:`RateLimited` past the limit."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        enabled: bool = True,
        prefix: str = "mp:rl:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._script: Any = redis.register_script(_WINDOW_SCRIPT) if redis is not None else None
        self._local: dict[str, list[float]] = {}
        self._leases: dict[str, list[float]] = {}

    async def hit(self, limit: Limit, subject: str) -> None:
        if not self.enabled or not limit.active:
            return
        key = _subject_key(self._prefix, limit, subject)
        if self._take_leased(key):
            return
        size = lease_size(limit) if self._redis is not None else 1
        hits, seconds_left, counted = await self._count(key, limit.window_seconds, size)
        granted = min(counted, limit.max_hits - (hits - counted))
        if granted > 1:
            self._keep_lease(key, granted - 1, seconds_left)
        if granted <= 0:
            retry_after = min(limit.window_seconds, max(1, math.ceil(round(seconds_left, 3))))
            raise RateLimited(
                "rate_limited",
                f"too many requests ({limit.name}); retry in {retry_after} s",
                retry_after=retry_after,
            )

    def _take_leased(self, key: str) -> bool:
        """Use a hit this process already counted in Redis (within the same window)."""
        lease = self._leases.get(key)
        if lease is None:
            return False
        if lease[0] <= self._clock() or lease[1] <= 0:
            del self._leases[key]
            return False
        lease[1] -= 1
        return True

    def _keep_lease(self, key: str, hits: int, seconds_left: float) -> None:
        if len(self._leases) >= LOCAL_PRUNE_AT:
            now = self._clock()
            self._leases = {k: v for k, v in self._leases.items() if v[0] > now and v[1] > 0}
        self._leases[key] = [self._clock() + seconds_left, hits]

    async def _count(self, key: str, window_seconds: int, size: int = 1) -> tuple[int, float, int]:
        """Hits in the subject's window after counting ``size`` more (one when counting locally), the
        seconds the window has left, and how many were counted."""
        if self._redis is not None:
            script = self._script
            try:
                hits, ttl_ms = await breaker_for(self._redis).call(
                    lambda: script(keys=[key], args=[window_seconds * 1000, size])
                )
            except RedisUnavailable:
                pass
            else:
                return int(hits), int(ttl_ms) / 1000, size
        return (*self._count_locally(key, window_seconds), 1)

    def _count_locally(self, key: str, window_seconds: int) -> tuple[int, float]:
        now = self._clock()
        if len(self._local) >= LOCAL_PRUNE_AT:
            self._local = {k: v for k, v in self._local.items() if v[0] > now}
        window = self._local.get(key)
        if window is None or window[0] <= now:
            window = self._local[key] = [now + window_seconds, 0]
        window[1] += 1
        return int(window[1]), window[0] - now


class ConnectionSlots:
    """Live connections per client address in this process."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._open: dict[str, int] = {}

    def acquire(self, address: str) -> bool:
        if self.per_client <= 0:
            return True
        count = self._open.get(address, 0)
        if count >= self.per_client:
            return False
        self._open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)

    def open_for(self, address: str) -> int:
        return self._open.get(address, 0)


def client_address(connection: Any) -> str:
    """The client's address as the server sees it (after uvicorn's trusted proxy headers)."""
    client = getattr(connection, "client", None)
    return str(client.host) if client is not None and client.host else "unknown"


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _address_limited(settings: Settings, address: str) -> bool:
    return not (settings.rate_limit_exempt_loopback and _is_loopback(address))


def limiter_for(ctx: AppContext) -> RateLimiter:
    limiter: RateLimiter | None = ctx.services.get("rate_limiter")
    if limiter is None:
        limiter = RateLimiter(ctx.redis, enabled=ctx.settings.rate_limits_enabled)
        ctx.services["rate_limiter"] = limiter
    return limiter


def _limits(ctx: AppContext) -> Limits:
    limits: Limits | None = ctx.services.get("rate_limits")
    if limits is None:
        limits = ctx.services["rate_limits"] = Limits.from_settings(ctx.settings)
    return limits


async def check_login(ctx: AppContext, connection: Any, email: str) -> None:
    """Count a sign-in attempt against the client address and the account it names."""
    limiter, limits = limiter_for(ctx), _limits(ctx)
    address = client_address(connection)
    if _address_limited(ctx.settings, address):
        await limiter.hit(limits.login_per_ip, address)
    await limiter.hit(limits.login_per_account, email.strip().lower())


async def check_bid(ctx: AppContext, connection: Any, user_id: uuid.UUID) -> None:
    """Count a bid against the bidder and the client address."""
    limiter, limits = limiter_for(ctx), _limits(ctx)
    await limiter.hit(limits.bid_per_user, str(user_id))
    address = client_address(connection)
    if _address_limited(ctx.settings, address):
        await limiter.hit(limits.bid_per_ip, address)


def _slots(ctx: AppContext) -> ConnectionSlots:
    slots: ConnectionSlots | None = ctx.services.get("ws_slots")
    if slots is None:
        per_client = ctx.settings.ws_connections_per_client if ctx.settings.rate_limits_enabled else 0
        slots = ctx.services["ws_slots"] = ConnectionSlots(per_client)
    return slots


def admit_connection(ctx: AppContext, socket: Any) -> bool:
    """Take a live-connection slot for the socket's client address; false when it has none left."""
    address = client_address(socket)
    if not _address_limited(ctx.settings, address):
        return True
    if not _slots(ctx).acquire(address):
        return False
    socket.scope["mp_connection_slot"] = address
    return True


def release_connection(ctx: AppContext, socket: Any) -> None:
    """Give the socket's slot back (a no-op for sockets that were not admitted or are exempt)."""
    address = socket.scope.pop("mp_connection_slot", None)
    if address is not None:
        _slots(ctx).release(address)
