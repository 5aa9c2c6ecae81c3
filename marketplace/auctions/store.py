"""The SQL side of the sequencer: one transaction per batch, under the auction row's lock.

Invariants:
- the batch's transaction first locks the auction row (``SELECT … FOR UPDATE`` on PostgreSQL,
  ``BEGIN IMMEDIATE`` on SQLite) and reads the database's clock there: that time decides every
  command of the batch, so a late bid and the close can never both win, whichever node runs them;
- each command is decided by the pure engine against the state left by the previous one; a
  rejected command changes nothing; accepted events get the next ``seq`` and the hash of the one
  before, and are written with their bids and the new auction head in the same transaction;
- a bid retried with the same ``Idempotency-Key`` returns the stored bid and changes nothing;
- effects of a close (deposits to release, the listing's status, the balance due date) are
  written in the closing transaction; gateway calls happen after the commit (``AfterClose``).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auction import engine
from auction.chain import event_hash
from auction.errors import AuctionError
from auction.rules import get_profile
from auction.sequencer import BatchOutcome
from marketplace.auctions.models import Auction, AuctionEvent, Bid
from marketplace.db import utcnow


@dataclass(frozen=True)
class BidCommand:
    user_id: str
    bidder_code: str
    amount: int
    deposit_held: bool
    excluded: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True)
class LifecycleCommand:
    name: str  # "open" | "close" | "default"
    actor_id: str | None = None


LotCommand = BidCommand | LifecycleCommand


@dataclass(frozen=True)
class BidAccepted:
    seq: int
    amount: int
    leader_code: str
    ends_at: datetime
    extensions: int
    at: datetime


@dataclass(frozen=True)
class LifecycleDone:
    status: str
    seq: int


Result = BidAccepted | LifecycleDone

# Called inside the closing transaction with the session, the auction row and the close event;
# the listings/deposits side of a close lives in the service, not here.
CloseHook = Callable[[AsyncSession, Auction, engine.Event, datetime], Awaitable[None]]


def to_state(row: Any) -> engine.AuctionState:
    """The engine's state from an :class:`Auction` row (or a record with the same attributes)."""
    profile = get_profile(row.rules_profile)
    return engine.AuctionState(
        auction_id=str(row.id),
        kind=row.kind,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        starting_price=row.starting_price,
        increment=row.increment,
        deposit=row.deposit,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        extension_seconds=row.extension_seconds,
        sale_countdown_seconds=int(profile.sale_countdown.total_seconds()),
        preemption=tuple(sorted((str(user), int(rank)) for user, rank in row.preemption or [])),
        barred=frozenset(row.barred or []),
        current_price=row.current_price,
        leader_id=str(row.leader_user_id) if row.leader_user_id else None,
        leader_code=row.leader_code,
        leader_rank=row.leader_rank,
        leader_at=row.leader_at,
        bids_count=row.bids_count,
        extensions=row.extensions,
    )


def _write_state(row: Auction, state: engine.AuctionState) -> None:
    row.status = state.status
    row.ends_at = state.ends_at
    row.current_price = state.current_price
    row.leader_user_id = uuid.UUID(state.leader_id) if state.leader_id else None
    row.leader_code = state.leader_code
    row.leader_rank = state.leader_rank
    row.leader_at = state.leader_at
    row.bids_count = state.bids_count
    row.extensions = state.extensions


def engine_command(command: LotCommand) -> engine.Command:
    if isinstance(command, BidCommand):
        return engine.PlaceBid(
            bidder_id=command.user_id,
            bidder_code=command.bidder_code,
            amount=command.amount,
            deposit_held=command.deposit_held,
            excluded=command.excluded,
        )
    lifecycle: dict[str, engine.Command] = {
        "open": engine.Open(),
        "close": engine.Close(),
        "default": engine.Default(),
    }
    return lifecycle[command.name]


def feed_message(row: AuctionEvent) -> dict[str, Any]:
    payload: dict[str, Any] = msgspec.json.decode(row.payload)
    return {**payload, "seq": row.seq, "type": row.type, "at": row.at.isoformat().replace("+00:00", "Z")}


async def lock_auction(
    session: AsyncSession, auction_id: uuid.UUID, is_sqlite: bool
) -> tuple[Auction, datetime]:
    """The auction row, locked for this transaction, and the database's time at the lock."""
    if is_sqlite:
        await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        row = await session.scalar(select(Auction).where(Auction.id == auction_id))
        now = utcnow()
    else:
        result = await session.execute(
            select(Auction, func.clock_timestamp()).where(Auction.id == auction_id).with_for_update()
        )
        first = result.first()
        row, now = (first[0], first[1]) if first else (None, utcnow())
    if row is None:
        raise AuctionError("not_found", "no such auction")
    return row, now


