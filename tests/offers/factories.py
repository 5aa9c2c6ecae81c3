"""Factories for offer tests: make an offer through the API, age it past its validity."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import update

from marketplace.offers.models import Offer
from marketplace.settings import Settings
from tests.helpers import BANK_A, OPERATOR, bearer, direct_db

LICENCE_TERMS = {
    "exclusivity": "exclusive",
    "territory": "四川省 Sichuan",
    "field": "lithium battery electrodes",
    "term_months": 36,
    "royalty_bp": 300,
}
EQUITY_TERMS = {
    "company": "示范电池股份有限公司 Demo Battery Co.",
    "agreed_valuation": 200_000_000,
    "share_bp": 3500,
}
TERMS = {"acquisition": {"payment_days": 30}, "license": LICENCE_TERMS, "license_back": LICENCE_TERMS,
         "equity": EQUITY_TERMS}  # fmt: skip


def valid_until(days: float = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def offer(
    client: AsyncTestClient[Any],
    listing_id: uuid.UUID | str,
    email: str,
    *,
    kind: str = "acquisition",
    amount: int = 80_000_000,
    terms: dict[str, Any] | None = None,
    expect: int = 201,
) -> dict[str, Any]:
    response = await client.post(
        f"/api/listings/{listing_id}/offers",
        json={"kind": kind, "amount": amount, "terms": TERMS[kind] if terms is None else terms,
              "valid_until": valid_until()},
        headers=await bearer(client, email),
    )  # fmt: skip
    assert response.status_code == expect, response.text
    return dict(response.json())


async def accepted(client: AsyncTestClient[Any], offer_id: str) -> dict[str, Any]:
    response = await client.post(f"/api/offers/{offer_id}/accept", headers=await bearer(client, BANK_A))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def approved(client: AsyncTestClient[Any], offer_id: str) -> dict[str, Any]:
    await accepted(client, offer_id)
    response = await client.post(f"/api/offers/{offer_id}/approve", headers=await bearer(client, OPERATOR))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def expire(settings: Settings, offer_id: str) -> None:
    """Move an offer's validity into the past (no waiting in tests)."""
    async with direct_db(settings) as session:
        await session.execute(
            update(Offer)
            .where(Offer.id == uuid.UUID(offer_id))
            .values(valid_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
