"""Factories for auction tests: an approved listing straight in the database, a scheduled round."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.listings.models import Listing
from marketplace.settings import Settings
from tests.helpers import BANK_A, OPERATOR, bearer, direct_db

VALUATION = 100_000_000  # ¥1,000,000.00


async def approved_listing(
    settings: Settings, *, valuation: int = VALUATION, pledgor: str = "示范科技有限公司"
) -> uuid.UUID:
    async with direct_db(settings) as session:
        bank_user = await session.scalar(select(User).where(User.email == BANK_A))
        assert bank_user is not None
        assert bank_user.org_id is not None
        listing = Listing(
            bank_org_id=bank_user.org_id,
            created_by=bank_user.id,
            title="一种锂电池极片涂布装置 专利包 (synthetic)",
            currency="CNY",
            status="approved",
            loan_ref="LN-TEST-001",
            pledgor_name=pledgor,
            claim=120_000_000,
            default_date=date(2026, 9, 30),
            pledge_registry="cnipa",
            pledge_registration_no="Y2026990001",
            valuation_amount=valuation,
            valuation_method="internal",
            settlement_terms={
                "parties": [{"role": "bank", "org_id": str(bank_user.org_id), "ratio_bp": 10000}],
                "advances": [],
                "costs": [],
            },
            disclosures={},
            approved_at=datetime.now(UTC) - timedelta(days=1),
            search_text="synthetic",
        )
        session.add(listing)
        await session.commit()
        return listing.id


def window(start_in: float = 1.0, duration: float = 3.0) -> tuple[str, str]:
    starts = datetime.now(UTC) + timedelta(seconds=start_in)
    ends = starts + timedelta(seconds=duration)
    return starts.isoformat(), ends.isoformat()


async def schedule(
    client: AsyncTestClient[Any],
    listing_id: uuid.UUID,
    *,
    starting_price: int = 70_000_000,
    increment: int = 1_000_000,
    deposit: int | None = None,
    start_in: float = 0.5,
    duration: float = 2.5,
    extension_seconds: int = 1,
    kind: str = "auction",
    preemption: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operator = await bearer(client, OPERATOR)
    starts_at, ends_at = window(start_in, duration)
    body: dict[str, Any] = {
        "kind": kind,
        "starting_price": starting_price,
        "increment": increment,
        "deposit": deposit if deposit is not None else starting_price // 10,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "extension_seconds": extension_seconds,
    }
    if preemption:
        body["preemption"] = preemption
    response = await client.post(f"/api/listings/{listing_id}/auctions", json=body, headers=operator)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def registered_bidder(
    client: AsyncTestClient[Any], auction_id: str, email: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """A buyer registered for the round with the deposit confirmed by the operator."""
    buyer = await bearer(client, email)
    registration = await client.post(
        f"/api/auctions/{auction_id}/registrations", json={"payment": "offline"}, headers=buyer
    )
    assert registration.status_code == 201, registration.text
    operator = await bearer(client, OPERATOR)
    deposit_id = registration.json()["deposit"]["id"]
    confirmed = await client.post(f"/api/deposits/{deposit_id}/confirm", headers=operator)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "held"
    return buyer, dict(registration.json())


async def wait_until(moment_iso: str, slack: float = 0.05) -> None:
    moment = datetime.fromisoformat(moment_iso.replace("Z", "+00:00"))
    delay = (moment - datetime.now(UTC)).total_seconds() + slack
    if delay > 0:
        await asyncio.sleep(delay)


async def close_when_due(client: AsyncTestClient[Any], auction_id: str) -> dict[str, Any]:
    operator = await bearer(client, OPERATOR)
    for _ in range(100):
        state = (await client.get(f"/api/auctions/{auction_id}")).json()
        if state["status"] in ("sold", "failed", "defaulted"):
            return dict(state)
        await wait_until(state["ends_at"])
        response = await client.post(f"/api/auctions/{auction_id}/close", headers=operator)
        if response.status_code == 200:
            return dict(response.json())
        assert response.json()["code"] in ("not_due", "already_closed"), response.text
    raise AssertionError("the round never closed")