def append_events(
    session: AsyncSession, row: Auction, events: Sequence[engine.Event], now: datetime
) -> list[AuctionEvent]:
    written: list[AuctionEvent] = []
    for event in events:
        payload = engine.event_payload(event)
        payload.pop("type", None)
        seq = row.seq + 1
        digest = event_hash(row.last_hash, str(row.id), seq, event.type, payload, now)
        entry = AuctionEvent(
            auction_id=row.id,
            seq=seq,
            type=event.type,
            payload=msgspec.json.encode(payload).decode(),
            at=now,
            prev_hash=row.last_hash,
            hash=digest,
        )
        session.add(entry)
        written.append(entry)
        row.seq = seq
        row.last_hash = digest
    return written


IdempotencyKey = tuple[uuid.UUID, str]


class BidsWriter(Protocol):
    async def apply_bids(self, lot_id: str, commands: Sequence[BidCommand]) -> BatchOutcome[Result]:
        """The same as :meth:`SqlLotStore.apply_batch` for a batch made only of bids."""
        ...


def idempotency_key(command: LotCommand) -> IdempotencyKey | None:
    if isinstance(command, BidCommand) and command.idempotency_key:
        return uuid.UUID(command.user_id), command.idempotency_key
    return None


async def _answered_bids(
    session: AsyncSession, auction_id: uuid.UUID, commands: Sequence[LotCommand]
) -> dict[IdempotencyKey, BidAccepted]:
    """Stored answers to the batch's retried bids (same bidder, same ``Idempotency-Key``), in one
    query under the lock; the loop adds the answers it gives, so a retry within the batch gets them."""
    keys = {key for key in map(idempotency_key, commands) if key is not None}
    if not keys:
        return {}
    stored = await session.scalars(
        select(Bid).where(Bid.auction_id == auction_id, Bid.idempotency_key.in_({text for _, text in keys}))
    )
    return {
        (bid.user_id, bid.idempotency_key): BidAccepted(
            bid.seq, bid.amount, bid.bidder_code, bid.ends_at, bid.extensions, bid.at
        )
        for bid in stored
        if bid.idempotency_key is not None and (bid.user_id, bid.idempotency_key) in keys
    }


class SqlLotStore:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        is_sqlite: bool,
        on_close: CloseHook,
        bids: BidsWriter | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._is_sqlite = is_sqlite
        self._on_close = on_close
        self._bids = bids

    async def apply_batch(self, lot_id: str, commands: Sequence[LotCommand]) -> BatchOutcome[Result]:
        """A batch of bids only goes to the fast writer when there is one (PostgreSQL); a batch with
        a lifecycle command, and every batch on SQLite, takes the ORM path below."""
        if self._bids is not None and all(isinstance(command, BidCommand) for command in commands):
            return await self._bids.apply_bids(lot_id, cast(Sequence[BidCommand], commands))
        results: list[Result | BaseException] = []
        published: list[dict[str, Any]] = []
        async with self._sessionmaker() as session, session.begin():
            row, now = await lock_auction(session, uuid.UUID(lot_id), self._is_sqlite)
            state = to_state(row)
            written: list[AuctionEvent] = []
            answered = await _answered_bids(session, row.id, commands)
            for command in commands:
                key = idempotency_key(command)
                if key is not None and key in answered:
                    results.append(answered[key])
                    continue
                try:
                    decision = engine.decide(state, engine_command(command), now)
                except AuctionError as exc:
                    results.append(exc)
                    continue
                state = decision.state
                _write_state(row, state)
                entries = append_events(session, row, decision.events, now)
                written.extend(entries)
                result: Result = LifecycleDone(state.status, row.seq)
                for event, entry in zip(decision.events, entries, strict=True):
                    if isinstance(event, engine.BidPlaced) and isinstance(command, BidCommand):
                        session.add(
                            Bid(
                                auction_id=row.id,
                                seq=entry.seq,
                                user_id=uuid.UUID(command.user_id),
                                bidder_code=command.bidder_code,
                                amount=event.amount,
                                at=now,
                                ends_at=state.ends_at,
                                extensions=state.extensions,
                                idempotency_key=command.idempotency_key,
                            )
                        )
                        result = BidAccepted(
                            entry.seq, event.amount, command.bidder_code, state.ends_at, state.extensions, now
                        )
                        if key is not None:
                            answered[key] = result
                    if isinstance(event, engine.Closed | engine.Defaulted):
                        await self._on_close(session, row, event, now)
                results.append(result)
            published = [feed_message(entry) for entry in written]
        return BatchOutcome(results=results, events=published)


def new_bidder_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "B" + "".join(secrets.choice(alphabet) for _ in range(5))
