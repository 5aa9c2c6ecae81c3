"""W websocket watchers of one lot, in a process of their own, measuring bid-to-watcher latency.

Invariants:
- watchers connect with ``after_seq=0`` (and ``batch=true`` unless told otherwise: a frame is then a
  JSON array of messages, each checked and timed as if it came alone) to ``/ws/auctions/{id}``
  on the app processes in turn (watcher ``i`` on process ``i mod P``), at most
  :data:`CONNECT_CONCURRENCY` handshakes at once, with the lean client of :mod:`bench.rawws`;
- latency of a ``bid`` event = its receipt time at the watcher − the send time of its HTTP bid at
  the load generator, both on this machine's monotonic clock (the load generator publishes send
  times in shared memory by ladder index, which the bid's amount gives back);
- a watcher's feed is checked message by message: after the first ``snapshot``, every event must
  carry ``last_seq + 1``; a later ``snapshot`` (the server dropped price updates for a slow
  client) is counted as a resync with the seqs it superseded, apart from real gaps; a seq at or
  below the last is a duplicate;
- the app sends the same frame text to every caught-up watcher of a tick, so a frame's bytes are
  decoded once per process and summarised (:class:`FrameRun`); each watcher folds the summary
  (:meth:`FeedCheck.see_frame`: the same result as folding its messages one by one, which it does
  whenever the frame is not one unbroken run after the watcher's last seq). A receipt is recorded
  as (frame, time) and turned into per-bid latencies after the watch, so that the watcher process,
  which shares the two cores with the app, spends ~1 µs per frame instead of ~1 µs per message;
- a watcher stops when it sees the close (a ``closed`` event, or a snapshot of a closed lot) or at
  the process deadline, whichever is first; the process always reports and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import time
from array import array
from collections.abc import Callable, MutableSequence, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from bench.rawws import FeedProtocol, open_feed
from bench.stats import Histogram

CONNECT_CONCURRENCY = 64
LATENCY_BUCKET_US = 100
LATENCY_BUCKETS = 600_000  # 100 µs buckets up to 60 s; the last bucket takes the rest
FINAL_STATUSES = frozenset({"sold", "failed", "defaulted"})


@dataclass(frozen=True)
class WatchPlan:
    ws_urls: tuple[str, ...]
    auction_id: str
    watchers: int
    starting_price: int
    increment: int
    deadline_seconds: float
    batch: bool = True


class FeedMessage(msgspec.Struct):
    """The fields of a live message the check reads; msgspec skips the rest while decoding (the
    watcher process decodes every message of every watcher, ~1 M/s with 5 000 watchers)."""

    type: str
    seq: int = 0
    amount: int | None = None
    status: str | None = None


FEED_FRAME = list[FeedMessage] | FeedMessage
FRAME_CACHE = 256
"""Distinct frames a watcher process keeps decoded (the recent ticks' shared frames)."""


@dataclass(frozen=True)
class FrameRun:
    """One received frame, decoded and summarised once for every watcher that receives it."""

    number: int
    messages: tuple[FeedMessage, ...]
    first_seq: int
    last_seq: int
    bids: int
    closed: bool
    unbroken: bool
    """No snapshot, every seq positive and one more than the one before: foldable in one step."""
    bid_amounts: tuple[int, ...]


def frame_run(number: int, decoded: FeedMessage | list[FeedMessage]) -> FrameRun:
    messages = tuple(decoded) if isinstance(decoded, list) else (decoded,)
    seqs = [message.seq for message in messages]
    unbroken = (
        bool(messages)
        and all(message.type != "snapshot" and message.seq > 0 for message in messages)
        and all(later == earlier + 1 for earlier, later in itertools.pairwise(seqs))
    )
    return FrameRun(
        number=number,
        messages=messages,
        first_seq=seqs[0] if seqs else 0,
        last_seq=seqs[-1] if seqs else 0,
        bids=sum(1 for message in messages if message.type == "bid"),
        closed=any(message.type == "closed" for message in messages),
        unbroken=unbroken,
        bid_amounts=tuple(
            message.amount for message in messages if message.type == "bid" and message.amount is not None
        ),
    )


@dataclass
class FeedCheck:
    """What one watcher saw, folded message by message (see the module's invariants)."""

    last_seq: int = -1
    messages: int = 0
    bids: int = 0
    gaps: int = 0
    missing: int = 0
    duplicates: int = 0
    resyncs: int = 0
    superseded: int = 0
    closed: bool = False

    def see_frame(self, run: FrameRun) -> None:
        """Fold a whole frame: one step when it continues this feed without a break, else message
        by message (the result is the same either way)."""
        if run.unbroken and self.last_seq >= 0 and run.first_seq == self.last_seq + 1:
            self.messages += len(run.messages)
            self.bids += run.bids
            self.last_seq = run.last_seq
            self.closed = self.closed or run.closed
            return
        for message in run.messages:
            self.see(message)

    def see(self, message: FeedMessage) -> None:
        self.messages += 1
        kind = message.type
        seq = message.seq
        if kind == "bid" and seq == self.last_seq + 1 and seq > 0:  # the common case, first
            self.last_seq = seq
            self.bids += 1
            return
        if kind == "snapshot":
            if self.last_seq >= 0:
                self.resyncs += 1
                self.superseded += max(0, seq - self.last_seq)
            self.last_seq = max(self.last_seq, seq)
            if message.status in FINAL_STATUSES:
                self.closed = True
            return
        if self.last_seq < 0:
            self.gaps += 1
            self.last_seq = seq
        elif seq <= self.last_seq:
            self.duplicates += 1
            return
        elif seq > self.last_seq + 1:
            self.gaps += 1
            self.missing += seq - self.last_seq - 1
        self.last_seq = seq
        if kind == "bid":
            self.bids += 1
        elif kind == "closed":
            self.closed = True


@dataclass
class WatchReport:
    planned: int
    connected: int = 0
    connect_failures: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    bid_receipts: int = 0
    unmatched_bids: int = 0
    closed_seen: int = 0
    clean_final_seqs: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    missing: int = 0
    duplicates: int = 0
    resyncs: int = 0
    resynced_watchers: int = 0
    superseded: int = 0
    connect_seconds: float = 0.0
    latency_sparse: dict[str, int] = field(default_factory=dict)
    latency_largest: int = 0

    def fold(self, check: FeedCheck) -> None:
        self.messages += check.messages
        self.gaps += check.gaps
        self.missing += check.missing
        self.duplicates += check.duplicates
        self.resyncs += check.resyncs
        self.superseded += check.superseded
        self.resynced_watchers += 1 if check.resyncs else 0
        self.closed_seen += 1 if check.closed else 0
        if check.closed and not check.gaps and not check.duplicates:
            key = str(check.last_seq)
            self.clean_final_seqs[key] = self.clean_final_seqs.get(key, 0) + 1

    def histogram(self) -> Histogram:
        return Histogram.from_sparse(
            LATENCY_BUCKET_US, LATENCY_BUCKETS, self.latency_sparse, self.latency_largest
        )

    def complete(self, final_seq: int) -> int:
        """Watchers that saw the close at the lot's final seq with no gap and no duplicate."""
        return self.clean_final_seqs.get(str(final_seq), 0)


def raise_open_files_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


async def _watch_all(plan: WatchPlan, send_times: Sequence[int], ready: Any) -> WatchReport:
    report = WatchReport(planned=plan.watchers)
    histogram = Histogram(LATENCY_BUCKET_US, LATENCY_BUCKETS)
    started = time.monotonic()
    deadline = started + plan.deadline_seconds
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    decoder = msgspec.json.Decoder(FEED_FRAME)
    starting_price, increment, ladder = plan.starting_price, plan.increment, len(send_times)

    frames: dict[bytes, FrameRun] = {}
    runs: list[FrameRun] = []
    receipts: list[array[int]] = []

    def on_message(check: FeedCheck) -> Callable[[bytes, int], bool]:
        see_frame = check.see_frame

        def handle(raw: bytes, received: int) -> bool:
            run = frames.get(raw)
            if run is None:
                run = frame_run(len(runs), decoder.decode(raw))
                runs.append(run)
                receipts.append(array("q"))
                if len(frames) >= FRAME_CACHE:
                    del frames[next(iter(frames))]
                frames[raw] = run
            see_frame(run)
            if run.bid_amounts:
                receipts[run.number].append(received)
            return check.closed

        return handle

    def latencies() -> None:
        """Each bid receipt's latency: the frame's receipt time − the bid's send time."""
        for run, times in zip(runs, receipts, strict=True):
            if not times:
                continue
            sent: list[int] = []
            for amount in run.bid_amounts:
                index = (amount - starting_price) // increment
                at = send_times[index] if 0 <= index < ladder else 0
                if at > 0:
                    sent.append(at)
            report.unmatched_bids += (len(run.bid_amounts) - len(sent)) * len(times)
            report.bid_receipts += len(sent) * len(times)
            histogram.add_differences(times, sent)

    async def connect(index: int) -> tuple[FeedProtocol, FeedCheck] | None:
        query = "after_seq=0&batch=true" if plan.batch else "after_seq=0"
        address = plan.ws_urls[index % len(plan.ws_urls)].removeprefix("ws://")
        host, _, port = address.partition(":")
        check = FeedCheck()
        async with gate:
            try:
                async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                    feed = await open_feed(
                        host, int(port), f"/ws/auctions/{plan.auction_id}?{query}", on_message(check)
                    )
                    return feed, check
            except Exception as exc:
                name = type(exc).__name__
                report.connect_failures[name] = report.connect_failures.get(name, 0) + 1
                return None

    async def watch(feed: FeedProtocol, check: FeedCheck) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(feed.done), max(0.0, deadline - time.monotonic()))
        except Exception as exc:
            name = type(exc).__name__
            report.errors[name] = report.errors.get(name, 0) + 1
        finally:
            report.fold(check)
            feed.close()

    results = await asyncio.gather(*(connect(index) for index in range(plan.watchers)))
    feeds = [found for found in results if found is not None]
    report.connected = len(feeds)
    report.connect_seconds = time.monotonic() - started
    ready.set()
    await asyncio.gather(*(watch(feed, check) for feed, check in feeds))
    latencies()
    report.latency_sparse = histogram.to_sparse()
    report.latency_largest = histogram.largest
    return report


def run_watchers(plan: WatchPlan, send_times: MutableSequence[int], ready: Any, results: Any) -> None:
    """Entry point of the watcher process: watch, then put the report (as a dict) on ``results``."""
    raise_open_files_limit(plan.watchers + 1024)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    try:
        report = runner(_watch_all(plan, send_times, ready))
    except BaseException as exc:
        ready.set()
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        raise
    results.put(asdict(report))


def report_from(data: dict[str, Any]) -> WatchReport:
    if "error" in data:
        raise RuntimeError(f"the watcher process failed: {data['error']}")
    return WatchReport(**data)
