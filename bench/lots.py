"""Setting up and checking the lots the benchmark bids on, through the app's own API.

Invariants:
- a benchmark lot is a round of a fresh approved listing (inserted straight into the benchmark
  database, as the test factories do), scheduled by the operator through the API with the sandbox
  rules: it starts after its bidders are enrolled and ends after the bidding window, with a 1 s
  soft-close window that bidding never enters, so the close does not end a measurement;
- a bidder is a buyer account registered through the API, with a registration and an offline
  deposit confirmed by the operator for each lot it bids on;
- a lot is closed only after ``ends_at`` (``POST …/close``, retried while ``not_due``), and checked
  afterwards from the API alone: every acknowledged bid is in ``GET …/bids``, the hash-chained log
  verifies with seqs 1..n and exactly one ``closed`` event, and there is one winner: the highest
  bid's bidder at the highest bid's amount.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.auctions.models import Auction
from marketplace.db import make_engine, make_sessionmaker
from marketplace.listings.models import Listing

OPERATOR = "operator@exchange.demo"
DEMO_PASSWORD = "demo-pass-2026"  # the documented demo credential, seeded into the benchmark database
BANK = "bank-a@bank.demo"
SEEDED_BUYER = "buyer1@buyer.demo"
BIDDER_PASSWORD = "bench-bidder-password"
VALUATION = 100_000_000
STARTING_PRICE = 70_000_000
INCREMENT = 10_000
DEPOSIT = 7_000_000
SOFT_CLOSE_SECONDS = 1
SETUP_CONCURRENCY = 16


@dataclass(frozen=True)
class Bidder:
    email: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Lot:
    auction_id: str
    starts_at: datetime
    ends_at: datetime
    starting_price: int
    increment: int

    def amount(self, index: int) -> int:
        """The ``index``-th bid of the benchmark's ascending ladder (index 0 is the opening bid)."""
        return self.starting_price + index * self.increment

    def index_of(self, amount: int) -> int:
        return (amount - self.starting_price) // self.increment


@dataclass(frozen=True)
class LotCheck:
    auction_id: str
    acknowledged: int
    stored: int
    missing: int
    unacknowledged: int
    log_verified: bool
    seqs_contiguous: bool
    closed_events: int
    status: str
    winner_ok: bool
    final_seq: int
    commits: int
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


async def _listing(session: Any, bank: User, index: int) -> Listing:
    assert bank.org_id is not None
    return Listing(
        bank_org_id=bank.org_id,
        created_by=bank.id,
        title=f"Benchmark lot {index}: 一种锂电池极片涂布装置 专利包 (synthetic)",
        currency="CNY",
        status="approved",
        loan_ref=f"LN-BENCH-{index:04d}",
        pledgor_name="示范基准科技有限公司",
        claim=120_000_000,
        default_date=date(2026, 9, 30),
        pledge_registry="cnipa",
        pledge_registration_no=f"Y2026{index:07d}",
        valuation_amount=VALUATION,
        valuation_method="internal",
        settlement_terms={
            "parties": [{"role": "bank", "org_id": str(bank.org_id), "ratio_bp": 10000}],
            "advances": [],
            "costs": [],
        },
        disclosures={},
        approved_at=datetime.now(UTC) - timedelta(days=1),
        search_text="benchmark",
    )


