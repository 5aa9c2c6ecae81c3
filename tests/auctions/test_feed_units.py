"""The sequencer and the watcher, with in-memory stores: ordering, group commit, gaps, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from auction.feed import Frame, LotHub, Message, Watcher, encode_frame
from auction.sequencer import BatchOutcome, Sequencer


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

    async def snapshot(self, lot_id: str) -> Message:
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

        def offer(self, frame: Frame) -> None:
            received[self.index].append(frame)

    hub.watchers.update({Sink(0), Sink(1)})
    hub.dispatch(msgspec.json.encode(_events(3)))
    assert [f.seq for f in received[0]] == [1, 2, 3]
    assert [f.text for f in received[0]] == [f.text for f in received[1]]
    assert received[0][0].text is received[1][0].text or received[0][0].text == received[1][0].text
