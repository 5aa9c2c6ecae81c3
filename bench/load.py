"""The bid load: N concurrent bidders hammering lots over HTTP, or a paced stream of bids.

Invariants:
- every bid of a lot takes the next rung of one ascending ladder (``Lot.amount(index)``), so bids
  sent in order are accepted in order and a rejection (``bid_too_low``) means another bid overtook
  it on the way to the lot's lock; every answer — 201 or a coded rejection — was decided under the
  lock and is counted as decided; transport errors and 5xx are counted apart;
- a bidder never bids twice in a row: each concurrent client alternates between two accounts of
  its own, so ``already_leading`` only happens when the other account's bid was rejected;
- the send time of each bid is taken on the monotonic clock right before its bytes are written,
  and published (``send_times``) by ladder index for the watchers, on the same machine clock;
- every loop stops at its deadline or its bid budget, whichever comes first.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, MutableSequence, Sequence
from dataclasses import dataclass, field

import msgspec

from bench.lots import Bidder, Lot
from bench.rawhttp import Connection, Response
from bench.stats import Spread, spread

REJECTION_CODES = frozenset(
    {"bid_too_low", "already_leading", "bad_increment", "auction_closed", "auction_not_open"}
)


@dataclass(frozen=True)
class Target:
    """One concurrent client: which process it talks to, which lot, and its two accounts."""

    port: int
    lot: Lot
    accounts: tuple[Bidder, Bidder]


@dataclass
class Tally:
    sent: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    latencies_us: list[int] = field(default_factory=list)
    acknowledged: dict[str, dict[int, int]] = field(default_factory=dict)
    skipped: int = 0

    def record(
        self, lot: Lot, amount: int, response: Response | None, error: str | None, latency_us: int
    ) -> None:
        self.latencies_us.append(latency_us)
        if response is None:
            self.failed[error or "error"] = self.failed.get(error or "error", 0) + 1
            return
        if response.status == 201:
            body = msgspec.json.decode(response.body)
            self.accepted += 1
            self.acknowledged.setdefault(lot.auction_id, {})[int(body["seq"])] = int(body["amount"])
            return
        code = _code(response)
        if response.status in (409, 422) and code in REJECTION_CODES:
            self.rejected[code] = self.rejected.get(code, 0) + 1
        else:
            key = f"{response.status} {code}"
            self.failed[key] = self.failed.get(key, 0) + 1

    @property
    def decided(self) -> int:
        return self.accepted + sum(self.rejected.values())


def _code(response: Response) -> str:
    try:
        return str(msgspec.json.decode(response.body).get("code", "?"))
    except (msgspec.DecodeError, AttributeError):
        return "?"


@dataclass(frozen=True)
class LoadResult:
    seconds: float
    sent: int
    accepted: int
    decided: int
    rejected: dict[str, int]
    failed: dict[str, int]
    skipped: int
    latency_us: Spread | None

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0

    @property
    def decided_per_s(self) -> float:
        return self.decided / self.seconds if self.seconds > 0 else 0.0


def summarise(tally: Tally, seconds: float) -> LoadResult:
    return LoadResult(
        seconds=seconds,
        sent=tally.sent,
        accepted=tally.accepted,
        decided=tally.decided,
        rejected=dict(tally.rejected),
        failed=dict(tally.failed),
        skipped=tally.skipped,
        latency_us=spread(tally.latencies_us),
    )


class Ladder:
    """The next rung per lot, shared by every client of the load generator."""

    def __init__(self, lots: Sequence[Lot]) -> None:
        self._next = {lot.auction_id: itertools.count() for lot in lots}

    def take(self, lot: Lot) -> int:
        return next(self._next[lot.auction_id])


SendClock = Callable[[], int]


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


async def _bid(
    connection: Connection,
    target: Target,
    bidder: Bidder,
    index: int,
    tally: Tally,
    send_times: MutableSequence[int] | None,
) -> None:
    amount = target.lot.amount(index)
    body = msgspec.json.encode({"amount": amount})
    headers = {**bidder.headers, "Content-Type": "application/json"}
    path = f"/api/auctions/{target.lot.auction_id}/bids"
    tally.sent += 1
    sent = monotonic_us()
    if send_times is not None and index < len(send_times):
        send_times[index] = sent
    try:
        response: Response | None = await connection.request("POST", path, headers, body)
        error = None
    except Exception as exc:
        response, error = None, type(exc).__name__
    tally.record(target.lot, amount, response, error, monotonic_us() - sent)


async def closed_loop(
    targets: Sequence[Target], *, seconds: float, max_bids: int, ladder: Ladder | None = None
) -> tuple[LoadResult, Tally]:
    """Each target is one client sending its next bid as soon as the previous one was answered."""
    ladder = ladder or Ladder(sorted({t.lot for t in targets}, key=lambda lot: lot.auction_id))
    tally = Tally()
    budget = itertools.count()
    started = time.monotonic()
    deadline = started + seconds

    async def client(target: Target) -> None:
        connection = Connection("127.0.0.1", target.port)
        try:
            for turn in itertools.count():
                if time.monotonic() >= deadline or next(budget) >= max_bids:
                    return
                bidder = target.accounts[turn % 2]
                await _bid(connection, target, bidder, ladder.take(target.lot), tally, None)
        finally:
            await connection.close()

    await asyncio.gather(*(client(target) for target in targets))
    return summarise(tally, time.monotonic() - started), tally


async def paced(
    ports: Sequence[int],
    lot: Lot,
    bidders: Sequence[Bidder],
    *,
    rate: int,
    seconds: float,
    max_in_flight: int,
    send_times: MutableSequence[int] | None = None,
) -> tuple[LoadResult, Tally]:
    """Open loop: bid ``k`` is due at ``k / rate`` s, whatever the answers; a due bid finding
    ``max_in_flight`` bids unanswered is skipped and counted (the app fell behind the rate).

    Consecutive bids go to different processes (round robin) from different accounts.
    """
    if len(bidders) < 2:
        raise ValueError("paced bidding needs at least two accounts")
    tally = Tally()
    idle: dict[int, list[Connection]] = {port: [] for port in ports}
    in_flight: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    total = int(rate * seconds)

    async def one(port: int, bidder: Bidder, index: int) -> None:
        pool = idle[port]
        connection = pool.pop() if pool else Connection("127.0.0.1", port)
        try:
            await _bid(connection, Target(port, lot, (bidder, bidder)), bidder, index, tally, send_times)
        finally:
            pool.append(connection)

    for index in range(total):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= max_in_flight:
            tally.skipped += 1
            continue
        task = asyncio.create_task(one(ports[index % len(ports)], bidders[index % len(bidders)], index))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    for pool in idle.values():
        for connection in pool:
            await connection.close()
    return summarise(tally, time.monotonic() - started), tally
