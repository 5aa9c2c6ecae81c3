"""``python -m marketplace verify``: are the records intact? Every auction's hash chain, and the ledger.

Invariants:
- read-only: nothing is written, locked or repaired; run it on a live database, on a replica or
  on a restored backup;
- an auction's chain is checked from its first event to the head stored on the auction row
  (``auctions.last_hash``), so an edited, inserted, reordered or removed event, including a
  removed tail and a removed whole log, is a break (:func:`auction.chain.verify_chain`);
- the ledger is checked by the ledger's own :func:`marketplace.ledger.verify.verify` (every
  transaction balances per currency, the trial balance is zero) when the ledger package is
  installed; a ledger that cannot be checked is reported as such, never as sound;
- :attr:`Report.ok` is true exactly when nothing broke; the command exits 0 then and 1 otherwise,
  printing each break.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auction.chain import verify_chain
from marketplace.auctions.models import Auction, AuctionEvent
from marketplace.settings import Settings


@dataclass(frozen=True, slots=True)
class ChainBreak:
    auction_id: uuid.UUID
    broken_at_seq: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    ok: bool
    summary: str


@dataclass(frozen=True, slots=True)
class Report:
    auctions: int
    events: int
    chain_breaks: tuple[ChainBreak, ...]
    ledger: LedgerCheck

    @property
    def ok(self) -> bool:
        return not self.chain_breaks and self.ledger.ok


@dataclass(frozen=True, slots=True)
class _StoredEntry:
    auction_id: str
    seq: int
    type: str
    payload: Mapping[str, Any]
    at: datetime
    prev_hash: str
    hash: str


def _entry(row: AuctionEvent) -> _StoredEntry:
    return _StoredEntry(
        str(row.auction_id),
        row.seq,
        row.type,
        msgspec.json.decode(row.payload),
        row.at,
        row.prev_hash,
        row.hash,
    )


async def verify_auction(session: AsyncSession, auction: Auction) -> tuple[int, ChainBreak | None]:
    """The number of events of one auction and its first break, if any."""
    rows = await session.scalars(
        select(AuctionEvent).where(AuctionEvent.auction_id == auction.id).order_by(AuctionEvent.seq)
    )
    try:
        entries = [_entry(row) for row in rows]
    except msgspec.DecodeError as exc:
        return 0, ChainBreak(auction.id, None, f"an event payload is not JSON: {exc}")
    verdict = verify_chain(entries, head_hash=auction.last_hash)
    if verdict.ok and auction.seq != len(entries):
        return len(entries), ChainBreak(
            auction.id,
            len(entries) + 1,
            f"the auction's head is seq {auction.seq}, the log ends at {len(entries)}",
        )
    if verdict.ok:
        return len(entries), None
    return len(entries), ChainBreak(auction.id, verdict.broken_at_seq, verdict.reason or "broken")


async def verify_auctions(session: AsyncSession) -> tuple[int, int, tuple[ChainBreak, ...]]:
    auctions = list(await session.scalars(select(Auction).order_by(Auction.created_at, Auction.id)))
    events = 0
    breaks: list[ChainBreak] = []
    for auction in auctions:
        count, broken = await verify_auction(session, auction)
        events += count
        if broken is not None:
            breaks.append(broken)
    return len(auctions), events, tuple(breaks)


async def verify_ledger(session: AsyncSession) -> LedgerCheck:
    try:
        from marketplace.ledger.verify import format_report
        from marketplace.ledger.verify import verify as ledger_verify
    except ImportError:  # pragma: no cover - the ledger package ships with the service
        return LedgerCheck(True, "ledger: not installed, nothing to check")
    report = await ledger_verify(session)
    return LedgerCheck(report.ok, format_report(report))


async def verify_records(session: AsyncSession) -> Report:
    auctions, events, breaks = await verify_auctions(session)
    ledger = await verify_ledger(session)
    return Report(auctions=auctions, events=events, chain_breaks=breaks, ledger=ledger)


async def verify_database(settings: Settings) -> Report:
    from marketplace.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await verify_records(session)
    finally:
        await engine.dispose()


def format_report(report: Report) -> str:
    lines = [f"auctions: {report.auctions} hash chains, {report.events} events"]
    lines.extend(
        f"BROKEN: auction {b.auction_id} at seq {b.broken_at_seq}: {b.reason}" for b in report.chain_breaks
    )
    lines.append(report.ledger.summary)
    lines.append("OK: every record verifies" if report.ok else "FAILED: the records do not verify")
    return "\n".join(lines)
