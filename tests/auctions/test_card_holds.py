"""Card deposits: a hold that would lapse before the round closes is re-authorised or flagged."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from marketplace.auctions import service
from marketplace.auctions.models import Deposit
from marketplace.deposits.memory import InMemoryGateway
from marketplace.settings import Settings
from tests.auctions.factories import approved_listing, schedule
from tests.helpers import BUYERS, bearer, direct_db


async def test_a_hold_lapsing_before_the_close_is_reauthorised(
    app: Litestar, client: AsyncTestClient[Any], settings: Settings
) -> None:
    cards = InMemoryGateway(hold_lifetime=timedelta(hours=1), reauthorization_margin=timedelta(minutes=10))
    offline = app.state.ctx.services["gateways"]
    app.state.ctx.services["gateways"] = lambda method, session: (
        cards if method == "stripe" else offline(method, session)
    )

    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=5, duration=3 * 86_400)
    buyer = await bearer(client, BUYERS[0])
    registration = await client.post(
        f"/api/auctions/{auction['id']}/registrations", json={"payment": "stripe"}, headers=buyer
    )
    assert registration.status_code == 201, registration.text
    assert registration.json()["deposit"]["status"] == "held"

    async with direct_db(settings) as session:
        deposit = await session.scalar(select(Deposit).where(Deposit.auction_id == uuid.UUID(auction["id"])))
        assert deposit is not None
        first_ref = deposit.provider_ref
        renewed = await service.reauthorize_expiring(
            session, lambda method, _: cards if method == "stripe" else None
        )
        await session.commit()
        assert renewed == 1
        assert deposit.provider_ref != first_ref
        assert deposit.status == "held"

    failing = InMemoryGateway(hold_lifetime=timedelta(hours=1))
    async with direct_db(settings) as session:
        deposit = await session.scalar(select(Deposit).where(Deposit.auction_id == uuid.UUID(auction["id"])))
        assert deposit is not None
        assert await service.reauthorize_expiring(session, lambda method, _: failing) == 0
        assert deposit.instructions["flag"] == "hold_expires_before_close"
