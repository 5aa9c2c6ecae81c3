"""Factories for settlement tests: listings with parties, sold rounds written straight to the
database (for table tests), the registry hand-off through the API, and ledger counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from marketplace.accounts.models import User
from marketplace.auctions.models import Auction, Deposit, Registration, TransferRecord
from marketplace.ledger.models import LedgerTransaction
from marketplace.listings.models import Listing
from marketplace.settings import Settings
from marketplace.settlement.models import SettlementPayout
from tests.auctions.factories import approved_listing
from tests.helpers import BANK_A, BUYERS, GUARANTOR, OPERATOR, POOL, bearer, direct_db


async def org_of(settings: Settings, email: str) -> uuid.UUID:
    async with direct_db(settings) as session:
        org_id = await session.scalar(select(User.org_id).where(User.email == email))
    assert org_id is not None
    return org_id


async def user_id_of(settings: Settings, email: str) -> uuid.UUID:
    async with direct_db(settings) as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return user_id


@dataclass(frozen=True)
class Terms:
    """Settlement terms by role: ratios (bp), advances, costs and the claim, in fen."""

    ratios: dict[str, int]
    claim: int = 100_000_000
    advances: dict[str, int] | None = None
    costs: dict[str, int] | None = None


FRONT_LOADED = Terms(
    ratios={"bank": 2000, "guarantor": 4000, "risk_pool": 4000},
    advances={"guarantor": 40_000_000, "risk_pool": 40_000_000},
    costs={"valuation_fee": 2_000_000},
)

EMAILS = {"bank": BANK_A, "guarantor": GUARANTOR, "risk_pool": POOL}


async def listing_with_terms(
    settings: Settings, terms: Terms, *, pledgor: str = "示范科技有限公司"
) -> uuid.UUID:
    """An approved listing of Bank A whose settlement terms are ``terms`` (parties: demo orgs)."""
    listing_id = await approved_listing(settings, pledgor=pledgor)
    parties = [
        {"role": role, "org_id": str(await org_of(settings, EMAILS[role])), "ratio_bp": ratio}
        for role, ratio in terms.ratios.items()
    ]
    settlement_terms: dict[str, Any] = {
        "parties": parties,
        "advances": [{"role": role, "amount": amount} for role, amount in (terms.advances or {}).items()],
        "costs": [{"kind": kind, "amount": amount} for kind, amount in (terms.costs or {}).items()],
    }
    async with direct_db(settings) as session:
        await session.execute(
            update(Listing)
            .where(Listing.id == listing_id)
            .values(settlement_terms=settlement_terms, claim=terms.claim)
        )
        await session.commit()
    return listing_id


async def sold_round(
    settings: Settings,
    listing_id: uuid.UUID,
    hammer: int,
    *,
    balance_paid: bool = True,
    forfeited: int = 0,
) -> uuid.UUID:
    """A sold round written directly (as the closing transaction would leave it), optionally after
    a defaulted round whose winner forfeited ``forfeited`` fen."""
    now = datetime.now(UTC)
    async with direct_db(settings) as session:
        operator = await session.scalar(select(User.id).where(User.email == OPERATOR))
        buyer = await session.scalar(select(User.id).where(User.email == BUYERS[0]))
        assert operator is not None
        assert buyer is not None
        rounds = []
        for round_no, status in enumerate(["defaulted", "sold"] if forfeited else ["sold"], start=1):
            auction = Auction(
                listing_id=listing_id,
                round_no=round_no,
                kind="auction",
                status=status,
                rules_profile="sandbox",
                currency="CNY",
                starting_price=hammer,
                increment=100_000,
                deposit=forfeited or hammer // 10,
                starts_at=now - timedelta(hours=2),
                ends_at=now - timedelta(hours=1),
                extension_seconds=300,
                current_price=hammer,
                last_hash="0" * 64,
                preemption=[],
                barred=[],
                closed_at=now - timedelta(hours=1),
                winner_user_id=buyer,
                hammer_price=hammer,
                balance_due_at=now + timedelta(days=10),
                balance_paid_at=now if balance_paid and status == "sold" else None,
                created_by=operator,
            )
            session.add(auction)
            rounds.append(auction)
        await session.flush()
        if forfeited:
            registration = Registration(auction_id=rounds[0].id, user_id=buyer, bidder_code="B-0001")
            session.add(registration)
            await session.flush()
            session.add(
                Deposit(
                    registration_id=registration.id,
                    auction_id=rounds[0].id,
                    user_id=buyer,
                    amount=forfeited,
                    currency="CNY",
                    method="offline",
                    status="forfeited",
                    reference=f"DEP-{uuid.uuid4().hex[:10].upper()}",
                    instructions={},
                )
            )
        await session.execute(update(Listing).where(Listing.id == listing_id).values(status="sold"))
        await session.commit()
        return rounds[-1].id


async def confirm_transfer(client: AsyncTestClient[Any], listing_id: uuid.UUID | str) -> None:
    """The registry hand-off: the pledge release and the transfer filed and confirmed."""
    operator = await bearer(client, OPERATOR)
    prepared = await client.post(
        f"/api/listings/{listing_id}/filings", json={"transferee": "李四 Li Si"}, headers=operator
    )
    assert prepared.status_code == 201, prepared.text
    for filing in prepared.json():
        confirmed = await client.post(f"/api/filings/{filing['id']}/confirm", json={}, headers=operator)
        assert confirmed.status_code == 200, confirmed.text


@dataclass(frozen=True)
class Counts:
    payout_rows: int
    gateway_payouts: int
    ledger_transactions: int


async def counts(settings: Settings) -> Counts:
    async with direct_db(settings) as session:
        payout_rows = await session.scalar(select(func.count()).select_from(SettlementPayout))
        gateway_payouts = await session.scalar(
            select(func.count()).select_from(TransferRecord).where(TransferRecord.kind == "payout")
        )
        ledger_transactions = await session.scalar(select(func.count()).select_from(LedgerTransaction))
    return Counts(int(payout_rows or 0), int(gateway_payouts or 0), int(ledger_transactions or 0))
