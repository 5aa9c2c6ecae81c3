"""The demo auction: a round on the approved demo listing that a person can watch and bid in.

Idempotent: a round is scheduled only when the demo listing has none. Under ``spc2016`` the
listing's approval is dated back past the 30-day announcement (the demo stands for a lot announced
a month ago) and the round runs 24 hours; under ``sandbox`` it opens a minute after seeding and runs
ten minutes with a one-minute soft close. Two demo buyers are registered with held deposits.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auction.rules import first_round_floor, get_profile
from marketplace.accounts.models import User
from marketplace.accounts.security import Principal
from marketplace.auctions import service
from marketplace.auctions.models import Auction
from marketplace.auctions.payments import gateway_factory
from marketplace.auctions.schemas import ScheduleIn
from marketplace.db import utcnow
from marketplace.listings.models import Listing
from marketplace.settings import Settings

DEMO_LOAN_REF = "DEMO-A-001"
DEMO_BIDDERS = ("buyer1@buyer.demo", "buyer2@buyer.demo")

log = structlog.get_logger("marketplace.seed")


def _principal(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        role=user.role,
        org_id=user.org_id,
        org_kind=user.org.kind if user.org else None,
        name=user.name,
        email=user.email,
        via="seed",
    )


async def seed_demo_auction(session: AsyncSession, settings: Settings) -> Auction | None:
    listing = await session.scalar(select(Listing).where(Listing.loan_ref == DEMO_LOAN_REF))
    if listing is None or listing.status not in ("approved", "in_disposal"):
        return None
    rounds = await session.scalar(
        select(func.count()).select_from(Auction).where(Auction.listing_id == listing.id)
    )
    if rounds:
        return None
    operator = await session.scalar(select(User).where(User.email == settings.operator_email))
    if operator is None:
        return None
    profile = get_profile(settings.auction_rules)
    now = utcnow()
    if profile.name == "sandbox":
        starts_at, duration, extension = now + timedelta(seconds=60), timedelta(minutes=10), 60
    else:
        backdated = now - profile.first_announcement - timedelta(days=1)
        listing.approved_at = backdated
        listing.announcement_at = backdated
        starts_at, duration, extension = now + timedelta(minutes=2), profile.min_duration, None
    increment = 1_000_000
    floor = first_round_floor(profile, listing.valuation_amount)
    starting_price = -(-floor // increment) * increment
    body = ScheduleIn(
        kind="auction",
        starting_price=starting_price,
        increment=increment,
        deposit=starting_price // 10,
        starts_at=starts_at,
        ends_at=starts_at + duration,
        extension_seconds=extension,
    )
    auction = await service.schedule_round(session, profile, listing.id, body, _principal(operator))
    gateways = gateway_factory(settings)
    for email in DEMO_BIDDERS:
        buyer = await session.scalar(select(User).where(User.email == email))
        if buyer is None:
            continue
        registration = await service.register(
            session, gateways("offline", session), auction.id, _principal(buyer), "offline"
        )
        await service.confirm_deposit(
            session, gateways("offline", session), registration.deposit.id, _principal(operator)
        )
    log.info("demo auction scheduled", auction_id=str(auction.id), starts_at=starts_at.isoformat())
    return auction
