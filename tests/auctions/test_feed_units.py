"""The sequencer and the watcher, with in-memory stores: ordering, group commit, gaps, bounds."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.feed import (
    Frame,
    LotHub,
    Message,
    Watcher,
    WatcherSet,
    batch_tick_seconds,
    encode_frame,
    next_mark,
    start_eagerly,
)
from auction.sequencer import BatchOutcome, Sequencer
from marketplace.auctions.live import DbEventSource


class RecordingStore:
    """Commits take a while; records each batch so group commit can be observed."""

    def __init__(self, delay: float = 0.01, fail_batches: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.fail_batches = fail_batches
        self.head = 0

    async def apply_batch(self, lot_id: str, commands: Sequence[int]) -> BatchOutcome[int]:
        await asyncio.sleep(self.delay)
        if self.fail_batches:
            self.fail_batches -= 1
            raise ConnectionError("database went away")
        self.batches.append(list(commands))
        results: list[int | BaseException] = []
        events = []
        for command in commands:
            if command < 0:
                results.append(ValueError(f"rejected {command}"))
                continue
            self.head += 1
            results.append(self.head)
            events.append({"seq": self.head, "type": "bid", "amount": command})
        return BatchOutcome(results=results, events=events)


async def test_commands_waiting_for_one_lot_share_a_commit_and_keep_arrival_order() -> None:
    store = RecordingStore()
    published: list[Any] = []

    async def publish(lot: str, events: Sequence[Any]) -> None:
        published.extend(events)

    sequencer: Sequencer[int, int] = Sequencer(store, publish)
    results = await asyncio.gather(*(sequencer.submit("lot", n) for n in range(1, 41)))
    assert results == list(range(1, 41))
    assert [c for batch in store.batches for c in batch] == list(range(1, 41))
    assert len(store.batches) < 40
    assert [e["seq"] for e in published] == list(range(1, 41))


async def test_a_rejected_command_fails_alone_and_a_failed_commit_fails_its_batch() -> None:
    store = RecordingStore(fail_batches=1)

    async def publish(lot: str, events: Sequence[Any]) -> None:
        return None

    sequencer: Sequencer[int, int] = Sequencer(store, publish)
    with pytest.raises(ConnectionError):
        await sequencer.submit("lot", 1)
    outcomes = await asyncio.gather(
        sequencer.submit("lot", 5), sequencer.submit("lot", -1), return_exceptions=True
    )
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], ValueError)


async def test_a_failing_publisher_does_not_undo_the_answer() -> None:
    async def publish(lot: str, events: Sequence[Any]) -> None:
        raise ConnectionError("redis is down")

    sequencer: Sequencer[int, int] = Sequencer(RecordingStore(), publish)
    assert await sequencer.submit("lot", 7) == 1


class LogSource:
    def __init__(self, events: list[Message]) -> None:
        self.events = events
        self.fills = 0

    async def snapshot(self, lot_id: str, *, joined_mark: int | None = None) -> Message:
        return {"id": lot_id, "seq": len(self.events), "status": "open"}

    async def events_after(self, lot_id: str, after_seq: int, limit: int) -> Sequence[Message]:
        self.fills += 1
        return [e for e in self.events if e["seq"] > after_seq][:limit]


def _events(n: int) -> list[Message]:
    return [{"seq": i, "type": "bid", "amount": 100 * i} for i in range(1, n + 1)]


async def _run(watcher: Watcher, until_seq: int) -> None:
    pump = asyncio.create_task(watcher.pump())
    for _ in range(200):
        if watcher.last_seq >= until_seq:
            break
        await asyncio.sleep(0.005)
    pump.cancel()
    await asyncio.gather(pump, return_exceptions=True)


async def test_reconnect_after_seq_replays_the_log_then_live_events_without_gap_or_duplicate() -> None:
    log = _events(10)
    source = LogSource(log[:6])
    sent: list[dict[str, Any]] = []

    async def send(text: str) -> None:
        sent.append(msgspec.json.decode(text))

    watcher = Watcher("lot", source, send)
    await watcher.start(after_seq=3)
    assert sent[0]["type"] == "snapshot"
    assert [m["seq"] for m in sent[1:]] == [4, 5, 6]
    source.events = log
    for event in (log[5], log[8], log[6], log[9]):  # a duplicate and an overtaking publish
        watcher.offer(encode_frame(event))
    await _run(watcher, 10)
    assert [m["seq"] for m in sent[1:]] == list(range(4, 11))
    assert all("server_time" in m for m in sent)


async def test_a_slow_watcher_drops_price_updates_but_never_the_close() -> None:
    log = [*_events(50), {"seq": 51, "type": "closed", "outcome": "sold", "price": 5000}]
    source = LogSource(log)
    sent: list[dict[str, Any]] = []

    async def send(text: str) -> None:
        sent.append(msgspec.json.decode(text))

    watcher = Watcher("lot", source, send, max_pending=8)
    watcher.last_seq = 0
    for event in log:
        watcher.offer(encode_frame(event))
    assert len(watcher._pending) <= 8 + 1
    await _run(watcher, 51)
    types = [m["type"] for m in sent]
    assert types[-1] == "closed"
    assert "snapshot" in types
    assert watcher.dropped > 0


async def test_the_hub_encodes_once_for_every_watcher() -> None:
    hub = LotHub("lot")
    received: list[list[Frame]] = [[], []]

    class Sink(Watcher):
        def __init__(self, index: int) -> None:
            self.index = index
            self.batch = False

        def offer_many(self, frames: Sequence[Frame]) -> None:
            received[self.index].extend(frames)

    hub.watchers.update({Sink(0), Sink(1)})
    hub.dispatch(msgspec.json.encode(_events(3)))
    assert [f.seq for f in received[0]] == [1, 2, 3]
    assert all(a.text is b.text for a, b in zip(received[0], received[1], strict=True))


def _arrays(sent: list[Any]) -> list[list[dict[str, Any]]]:
    assert all(isinstance(frame, list) for frame in sent), "a batch watcher gets JSON arrays only"
    return sent


async def test_a_batch_watcher_gets_the_snapshot_and_the_replay_as_one_array() -> None:
    source = LogSource(_events(6))
    sent: list[Any] = []

    async def send(text: str) -> None:
        sent.append(msgspec.json.decode(text))

    watcher = Watcher("lot", source, send, batch=True)
    await watcher.start(after_seq=3)
    (frame,) = _arrays(sent)
    assert [m["type"] for m in frame] == ["snapshot", "bid", "bid", "bid"]
    assert [m["seq"] for m in frame] == [3, 4, 5, 6]


async def test_the_hub_holds_events_for_one_tick_for_batch_watchers_only() -> None:
    log = [*_events(9), {"seq": 10, "type": "closed", "outcome": "sold", "price": 900}]
    source = LogSource([])
    single: list[Any] = []
    batched: list[Any] = []

    async def send_single(text: str) -> None:
        single.append(msgspec.json.decode(text))

    async def send_batched(text: str) -> None:
        batched.append(msgspec.json.decode(text))

    hub = LotHub("lot", tick=lambda watchers: 0.05)
    one = Watcher("lot", source, send_single)
    many = Watcher("lot", source, send_batched, batch=True)
    hub.watchers.update({one, many})
    pumps = [asyncio.create_task(one.pump()), asyncio.create_task(many.pump())]
    try:
        for event in log:  # ten publishes, each of one event, within one tick
            hub.dispatch(msgspec.json.encode([event]))
        await asyncio.sleep(0.01)
        assert [m["seq"] for m in single] == list(range(1, 11)), "single watchers are not held"
        assert batched == [], "batch watchers wait for the tick"
        await asyncio.sleep(0.1)
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    (frame,) = _arrays(batched)
    assert [m["seq"] for m in frame] == list(range(1, 11))
    assert frame[-1]["type"] == "closed"
    assert [m["server_time"] for m in frame] == [m["server_time"] for m in single]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=12),
    release_after=st.lists(st.booleans(), min_size=13, max_size=13),
    duplicate=st.booleans(),
)
async def test_a_batch_watcher_sees_every_seq_once_in_order_however_events_arrive(
    cuts: list[int], release_after: list[bool], duplicate: bool
) -> None:
    log = [*_events(40), {"seq": 41, "type": "closed", "outcome": "sold", "price": 4000}]
    bounds = [0, *sorted(set(cuts)), len(log)]
    source = LogSource(log)
    sent: list[Any] = []

    async def send(text: str) -> None:
        sent.append(msgspec.json.decode(text))

    hub = LotHub("lot", tick=lambda watchers: 3600.0)  # released by hand below
    watcher = Watcher("lot", source, send, batch=True)
    watcher.last_seq = 0
    hub.watchers.add(watcher)
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        hub.dispatch(msgspec.json.encode(log[start:end]))
        if duplicate and start > 0:
            hub.dispatch(msgspec.json.encode(log[start - 1 : start]))
        if release_after[index % len(release_after)]:
            hub.release()
    hub.release()
    hub.close()
    await _run(watcher, 41)
    seqs = [m["seq"] for frame in _arrays(sent) for m in frame]
    assert seqs == list(range(1, 42))
    assert sent[-1][-1]["type"] == "closed"


def test_the_batch_tick_grows_with_the_audience_within_bounds() -> None:
    assert batch_tick_seconds(1) == 0.02
    assert batch_tick_seconds(1000) == 0.05
    assert batch_tick_seconds(2500) == 0.1
    assert batch_tick_seconds(50_000) == 0.1


async def _watch_hub(
    hub: LotHub, source: LogSource, publishes: list[list[Message]], wait: float
) -> list[int]:
    seen: list[int] = []

    async def send(text: str) -> None:
        seen.append(int(msgspec.json.decode(text)["seq"]))

    watcher = Watcher("lot", source, send)
    hub.watchers.add(watcher)
    pump = asyncio.create_task(watcher.pump())
    try:
        for events in publishes:
            hub.dispatch(msgspec.json.encode(events))
            await asyncio.sleep(0.001)
        await asyncio.sleep(wait)
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        hub.close()
    return seen


async def test_the_hub_puts_an_overtaking_publish_back_in_order_without_reading_the_log() -> None:
    log = _events(9)
    source = LogSource(log)
    # node B's batch (4–6) reaches this process before node A's (2–3), then 7–9 in two pieces
    publishes = [[log[0]], [log[3], log[4], log[5]], [log[1], log[2]], [log[8]], [log[6], log[7]]]
    hub = LotHub("lot", reorder_seconds=5.0)
    seen = await _watch_hub(hub, source, publishes, wait=0.05)
    assert seen == list(range(1, 10))
    assert source.fills == 0, "the watcher never saw a gap, so it never read the stored log"


async def test_a_seq_that_never_comes_is_waited_for_briefly_then_filled_from_the_log() -> None:
    log = _events(6)
    source = LogSource(log)
    publishes = [[log[0], log[1]], [log[3], log[4]], [log[5]]]  # seq 3's publish was lost
    hub = LotHub("lot", reorder_seconds=0.05)
    seen = await _watch_hub(hub, source, publishes, wait=0.2)
    assert seen == list(range(1, 7))
    assert source.fills == 1


async def test_older_frames_pass_the_hub_and_watchers_skip_what_they_have() -> None:
    log = _events(5)
    source = LogSource(log)
    publishes = [log[:3], log[:5]]  # a catch-up after an outage re-sends 1–3
    hub = LotHub("lot", reorder_seconds=5.0)
    seen = await _watch_hub(hub, source, publishes, wait=0.05)
    assert seen == list(range(1, 6))


async def test_start_eagerly_runs_to_the_first_suspension_then_hands_on_to_a_task() -> None:
    steps: list[str] = []

    async def quick() -> None:
        steps.append("quick")

    assert start_eagerly(quick()) is None
    assert steps == ["quick"], "a coroutine that never suspends finishes inside the call"

    gate = asyncio.Event()

    async def waits() -> None:
        steps.append("before")
        await gate.wait()
        await asyncio.sleep(0)
        steps.append("after")

    task = start_eagerly(waits())
    assert task is not None
    assert steps[-1] == "before"
    gate.set()
    await task
    assert steps[-1] == "after"

    async def fails_at_once() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        start_eagerly(fails_at_once())

    async def fails_later() -> None:
        await asyncio.sleep(0.001)
        raise ConnectionResetError("gone later")

    later = start_eagerly(fails_later())
    assert later is not None
    with pytest.raises(ConnectionResetError):
        await later

    cleaned: list[bool] = []

    async def cancelled_while_waiting() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(True)

    stuck = start_eagerly(cancelled_while_waiting())
    assert stuck is not None
    await asyncio.sleep(0)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert cleaned == [True], "a cancellation reaches the coroutine"


async def _parked(watcher: Watcher) -> asyncio.Task[None]:
    pump = asyncio.create_task(watcher.pump())
    await asyncio.sleep(0)  # the pump flushes nothing and parks
    return pump


async def test_a_caught_up_batch_watcher_gets_the_tick_straight_from_the_hub() -> None:
    log = _events(5)
    sent: list[Any] = []
    wakeups = 0

    async def send(text: str) -> None:
        sent.append(msgspec.json.decode(text))

    hub = LotHub("lot", tick=lambda watchers: 3600.0)
    watchers = [Watcher("lot", LogSource(log), send, batch=True) for _ in range(3)]
    pumps = []
    for watcher in watchers:
        hub.watchers.add(watcher)
        pumps.append(await _parked(watcher))
    try:
        hub.dispatch(msgspec.json.encode(log[:3]))
        hub.release()
        # the frames are on their way before any task has run: the hub sent them itself
        assert [[m["seq"] for m in frame] for frame in sent] == [[1, 2, 3]] * 3
        for watcher in watchers:
            wakeups += watcher._wakeup.is_set()
            assert watcher.last_seq == 3
        assert wakeups == 0, "no pump was woken"
        hub.dispatch(msgspec.json.encode(log[3:]))
        hub.release()
        assert [[m["seq"] for m in frame] for frame in sent[3:]] == [[4, 5]] * 3
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


async def test_a_watcher_whose_socket_pushes_back_gets_the_next_ticks_queued_in_order() -> None:
    log = [*_events(8), {"seq": 9, "type": "closed", "outcome": "sold", "price": 800}]
    sent: list[Any] = []
    socket_free = asyncio.Event()

    async def send(text: str) -> None:
        await socket_free.wait()  # the first write waits for the client to read
        sent.append(msgspec.json.decode(text))

    hub = LotHub("lot", tick=lambda watchers: 3600.0)
    watcher = Watcher("lot", LogSource(log), send, batch=True)
    hub.watchers.add(watcher)
    pump = await _parked(watcher)
    try:
        for start, end in ((0, 2), (2, 5), (5, 9)):
            hub.dispatch(msgspec.json.encode(log[start:end]))
            hub.release()
            await asyncio.sleep(0)
        assert sent == []
        socket_free.set()
        for _ in range(100):
            if sent and sent[-1][-1]["type"] == "closed":
                break
            await asyncio.sleep(0.005)
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
    seqs = [m["seq"] for frame in sent for m in frame]
    assert seqs == list(range(1, 10))
    assert [m["seq"] for m in sent[0]] == [1, 2], "the blocked direct frame goes first"


async def test_a_direct_send_to_a_closed_socket_ends_the_pump() -> None:
    async def send(text: str) -> None:
        raise ConnectionResetError("client gone")

    hub = LotHub("lot", tick=lambda watchers: 3600.0)
    watcher = Watcher("lot", LogSource([]), send, batch=True)
    hub.watchers.add(watcher)
    pump = await _parked(watcher)
    hub.dispatch(msgspec.json.encode(_events(1)))
    hub.release()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(pump, 1.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=12),
    pauses=st.lists(st.sampled_from(["none", "yield", "sleep"]), min_size=5, max_size=5),
    slow_writes=st.lists(st.booleans(), min_size=7, max_size=7),
    watchers=st.integers(min_value=1, max_value=4),
)
async def test_batch_watchers_see_every_seq_once_in_order_while_their_pumps_run(
    cuts: list[int], pauses: list[str], slow_writes: list[bool], watchers: int
) -> None:
    log = [*_events(40), {"seq": 41, "type": "closed", "outcome": "sold", "price": 4000}]
    bounds = [0, *sorted(set(cuts)), len(log)]
    source = LogSource(log)
    sent: dict[int, list[Any]] = {n: [] for n in range(watchers)}
    writes = itertools.count()

    def sender(n: int) -> Any:
        async def send(text: str) -> None:
            if slow_writes[next(writes) % len(slow_writes)]:
                await asyncio.sleep(0.001)  # the socket pushed back
            sent[n].append(msgspec.json.decode(text))

        return send

    hub = LotHub("lot", tick=lambda watchers: 3600.0)
    pumps = []
    for n in range(watchers):
        watcher = Watcher("lot", source, sender(n), batch=True)
        hub.watchers.add(watcher)
        pumps.append(await _parked(watcher))
    try:
        for index, (start, end) in enumerate(itertools.pairwise(bounds)):
            hub.dispatch(msgspec.json.encode(log[start:end]))
            hub.release()
            pause = pauses[index % len(pauses)]
            if pause == "yield":
                await asyncio.sleep(0)
            elif pause == "sleep":
                await asyncio.sleep(0.002)
        for _ in range(400):
            if all(frames and frames[-1][-1]["type"] == "closed" for frames in sent.values()):
                break
            await asyncio.sleep(0.005)
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    for frames in sent.values():
        assert [m["seq"] for frame in frames for m in frame] == list(range(1, 42))


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class GatedSnapshots(DbEventSource):
    """DbEventSource with its database read replaced by one the test releases by hand."""

    def __init__(self) -> None:
        super().__init__(ctx=None)  # type: ignore[arg-type]
        self.gates: list[asyncio.Event] = []
        self.state = 0

    async def _read_snapshot(self, lot_id: str) -> Message:
        self.reads += 1
        seen_at_start = self.state
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        return {"id": lot_id, "seq": seen_at_start}


async def test_a_snapshot_read_is_shared_only_by_watchers_that_joined_before_it_began() -> None:
    source = GatedSnapshots()
    early = [next_mark() for _ in range(3)]
    first = [asyncio.create_task(source.snapshot("lot", joined_mark=m)) for m in early]
    await _settle()
    assert source.reads == 1  # three watchers that joined before: one read
    source.state = 1  # an event published while the read is under way …
    late = next_mark()  # … and a watcher that joined after the read began
    second = asyncio.create_task(source.snapshot("lot", joined_mark=late))
    own = asyncio.create_task(source.snapshot("lot"))  # no mark: a read of its own
    await _settle()
    assert source.reads == 3
    for gate in source.gates:
        gate.set()
    assert [(await t)["seq"] for t in first] == [0, 0, 0]
    assert (await second)["seq"] == 1  # began after it joined: nothing it missed is absent
    assert (await own)["seq"] == 1
    assert source._reading == {}


async def test_a_shared_snapshot_read_survives_a_caller_that_goes_away() -> None:
    source = GatedSnapshots()
    mark = next_mark()
    leaving = asyncio.create_task(source.snapshot("lot", joined_mark=mark))
    staying = asyncio.create_task(source.snapshot("lot", joined_mark=mark))
    await _settle()
    leaving.cancel()
    await _settle()
    source.gates[0].set()
    assert (await staying)["seq"] == 0
    assert source.reads == 1


async def test_a_watcher_is_marked_when_it_joins_and_asks_with_its_mark() -> None:
    asked: list[int | None] = []

    class Recording(LogSource):
        async def snapshot(self, lot_id: str, *, joined_mark: int | None = None) -> Message:
            asked.append(joined_mark)
            return await super().snapshot(lot_id)

    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    watcher = Watcher("lot", Recording([]), send)
    before = next_mark()
    watcher.mark_joined()
    await watcher.start(None)
    assert watcher.joined_mark is not None
    assert watcher.joined_mark > before
    assert asked == [watcher.joined_mark]


async def test_a_hubs_watcher_set_keeps_the_kinds_apart_as_they_join_and_leave() -> None:
    async def send(text: str) -> None:
        return None

    source = LogSource([])
    single, batch, other = (Watcher("lot", source, send, batch=b) for b in (False, True, True))
    watchers = WatcherSet()
    watchers.update([single, batch, other, batch])
    assert len(watchers) == 3
    assert watchers.singles == {single}
    assert watchers.batched == {batch, other}
    assert set(watchers) == {single, batch, other}
    watchers.discard(batch)
    watchers.discard(batch)  # leaving twice is harmless
    assert batch not in watchers
    assert single in watchers
    assert set(watchers) == {single, other}
    watchers.discard(single)
    watchers.discard(other)
    assert not watchers
