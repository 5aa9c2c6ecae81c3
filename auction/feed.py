"""The live feed of a lot: one hub per lot and process, one watcher per connection.

Invariants:
- a watcher first gets a ``snapshot`` (the auction as it stands, with its ``seq``), then the
  stored events after the seq it asked for (``after_seq``), then live events; an event at or
  below the last seq sent is skipped, and a gap (an event whose seq is beyond the next one: a
  publish from another node overtook, or pub/sub lost messages) is filled from the stored log,
  so a watcher never has to guess; the hub puts events from several nodes back in seq order
  first (waiting at most :data:`REORDER_SECONDS` for an overtaken one), so that a publish that
  overtook another costs one short wait per process, not one database read per watcher;
- a live event is decoded, stamped with ``server_time`` and encoded ONCE per process (the hub),
  then the same text goes to every watcher of the lot;
- memory per watcher is bounded: when its queue is full the oldest price updates (``bid``,
  ``extended``) are dropped and, when the sender catches up, a fresh ``snapshot`` (labelled with
  the seq just before the next queued event) replaces them; lifecycle events (``opened``,
  ``closed``, ``defaulted``) are never dropped;
- every message carries ``server_time`` so the client counts down on the server's clock;
- a watcher that asks for batches (``batch=True``) gets JSON arrays of the same messages: the hub
  holds the lot's events for one tick (:func:`batch_tick_seconds`, longer for bigger audiences)
  and hands them over together, and the watcher sends everything it has ready as one frame. The
  price updates are coalesced into fewer frames, never dropped: every seq still arrives, in order;
- a batch watcher that is caught up (its pump parked, nothing queued, its next seq the first one
  held) gets the tick's frame straight from the hub: the array text is built once for all of them
  and the send runs at once (:func:`start_eagerly`), so a tick costs one socket write per watcher
  and no task wake-up; a watcher that is behind, or whose socket pushes back, takes the queued
  path and its pump sends in order as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from auction.chain import rfc3339

DROPPABLE = frozenset({"bid", "extended"})
Message = dict[str, Any]
MAX_BATCH = 500
"""At most this many messages in one batched frame."""
REORDER_SECONDS = 0.25
"""How long a hub waits for a seq that another node's publish overtook before it hands on what
came after it (and each watcher fills the gap from the stored log)."""

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Frame:
    """A live event ready to send: its seq and type, and its JSON text (with ``server_time``)."""

    seq: int
    type: str
    text: str


class EventSource(Protocol):
    async def snapshot(self, lot_id: str, *, joined_mark: int | None = None) -> Message:
        """The auction as it stands now, including its ``seq``. ``joined_mark`` is the caller's
        :func:`next_mark` taken when it joined the lot's hub: a source may then hand it a read that
        began after that mark (so nothing the hub did not deliver to it can be missing from the
        read), shared with other callers; without it the read is the caller's own."""
        ...

    async def events_after(self, lot_id: str, after_seq: int, limit: int) -> Sequence[Message]:
        """Stored events with seq > after_seq, in order, at most ``limit``."""
        ...


Clock = Callable[[], datetime]

_marks = itertools.count(1)


def next_mark() -> int:
    """A number larger than every one handed out before in this process: orders a watcher's join
    against the start of a snapshot read."""
    return next(_marks)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def start_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coro`` now, up to its first suspension: ``None`` when it finished without suspending
    (a socket write that fitted in the buffer), else a task that finishes it. An exception raised
    before the first suspension propagates to the caller. (Python 3.12's eager task start, for one
    coroutine, without the cost of a task when none is needed.)"""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(coro, waiting))


async def _finish(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Drive ``coro`` on from a suspension, as its task would: wait for what it waits for, resume."""
    while True:
        if waiting is None:  # a bare yield (asyncio.sleep(0))
            await asyncio.sleep(0)
        else:
            # The coroutine yielded this future to its (absent) task with the "blocking" flag up;
            # a task lowers it before waiting (asyncio refuses to await a future twice otherwise).
            # The coroutine reads the outcome (a result, an error, a cancellation) when resumed.
            waiting._asyncio_future_blocking = False
            with contextlib.suppress(BaseException):
                await waiting
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


