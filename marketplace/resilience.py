"""Keeping the service up while Redis is down: the database stays the truth, Redis only helps.

Invariants:
- :class:`RedisBreaker` (one per Redis client, :func:`breaker_for`): after a connection failure,
  calls fail fast with :class:`RedisUnavailable` for ``cooldown`` seconds instead of each paying
  the client's retries; callers fall back to in-process behaviour;
- :class:`FallbackStore` answers from Redis whenever Redis answers, so a revoked token is revoked
  on every node; while Redis is down it answers from a bounded in-process mirror of what this node
  wrote or read recently (signed-in callers this node has seen keep working). Writes made during
  an outage are pushed to Redis when it next answers for that key, and deletes made during an
  outage are replayed then, so a logout during an outage is not undone by Redis coming back;
- :class:`ResilientPubSubBackend` never lets a Redis failure escape into Litestar's channels
  plugin (whose workers would die and never recover): a failed publish is kept in a bounded
  backlog and sent, in order, once Redis answers again; a broken subscription is re-established
  with back-off and every channel this node wants is re-subscribed; then each channel receives
  :data:`FEED_RESUMED`, on which the live side fills every watcher's gap from the stored log
  (:func:`catch_up`). Events carry ``seq``, so a late or repeated delivery is skipped by watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

import msgspec
import structlog
from litestar.channels.backends.base import ChannelsBackend
from litestar.stores.base import Store
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from auction.feed import EventSource, LotHub

T = TypeVar("T")

log = structlog.get_logger("marketplace.resilience")

REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
FEED_RESUMED = b"\x00feed-resumed"
"""Delivered on every channel once a lost subscription is back: not JSON, never a real event."""


class RedisUnavailable(Exception):
    """Redis did not answer (or did not answer recently); use the in-process fallback."""


class RedisBreaker:
    def __init__(self, cooldown_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._open_until = 0.0
        self.trips = 0

    @property
    def available(self) -> bool:
        return self._clock() >= self._open_until

    def trip(self, reason: str = "") -> None:
        if self.available:
            self.trips += 1
            log.warning("redis unavailable; using in-process fallbacks", reason=reason[:200])
        self._open_until = self._clock() + self.cooldown_seconds

    def reset(self) -> None:
        self._open_until = 0.0

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        if not self.available:
            raise RedisUnavailable("redis failed recently")
        try:
            return await operation()
        except REDIS_DOWN as exc:
            self.trip(f"{type(exc).__name__}: {exc}")
            raise RedisUnavailable(str(exc)) from exc


_breakers: weakref.WeakKeyDictionary[Redis, RedisBreaker] = weakref.WeakKeyDictionary()


def breaker_for(redis: Redis) -> RedisBreaker:
    """The one breaker shared by everything that talks to this Redis client."""
    breaker = _breakers.get(redis)
    if breaker is None:
        breaker = _breakers[redis] = RedisBreaker()
    return breaker


def _seconds(expires_in: int | timedelta | None) -> float | None:
    if expires_in is None:
        return None
    return expires_in.total_seconds() if isinstance(expires_in, timedelta) else float(expires_in)


class FallbackStore(Store):
    def __init__(
        self,
        primary: Store,
        breaker: RedisBreaker,
        *,
        max_entries: int = 20_000,
        max_value_bytes: int = 8_192,
        mirror_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.breaker = breaker
        self._max_entries = max_entries
        self._max_value_bytes = max_value_bytes
        self._mirror_seconds = mirror_seconds
        self._clock = clock
        self._mirror: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._unsynced: OrderedDict[str, None] = OrderedDict()
        self._deleted: OrderedDict[str, None] = OrderedDict()

    def _remember(self, key: str, value: bytes, expires_in: float | None) -> None:
        if len(value) > self._max_value_bytes:
            self._mirror.pop(key, None)
            return
        lifetime = self._mirror_seconds if expires_in is None else min(expires_in, self._mirror_seconds)
        self._mirror[key] = (value, self._clock() + lifetime)
        self._mirror.move_to_end(key)
        while len(self._mirror) > self._max_entries:
            self._mirror.popitem(last=False)

    def _recall(self, key: str) -> bytes | None:
        entry = self._mirror.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if self._clock() >= expires_at:
            del self._mirror[key]
            return None
        return value

    def _mark(self, marks: OrderedDict[str, None], key: str) -> None:
        marks[key] = None
        marks.move_to_end(key)
        while len(marks) > self._max_entries:
            marks.popitem(last=False)

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        self._remember(key, data, _seconds(expires_in))
        self._deleted.pop(key, None)
        try:
            await self.breaker.call(lambda: self.primary.set(key, data, expires_in))
        except RedisUnavailable:
            self._mark(self._unsynced, key)
        else:
            self._unsynced.pop(key, None)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            value = await self.breaker.call(lambda: self.primary.get(key, renew_for))
        except RedisUnavailable:
            return None if key in self._deleted else self._recall(key)
        if key in self._deleted:
            await self.delete(key)
            return None
        if value is None:
            local = self._recall(key)
            if local is not None and key in self._unsynced:
                expires_at = self._mirror[key][1]
                await self.set(key, local, max(1, int(expires_at - self._clock())))
                return local
            self._mirror.pop(key, None)
            return None
        self._remember(key, value, _seconds(renew_for))
        return value

    async def delete(self, key: str) -> None:
        self._mirror.pop(key, None)
        self._unsynced.pop(key, None)
        try:
            await self.breaker.call(lambda: self.primary.delete(key))
        except RedisUnavailable:
            self._mark(self._deleted, key)
        else:
            self._deleted.pop(key, None)

    async def delete_all(self) -> None:
        self._mirror.clear()
        self._unsynced.clear()
        self._deleted.clear()
        await self.primary.delete_all()

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        try:
            return await self.breaker.call(lambda: self.primary.expires_in(key))
        except RedisUnavailable:
            entry = self._mirror.get(key)
            return None if entry is None else max(0, int(entry[1] - self._clock()))


class ResilientPubSubBackend(ChannelsBackend):
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "mp:live:",
        retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5, 1.0, 2.0),
        backlog_limit: int = 10_000,
        poll_seconds: float = 0.5,
    ) -> None:
        self._redis = redis
        self._breaker = breaker_for(redis)
        self._prefix = prefix
        self._retry_delays = retry_delays
        self._poll_seconds = poll_seconds
        self._wanted: set[str] = set()
        self._subscribed: set[str] = set()
        self._pubsub: PubSub | None = None
        self._healthy = True
        self._backlog: deque[tuple[bytes, tuple[str, ...]]] = deque(maxlen=backlog_limit)
        self._flush_lock: asyncio.Lock | None = None
        self._wakeup: asyncio.Event | None = None
        self.resumptions = 0

    def _key(self, channel: str) -> str:
        return self._prefix + channel

    def _event(self) -> asyncio.Event:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        return self._wakeup

    def _lock(self) -> asyncio.Lock:
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        return self._flush_lock

    def _broken(self, reason: str) -> None:
        if self._healthy:
            log.warning("live subscription lost; resubscribing when redis answers", reason=reason[:200])
        self._healthy = False
        self._breaker.trip(reason)
        self._event().set()

    async def on_startup(self) -> None:
        return None

    async def on_shutdown(self) -> None:
        await self._close_pubsub()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._subscribed = set()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def subscribe(self, channels: Iterable[str]) -> None:
        new = set(channels) - self._wanted
        self._wanted |= new
        if new and self._healthy:
            if self._pubsub is None:
                self._pubsub = self._redis.pubsub()
            pubsub = self._pubsub
            try:
                await self._breaker.call(lambda: pubsub.subscribe(*(self._key(c) for c in new)))
            except RedisUnavailable as exc:
                self._broken(str(exc))
            else:
                self._subscribed |= new
        self._event().set()

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        gone = set(channels) & self._wanted
        self._wanted -= gone
        active = gone & self._subscribed
        self._subscribed -= gone
        if active and self._healthy and self._pubsub is not None:
            pubsub = self._pubsub
            try:
                await self._breaker.call(lambda: pubsub.unsubscribe(*(self._key(c) for c in active)))
            except RedisUnavailable as exc:
                self._broken(str(exc))

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        self._backlog.append((data, tuple(sorted(set(channels)))))
        await self._flush()

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    async def _flush(self) -> None:
        async with self._lock():
            while self._backlog:
                data, channels = self._backlog[0]
                try:
                    await self._breaker.call(functools.partial(self._send, data, channels))
                except RedisUnavailable:
                    return
                self._backlog.popleft()

    async def _send(self, data: bytes, channels: tuple[str, ...]) -> None:
        for channel in channels:
            await self._redis.publish(self._key(channel), data)

    async def _resubscribe(self) -> None:
        """Back-off until a fresh subscription holds every wanted channel."""
        for attempt in range(1_000_000):
            delay = self._retry_delays[min(attempt, len(self._retry_delays) - 1)]
            await asyncio.sleep(delay)
            await self._close_pubsub()
            pubsub = self._redis.pubsub()
            try:
                await self._redis.ping()
                while wanted := self._wanted - self._subscribed:
                    await pubsub.subscribe(*(self._key(c) for c in wanted))
                    self._subscribed |= wanted
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                self._subscribed = set()
                log.debug("resubscribe failed", error=str(exc)[:200])
                continue
            self._pubsub = pubsub
            self._healthy = True
            self._breaker.reset()
            self.resumptions += 1
            log.warning("live subscription restored", channels=len(self._subscribed))
            return

    async def _idle(self) -> None:
        wakeup = self._event()
        wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=1.0)
        if self._backlog and self._breaker.available:
            await self._flush()

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        while True:
            if not self._healthy:
                await self._resubscribe()
                await self._flush()
                for channel in sorted(self._wanted):
                    yield channel, FEED_RESUMED
                continue
            pubsub = self._pubsub
            if pubsub is None or not self._subscribed:
                await self._idle()
                continue
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self._poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._broken(f"{type(exc).__name__}: {exc}")
                continue
            if self._backlog and self._breaker.available:
                await self._flush()
            if message is None or message.get("type") != "message":
                continue
            raw_channel = message["channel"]
            name = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
            channel = name.removeprefix(self._prefix)
            if channel in self._wanted:
                yield channel, message["data"]

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("the live feed reads history from the stored event log")


async def catch_up(hub: LotHub, source: EventSource, limit: int = 500) -> None:
    """After :data:`FEED_RESUMED`: hand the hub's watchers the stored events they may have missed."""
    if not hub.watchers:
        return
    after = min(watcher.last_seq for watcher in hub.watchers)
    events = await source.events_after(hub.lot_id, after, limit)
    if events:
        hub.dispatch(msgspec.json.encode(list(events)))