async def create_listings(database_url: str, count: int) -> list[str]:
    """``count`` approved listings of the demo bank, inserted directly (as the test factories do)."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            bank = await session.scalar(select(User).where(User.email == BANK))
            if bank is None:
                raise RuntimeError("the benchmark database is not seeded (no demo bank user)")
            listings = [await _listing(session, bank, index) for index in range(count)]
            session.add_all(listings)
            await session.commit()
            return [str(listing.id) for listing in listings]
    finally:
        await engine.dispose()


async def create_pgbench_lot(database_url: str) -> tuple[str, str]:
    """An open auction with a leader and a price, for pgbench to bid on: ``(auction_id, user_id)``."""
    (listing_id,) = await create_listings(database_url, 1)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            buyer = await session.scalar(select(User).where(User.email == SEEDED_BUYER))
            operator = await session.scalar(select(User).where(User.email == OPERATOR))
            if buyer is None or operator is None:
                raise RuntimeError("the benchmark database is not seeded (no demo buyer or operator)")
            now = datetime.now(UTC)
            auction = Auction(
                listing_id=uuid.UUID(listing_id),
                round_no=1,
                kind="auction",
                status="open",
                rules_profile="sandbox",
                currency="CNY",
                starting_price=STARTING_PRICE,
                increment=INCREMENT,
                deposit=DEPOSIT,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(days=1),
                extension_seconds=SOFT_CLOSE_SECONDS,
                current_price=STARTING_PRICE,
                leader_user_id=buyer.id,
                leader_code="BPGBEN",
                leader_at=now,
                bids_count=0,
                extensions=0,
                seq=0,
                last_hash="0" * 64,
                preemption=[],
                barred=[],
                created_by=operator.id,
            )
            session.add(auction)
            await session.commit()
            return str(auction.id), str(buyer.id)
    finally:
        await engine.dispose()


async def token(http: httpx.AsyncClient, base: str, email: str, password: str) -> dict[str, str]:
    response = await http.post(f"{base}/api/auth/token", json={"email": email, "password": password})
    if response.status_code != 200:
        raise RuntimeError(f"sign-in of {email} failed: {response.status_code} {response.text[:300]}")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def create_bidders(http: httpx.AsyncClient, base: str, count: int, run_id: str) -> list[Bidder]:
    """``count`` fresh buyer accounts with bearer tokens (tokens live in Redis, valid on every node)."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(index: int) -> Bidder:
        email = f"bench-{run_id}-{index}@buyer.demo"
        async with gate:
            created = await http.post(
                f"{base}/api/buyers/register",
                json={
                    "email": email,
                    "password": BIDDER_PASSWORD,
                    "real_name": f"Bench Bidder {index}",
                    "id_number": f"BENCH{index:08d}",
                },
            )
            if created.status_code != 201:
                raise RuntimeError(f"buyer registration failed: {created.status_code} {created.text[:300]}")
            return Bidder(email, await token(http, base, email, BIDDER_PASSWORD))

    return list(await asyncio.gather(*(one(index) for index in range(count))))


async def schedule_lot(
    http: httpx.AsyncClient,
    base: str,
    operator: dict[str, str],
    listing_id: str,
    start_in: float,
    length: float,
) -> Lot:
    starts_at = datetime.now(UTC) + timedelta(seconds=start_in)
    ends_at = starts_at + timedelta(seconds=max(length, 2.0))
    response = await http.post(
        f"{base}/api/listings/{listing_id}/auctions",
        json={
            "kind": "auction",
            "starting_price": STARTING_PRICE,
            "increment": INCREMENT,
            "deposit": DEPOSIT,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "extension_seconds": SOFT_CLOSE_SECONDS,
        },
        headers=operator,
    )
    if response.status_code != 201:
        raise RuntimeError(f"scheduling failed: {response.status_code} {response.text[:300]}")
    body = response.json()
    return Lot(
        auction_id=body["id"],
        starts_at=_parse_time(body["starts_at"]),
        ends_at=_parse_time(body["ends_at"]),
        starting_price=int(body["starting_price"]),
        increment=int(body["increment"]),
    )