def _seen(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def batch_tick_seconds(watchers: int) -> float:
    """How long a hub holds events for its batch watchers: 20 ms for a small audience, growing
    with the audience (1 000 watchers: 50 ms) up to 100 ms, so that frames per second per process
    stay bounded while the added delay stays well inside a human's reaction time."""
    return min(0.1, max(0.02, watchers / 20_000))


def encode_frame(event: Mapping[str, Any], clock: Clock = _utcnow) -> Frame:
    out = dict(event)
    out["server_time"] = rfc3339(clock())
    return Frame(int(out["seq"]), str(out["type"]), _encoder.encode(out).decode())


class Watcher:
    def __init__(
        self,
        lot_id: str,
        source: EventSource,
        send: Callable[[str], Coroutine[Any, Any, None]],
        *,
        max_pending: int = 512,
        clock: Clock = _utcnow,
        batch: bool = False,
    ) -> None:
        self.lot_id = lot_id
        self.batch = batch
        self._out: list[str] = []
        self._source = source
        self._send_text = send
        self._max_pending = max_pending
        self._clock = clock
        self._pending: deque[Frame] = deque()
        self._wakeup = asyncio.Event()
        self._resync = False
        self.last_seq = 0
        self.dropped = 0
        self._idle = False  # the pump is parked, waiting for work
        self._sending: asyncio.Task[None] | None = None  # a direct send that had to wait
        self._failed: BaseException | None = None  # a direct send that failed at once
        self.joined_mark: int | None = None  # next_mark() once it is in the lot's hub

    def mark_joined(self) -> None:
        """Called once the watcher is in the lot's hub: every event from now on reaches it."""
        self.joined_mark = next_mark()

    async def _emit(self, text: str) -> None:
        """Send one message, or (batch mode) add it to the frame being built."""
        if not self.batch:
            await self._send_text(text)
            return
        self._out.append(text)
        if len(self._out) >= MAX_BATCH:
            await self.flush()

    async def flush(self) -> None:
        """Send the messages built up in batch mode as one JSON array (nothing when there are none)."""
        if self._out:
            out, self._out = self._out, []
            await self._send_text("[" + ",".join(out) + "]")

    async def _send(self, event: Mapping[str, Any]) -> None:
        await self._emit(encode_frame(event, self._clock).text)

    async def _send_snapshot(self, snapshot: Mapping[str, Any], seq: int) -> None:
        out = {**snapshot, "type": "snapshot", "seq": seq, "server_time": rfc3339(self._clock())}
        await self._emit(_encoder.encode(out).decode())

    async def start(self, after_seq: int | None) -> None:
        """Send the snapshot, then the stored events after ``after_seq`` up to the snapshot."""
        snapshot = await self._source.snapshot(self.lot_id, joined_mark=self.joined_mark)
        head = int(snapshot.get("seq", 0))
        if after_seq is not None and 0 <= after_seq < head:
            await self._send_snapshot(snapshot, after_seq)
            self.last_seq = after_seq
            await self._fill(head)
        else:
            await self._send_snapshot(snapshot, head)
            self.last_seq = head
        await self.flush()

    async def _fill(self, up_to: int) -> None:
        while self.last_seq < up_to:
            events = await self._source.events_after(
                self.lot_id, self.last_seq, min(500, up_to - self.last_seq)
            )
            if not events:
                return
            for event in events:
                if int(event["seq"]) == self.last_seq + 1:
                    await self._send(event)
                    self.last_seq = int(event["seq"])

    def offer(self, frame: Frame) -> None:
        """Queue a live event (called by the hub; never blocks)."""
        self.offer_many((frame,))

    def offer_many(self, frames: Sequence[Frame]) -> None:
        """Queue live events in seq order (called by the hub; never blocks)."""
        self._pending.extend(frames)
        if len(self._pending) > self._max_pending:
            self._drop_price_updates()
        self._wakeup.set()

    def deliver_shared(self, text: str, first_seq: int, last_seq: int) -> bool:
        """Send a batch frame the hub built once (seqs ``first_seq``..``last_seq``) without waking
        the pump, if this watcher is caught up; ``False`` (nothing done) if it is not, and the hub
        queues the frames instead."""
        caught_up = (
            self.batch
            and self._idle
            and self._sending is None
            and self._failed is None
            and not self._pending
            and not self._out
            and not self._resync
            and self.last_seq == first_seq - 1
        )
        if not caught_up:
            return False
        self.last_seq = last_seq
        try:
            self._sending = start_eagerly(self._send_text(text))
        except Exception as exc:  # the socket is gone: the pump ends with it
            self._failed = exc
        if self._sending is not None:
            # seen even when the connection ends before the pump awaits it
            self._sending.add_done_callback(_seen)
        if self._sending is not None or self._failed is not None:
            self._wakeup.set()
        return True

    def _drop_price_updates(self) -> None:
        """Drop the oldest price updates until the queue is half full (lifecycle events stay)."""
        excess = len(self._pending) - self._max_pending // 2
        kept: deque[Frame] = deque()
        for frame in self._pending:
            if excess > 0 and frame.type in DROPPABLE:
                excess -= 1
                self.dropped += 1
                self._resync = True
            else:
                kept.append(frame)
        self._pending = kept

    async def pump(self) -> None:
        """Send queued events until cancelled: in order, without duplicates or gaps."""
        while True:
            if self._sending is not None:
                sending, self._sending = self._sending, None
                await sending
            if self._failed is not None:
                raise self._failed
            if not self._pending:
                await self.flush()
                if self._pending or self._sending is not None:
                    continue
                self._wakeup.clear()
                self._idle = True
                try:
                    await self._wakeup.wait()
                finally:
                    self._idle = False
                continue
            frame = self._pending.popleft()
            if frame.seq <= self.last_seq:
                continue
            if frame.seq > self.last_seq + 1:
                if self._resync:
                    # The snapshot stands in for the dropped price updates; it is labelled just
                    # before this frame so that this frame (perhaps the close) is still sent.
                    self._resync = False
                    snapshot = await self._source.snapshot(self.lot_id, joined_mark=self.joined_mark)
                    await self._send_snapshot(snapshot, frame.seq - 1)
                    self.last_seq = frame.seq - 1
                await self._fill(frame.seq - 1)
            if frame.seq == self.last_seq + 1:
                await self._emit(frame.text)
                self.last_seq = frame.seq


class WatcherSet:
    """A hub's watchers, kept apart by kind as they join and leave, so that handing on an event
    costs a loop over the single-message watchers only and a tick one over the batch watchers
    (counting them per publish was a loop over every watcher of the lot)."""

    __slots__ = ("batched", "singles")

    def __init__(self) -> None:
        self.singles: set[Watcher] = set()
        self.batched: set[Watcher] = set()

    def add(self, watcher: Watcher) -> None:
        (self.batched if watcher.batch else self.singles).add(watcher)

    def discard(self, watcher: Watcher) -> None:
        self.batched.discard(watcher)
        self.singles.discard(watcher)

    def update(self, watchers: Iterable[Watcher]) -> None:
        for watcher in watchers:
            self.add(watcher)

    def __iter__(self) -> Iterator[Watcher]:
        return itertools.chain(self.singles, self.batched)

    def __len__(self) -> int:
        return len(self.singles) + len(self.batched)

    def __contains__(self, watcher: object) -> bool:
        return watcher in self.singles or watcher in self.batched


class LotHub:
    """The process's one subscription for a lot: decode, stamp and encode once, fan out to watchers.

    Watchers that take single messages get each event as it arrives; batch watchers get the
    events held for one tick, together (one wake-up and one frame each per tick).
    """

    def __init__(
        self,
        lot_id: str,
        clock: Clock = _utcnow,
        tick: Callable[[int], float] = batch_tick_seconds,
        reorder_seconds: float = REORDER_SECONDS,
    ) -> None:
        self.lot_id = lot_id
        self._clock = clock
        self._tick = tick
        self._reorder_seconds = reorder_seconds
        self.watchers = WatcherSet()
        self._held: list[Frame] = []
        self._release_at: asyncio.TimerHandle | None = None
        self._head: int | None = None
        self._early: dict[int, Frame] = {}
        self._give_up_at: asyncio.TimerHandle | None = None

    def _in_order(self, frames: Sequence[Frame]) -> list[Frame]:
        """The frames that can go out now, in seq order. A frame beyond the next seq (another
        node's publish overtook the one before it) waits here, once for the whole process, until
        the missing ones arrive or :data:`REORDER_SECONDS` pass; older frames (a catch-up after a
        Redis outage, a duplicate) pass through and the watchers skip what they already have."""
        ready: list[Frame] = []
        for frame in sorted(frames, key=lambda f: f.seq):
            if self._head is None or frame.seq <= self._head:
                ready.append(frame)
                self._head = frame.seq if self._head is None else self._head
            elif frame.seq == self._head + 1:
                ready.append(frame)
                self._head = frame.seq
            else:
                self._early[frame.seq] = frame
            while self._head + 1 in self._early:
                self._head += 1
                ready.append(self._early.pop(self._head))
        if self._early and self._give_up_at is None:
            loop = asyncio.get_running_loop()
            self._give_up_at = loop.call_later(self._reorder_seconds, self._stop_waiting)
        elif not self._early and self._give_up_at is not None:
            self._give_up_at.cancel()
            self._give_up_at = None
        return ready

    def _stop_waiting(self) -> None:
        """The missing seqs did not come (a lost publish): hand on what waited; each watcher fills
        the gap from the stored log."""
        self._give_up_at = None
        early, self._early = sorted(self._early.values(), key=lambda f: f.seq), {}
        if early:
            self._head = max(self._head or 0, early[-1].seq)
            self._hand_on(early)

    def dispatch(self, raw: bytes) -> None:
        events: list[Message] = msgspec.json.decode(raw)
        self._hand_on(self._in_order([encode_frame(event, self._clock) for event in events]))

    def _hand_on(self, frames: Sequence[Frame]) -> None:
        for watcher in tuple(self.watchers.singles):
            watcher.offer_many(frames)
        batch_watchers = len(self.watchers.batched)
        if batch_watchers and frames:
            self._held.extend(frames)
            if self._release_at is None:
                loop = asyncio.get_running_loop()
                self._release_at = loop.call_later(self._tick(batch_watchers), self.release)

    def release(self) -> None:
        """Hand the held events to the batch watchers (at the end of the tick): one frame, built
        once, sent at once to each caught-up watcher; queued for the others."""
        self._release_at = None
        held, self._held = self._held, []
        if not held:
            return
        shareable = len(held) <= MAX_BATCH and all(
            later.seq == earlier.seq + 1 for earlier, later in itertools.pairwise(held)
        )
        shared: str | None = None
        for watcher in tuple(self.watchers.batched):
            if shareable:
                if shared is None:
                    shared = "[" + ",".join(frame.text for frame in held) + "]"
                if watcher.deliver_shared(shared, held[0].seq, held[-1].seq):
                    continue
            watcher.offer_many(held)

    def close(self) -> None:
        if self._release_at is not None:
            self._release_at.cancel()
            self._release_at = None
        if self._give_up_at is not None:
            self._give_up_at.cancel()
            self._give_up_at = None
        self._held = []
        self._early = {}
