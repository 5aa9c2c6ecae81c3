"""An accepted acquisition offer as the stalking-horse floor of the next round."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from marketplace.auctions.models import Auction
from marketplace.listings.models import Listing
from marketplace.offers.models import Offer
from marketplace.offers.service import bind_stalking_horse
from marketplace.settings import Settings
from tests.auctions.factories import approved_listing, close_when_due, registered_bidder, wait_until, window
from tests.helpers import ACQUIRER, BUYERS, OPERATOR, bearer, direct_db

from .factories import accepted, expire, offer

Client = AsyncTestClient[Any]


async def schedule_with(
    client: Client, listing_id: uuid.UUID, offer_id: str, starting_price: int, *, duration: float = 60.0
) -> Any:
    starts_at, ends_at = window(0.5, duration)
    return await client.post(
        f"/api/listings/{listing_id}/auctions",
        json={
            "kind": "auction",
            "starting_price": starting_price,
            "increment": 1_000_000,
            "deposit": starting_price // 10,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "extension_seconds": 1,
            "stalking_horse_offer_id": offer_id,
        },
        headers=await bearer(client, OPERATOR),
    )


@pytest.mark.parametrize(
    ("setup", "starting_price", "status", "code"),
    [
        pytest.param("accepted", 80_000_000, 201, None, id="an accepted offer sets the floor"),
        pytest.param("accepted", 79_000_000, 422, "price_below_floor", id="starting under the offer"),
        pytest.param("open", 80_000_000, 422, "bad_stalking_horse", id="an offer the bank has not accepted"),
        pytest.param("licence", 80_000_000, 422, "bad_stalking_horse", id="a licence offer"),
        pytest.param(
            "other_listing", 80_000_000, 422, "bad_stalking_horse", id="an offer on another listing"
        ),
        pytest.param("expired", 80_000_000, 409, "offer_expired", id="an expired offer"),
    ],
)
async def test_the_stalking_horse_floor(
    client: Client, settings: Settings, setup: str, starting_price: int, status: int, code: str | None
) -> None:
    listing_id = await approved_listing(settings)
    target = await approved_listing(settings) if setup == "other_listing" else listing_id
    kind = "license" if setup == "licence" else "acquisition"
    made = await offer(client, target, ACQUIRER, kind=kind, amount=80_000_000)
    if setup != "open":
        await accepted(client, made["id"])
    if setup == "expired":
        await expire(settings, made["id"])
    response = await schedule_with(client, listing_id, made["id"], starting_price)
    assert response.status_code == status, response.text
    if code:
        assert response.json()["code"] == code
    else:
        assert response.json()["starting_price"] == 80_000_000


async def test_when_nobody_bids_higher_the_offeror_is_bound_and_the_offer_becomes_the_sale(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    made = await offer(client, listing_id, ACQUIRER, amount=80_000_000)
    await accepted(client, made["id"])
    scheduled = await schedule_with(client, listing_id, made["id"], 80_000_000, duration=2.0)
    assert scheduled.status_code == 201, scheduled.text
    closed = await close_when_due(client, scheduled.json()["id"])
    assert closed["status"] == "failed"

    async with direct_db(settings) as session:
        # The close itself bound the offeror; binding again finds nothing left to bind.
        auction = await session.get(Auction, uuid.UUID(closed["id"]))
        assert auction is not None
        again = await bind_stalking_horse(session, auction)
        stalking_horse = await session.scalar(select(Offer).where(Offer.id == uuid.UUID(made["id"])))
        listing = await session.scalar(select(Listing).where(Listing.id == listing_id))
    assert again is None
    assert stalking_horse is not None
    assert listing is not None
    assert (stalking_horse.status, listing.status) == ("approved", "sold")
    assert stalking_horse.contract_no is not None


async def test_a_higher_bid_wins_and_the_stalking_horse_is_released(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    made = await offer(client, listing_id, ACQUIRER, amount=80_000_000)
    await accepted(client, made["id"])
    scheduled = await schedule_with(client, listing_id, made["id"], 80_000_000, duration=2.0)
    assert scheduled.status_code == 201, scheduled.text
    auction = scheduled.json()
    bidder, _ = await registered_bidder(client, auction["id"], BUYERS[1])
    await wait_until(auction["starts_at"])
    bid = await client.post(
        f"/api/auctions/{auction['id']}/bids", json={"amount": 81_000_000}, headers=bidder
    )
    assert bid.status_code == 201, bid.text
    closed = await close_when_due(client, auction["id"])
    assert (closed["status"], closed["hammer_price"]) == ("sold", 81_000_000)
    async with direct_db(settings) as session:
        sold = await session.get(Auction, uuid.UUID(auction["id"]))
        assert sold is not None
        assert await bind_stalking_horse(session, sold) is None
        stalking_horse = await session.get(Offer, uuid.UUID(made["id"]))
    assert stalking_horse is not None
    assert stalking_horse.status == "accepted"
