"""The pieces that keep the service up while Redis is down: the breaker, the store that falls back
to its mirror, the live-feed backend that resubscribes and re-sends what it could not publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.stores.memory import MemoryStore
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from auction.feed import LotHub, Message, Watcher
from marketplace.resilience import (
    FEED_RESUMED,
    FallbackStore,
    RedisBreaker,
    RedisUnavailable,
    ResilientPubSubBackend,
    catch_up,
)
from tests.conftest import missing_service
from tests.reliability.services import OwnRedis


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FlakyStore(MemoryStore):
    """A store that can be switched off, as Redis is when its process stops."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Connection refused")

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        self._check()
        await super().set(key, value, expires_in)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        self._check()
        return await super().get(key, renew_for)

    async def delete(self, key: str) -> None:
        self._check()
        await super().delete(key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def primary() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
def store(primary: FlakyStore, clock: Clock) -> FallbackStore:
    return FallbackStore(primary, RedisBreaker(cooldown_seconds=1.0, clock=clock), max_entries=3, clock=clock)


def recover(primary: FlakyStore, clock: Clock) -> None:
    primary.down = False
    clock.now += 2


async def test_while_redis_is_down_a_value_this_node_saw_is_still_answered(
    store: FallbackStore, primary: FlakyStore
) -> None:
    await store.set("tok:a", b"claims", expires_in=60)
    primary.down = True
    assert await store.get("tok:a") == b"claims"
    assert await store.get("tok:unknown") is None


async def test_the_breaker_spares_redis_calls_during_the_cooldown(
    store: FallbackStore, primary: FlakyStore, clock: Clock
) -> None:
    primary.down = True
    await store.get("tok:a")
    calls = primary.calls
    for _ in range(5):
        await store.get("tok:a")
    assert primary.calls == calls
    clock.now += 1.5
    await store.get("tok:a")
    assert primary.calls == calls + 1


async def test_a_value_written_during_an_outage_is_pushed_to_redis_when_it_answers(
    store: FallbackStore, primary: FlakyStore, clock: Clock
) -> None:
    primary.down = True
    await store.set("tok:new", b"claims", expires_in=60)
    recover(primary, clock)
    assert await store.get("tok:new") == b"claims"
    assert await primary.get("tok:new") == b"claims"


async def test_a_delete_during_an_outage_is_not_undone_when_redis_answers(
    store: FallbackStore, primary: FlakyStore, clock: Clock
) -> None:
    await store.set("tok:gone", b"claims", expires_in=60)
    primary.down = True
    await store.delete("tok:gone")
    assert await store.get("tok:gone") is None
    recover(primary, clock)
    assert await store.get("tok:gone") is None
    assert await primary.get("tok:gone") is None


async def test_a_revocation_seen_in_redis_wins_over_the_mirror(
    store: FallbackStore, primary: FlakyStore
) -> None:
    await store.set("tok:revoked", b"claims", expires_in=60)
    await primary.delete("tok:revoked")
    assert await store.get("tok:revoked") is None
    primary.down = True
    assert await store.get("tok:revoked") is None


async def test_the_mirror_is_bounded_and_expires(
    store: FallbackStore, primary: FlakyStore, clock: Clock
) -> None:
    for key in ("a", "b", "c", "d"):
        await store.set(key, key.encode(), expires_in=30)
    await store.set("big", b"x" * 10_000, expires_in=30)
    primary.down = True
    assert [await store.get(key) for key in ("a", "b", "c", "d", "big")] == [None, b"b", b"c", b"d", None]
    clock.now += 31
    assert await store.get("d") is None


async def test_the_breaker_reports_unavailable_without_calling() -> None:
    clock = Clock()
    breaker = RedisBreaker(cooldown_seconds=5, clock=clock)
    calls: list[int] = []

    async def failing() -> None:
        calls.append(1)
        raise RedisConnectionError("down")

    for _ in range(3):
        with pytest.raises(RedisUnavailable):
            await breaker.call(failing)
    assert len(calls) == 1
    assert breaker.trips == 1


class StoredEvents:
    def __init__(self, events: Sequence[Message]) -> None:
        self.events = list(events)

    async def snapshot(self, lot_id: str, *, joined_mark: int | None = None) -> Message:
        return {"seq": len(self.events)}

    async def events_after(self, lot_id: str, after_seq: int, limit: int) -> Sequence[Message]:
        return [e for e in self.events if e["seq"] > after_seq][:limit]


async def test_after_a_resumed_feed_every_watcher_gets_what_it_missed_once() -> None:
    stored = StoredEvents([{"seq": n, "type": "bid", "amount": n * 100} for n in range(1, 7)])
    hub = LotHub("lot")
    received: dict[str, list[int]] = {"behind": [], "ahead": []}
    watchers = {}
    for name, last_seq in (("behind", 2), ("ahead", 4)):

        async def send(text: str, name: str = name) -> None:
            received[name].append(int(json.loads(text)["seq"]))

        watcher = Watcher("lot", stored, send)
        watcher.last_seq = last_seq
        watchers[name] = watcher
        hub.watchers.add(watcher)
    pumps = [asyncio.create_task(w.pump()) for w in watchers.values()]
    try:
        await catch_up(hub, stored)
        for _ in range(50):
            if received["behind"][-1:] == [6] and received["ahead"][-1:] == [6]:
                break
            await asyncio.sleep(0.01)
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    assert received == {"behind": [3, 4, 5, 6], "ahead": [5, 6]}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        missing_service("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def live_backend(own_redis: OwnRedis) -> AsyncIterator[ResilientPubSubBackend]:
    client = Redis(
        port=own_redis.port, socket_connect_timeout=0.5, socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    live = ResilientPubSubBackend(client, retry_delays=(0.05, 0.1, 0.2))
    try:
        yield live
    finally:
        await live.on_shutdown()
        await client.aclose()


async def _next(events: Any, timeout: float = 10) -> tuple[str, bytes]:
    channel, data = await asyncio.wait_for(events.__anext__(), timeout=timeout)
    return str(channel), bytes(data)


@pytest.mark.fault
async def test_the_live_backend_resubscribes_and_resends_what_it_could_not_publish(
    live_backend: ResilientPubSubBackend, own_redis: OwnRedis
) -> None:
    backend = live_backend
    events = backend.stream_events()
    try:
        await backend.subscribe(["auction:1"])
        await backend.publish(b"first", ["auction:1"])
        assert await _next(events) == ("auction:1", b"first")

        own_redis.stop()
        reading = asyncio.ensure_future(_next(events, timeout=30))
        await asyncio.sleep(0.3)
        await backend.publish(b"during", ["auction:1"])
        await backend.publish(b"also during", ["auction:1"])
        assert backend.backlog == 2
        assert not reading.done()

        own_redis.start()
        assert await reading == ("auction:1", FEED_RESUMED)
        assert await _next(events) == ("auction:1", b"during")
        assert await _next(events) == ("auction:1", b"also during")
        assert backend.backlog == 0
        await backend.publish(b"after", ["auction:1"])
        assert await _next(events) == ("auction:1", b"after")
        assert backend.resumptions == 1
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()