async def enrol(
    http: httpx.AsyncClient,
    bases: Sequence[str],
    operator: dict[str, str],
    lot: Lot,
    bidders: Sequence[Bidder],
) -> None:
    """Register every bidder for the lot and confirm its offline deposit (spread over the processes)."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(index: int, bidder: Bidder) -> None:
        base = bases[index % len(bases)]
        async with gate:
            registration = await http.post(
                f"{base}/api/auctions/{lot.auction_id}/registrations",
                json={"payment": "offline"},
                headers=bidder.headers,
            )
            if registration.status_code != 201:
                raise RuntimeError(
                    f"registration failed: {registration.status_code} {registration.text[:300]}"
                )
            deposit_id = registration.json()["deposit"]["id"]
            confirmed = await http.post(f"{base}/api/deposits/{deposit_id}/confirm", headers=operator)
            if confirmed.status_code != 200:
                raise RuntimeError(
                    f"deposit confirmation failed: {confirmed.status_code} {confirmed.text[:300]}"
                )

    await asyncio.gather(*(one(index, bidder) for index, bidder in enumerate(bidders)))


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def sleep_until(moment: datetime, slack: float = 0.02) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds() + slack
    if delay > 0:
        await asyncio.sleep(delay)


async def close_lot(http: httpx.AsyncClient, base: str, operator: dict[str, str], lot: Lot) -> dict[str, Any]:
    """Close the lot once it is due (the scheduler may beat us to it); bounded to ~30 s of retries."""
    for _ in range(60):
        state = (await http.get(f"{base}/api/auctions/{lot.auction_id}")).json()
        if state["status"] in ("sold", "failed", "defaulted"):
            return dict(state)
        await sleep_until(_parse_time(state["ends_at"]))
        response = await http.post(f"{base}/api/auctions/{lot.auction_id}/close", headers=operator)
        if response.status_code == 200 and response.json()["status"] in ("sold", "failed"):
            return dict(response.json())
        if response.status_code != 200 and response.json().get("code") not in ("not_due", "already_closed"):
            raise RuntimeError(f"close failed: {response.status_code} {response.text[:300]}")
        await asyncio.sleep(0.5)
    raise RuntimeError(f"lot {lot.auction_id} never closed")


def check_lot(
    lot: Lot,
    acknowledged: dict[int, int],
    bids: Sequence[dict[str, Any]],
    log: dict[str, Any],
    final: dict[str, Any],
) -> LotCheck:
    """Pure: the API's view of a closed lot against the bids the load generator saw acknowledged.

    ``acknowledged`` maps each 201's seq to its amount.
    """
    problems: list[str] = []
    stored = {int(bid["seq"]): int(bid["amount"]) for bid in bids}
    missing = [seq for seq in acknowledged if seq not in stored]
    wrong_amount = [seq for seq, amount in acknowledged.items() if seq in stored and stored[seq] != amount]
    unacknowledged = [seq for seq in stored if seq not in acknowledged]
    if missing:
        problems.append(f"{len(missing)} acknowledged bids are not stored (first seqs {sorted(missing)[:5]})")
    if wrong_amount:
        problems.append(f"{len(wrong_amount)} stored bids differ from their acknowledgement")
    if unacknowledged:
        problems.append(f"{len(unacknowledged)} stored bids were never acknowledged (client timeouts?)")
    entries = list(log.get("entries", []))
    seqs = [int(entry["seq"]) for entry in entries]
    contiguous = seqs == list(range(1, len(seqs) + 1)) and (not seqs or seqs[-1] == int(final["seq"]))
    if not contiguous:
        problems.append("the event log's seqs are not 1..n up to the auction's seq")
    verified = bool(log.get("verified"))
    if not verified:
        problems.append(f"the event log does not verify: {log.get('broken_at_seq')} {log.get('reason')}")
    types = [entry["type"] for entry in entries]
    closed = types.count("closed")
    if closed != 1:
        problems.append(f"{closed} closed events (expected exactly one)")
    winner_ok = _one_winner(stored, bids, entries, final)
    if not winner_ok:
        problems.append("the closed event, the auction and the highest bid disagree on the winner")
    commits = len({entry["at"] for entry in entries if entry["type"] == "bid"})
    return LotCheck(
        auction_id=lot.auction_id,
        acknowledged=len(acknowledged),
        stored=len(stored),
        missing=len(missing),
        unacknowledged=len(unacknowledged),
        log_verified=verified,
        seqs_contiguous=contiguous,
        closed_events=closed,
        status=str(final["status"]),
        winner_ok=winner_ok,
        final_seq=int(final["seq"]),
        commits=commits,
        problems=tuple(problems),
    )


def _one_winner(
    stored: dict[int, int],
    bids: Sequence[dict[str, Any]],
    entries: Sequence[dict[str, Any]],
    final: dict[str, Any],
) -> bool:
    closed = [entry for entry in entries if entry["type"] == "closed"]
    if len(closed) != 1:
        return False
    payload = closed[0].get("payload", {})
    if not bids:
        return bool(final["status"] == "failed" and payload.get("outcome") == "failed")
    top = max(bids, key=lambda bid: int(bid["amount"]))
    ascending = [stored[seq] for seq in sorted(stored)]
    return (
        final["status"] == "sold"
        and ascending == sorted(ascending)
        and len(set(ascending)) == len(ascending)
        and payload.get("outcome") == "sold"
        and int(payload.get("price", -1)) == int(top["amount"])
        and payload.get("bidder_code") == top["bidder_code"]
        and int(final["current_price"]) == int(top["amount"])
    )


async def verify_lot(
    http: httpx.AsyncClient, base: str, operator: dict[str, str], lot: Lot, acknowledged: dict[int, int]
) -> LotCheck:
    final = await close_lot(http, base, operator, lot)
    bids = (await http.get(f"{base}/api/auctions/{lot.auction_id}/bids")).json()
    log = (await http.get(f"{base}/api/auctions/{lot.auction_id}/log")).json()
    return check_lot(lot, acknowledged, bids, log, final)
