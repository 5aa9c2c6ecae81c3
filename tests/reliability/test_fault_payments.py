"""Payment faults: webhooks delivered twice, late or out of order; a payout whose answer was lost.

Webhooks go to two app processes at once (the ``payment_events`` row decides which one applies
an event); the payout test loses the fake Stripe's answer after the transfer was made, as a
timeout would, and retries the settlement's payouts with the same keys.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from marketplace.auctions.models import Deposit, PaymentEvent
from marketplace.deposits.stripe_gateway import StripeGateway
from marketplace.settings import Settings
from marketplace.settlement.models import SettlementPayout
from tests.auctions.factories import approved_listing
from tests.fakes.stripe_server import Served, running_fake_stripe, sign_payload
from tests.helpers import OPERATOR, bearer, direct_db
from tests.procs import running_apps
from tests.reliability.market import BIDDER_PASSWORD, schedule_round, token, wait_for
from tests.reliability.services import Services
from tests.settlement_service.factories import (
    FRONT_LOADED,
    confirm_transfer,
    listing_with_terms,
    sold_round,
)

pytestmark = pytest.mark.fault

STRIPE_KEY = "sk_test_reliability"
WEBHOOK_SECRET = "whsec_reliability"


@pytest.fixture
def fake_stripe() -> Iterator[Served]:
    with running_fake_stripe() as served:
        yield served


async def _stripe_bidder(http: httpx.AsyncClient, base: str, auction_id: str) -> tuple[dict[str, str], str]:
    email = f"card-{uuid.uuid4().hex[:8]}@buyer.demo"
    registered = await http.post(
        f"{base}/api/buyers/register",
        json={
            "email": email,
            "password": BIDDER_PASSWORD,
            "real_name": "Card Bidder",
            "id_number": "ID-4242",
        },
    )
    assert registered.status_code == 201, registered.text
    headers = await token(http, base, email, BIDDER_PASSWORD)
    registration = await http.post(
        f"{base}/api/auctions/{auction_id}/registrations", json={"payment": "stripe"}, headers=headers
    )
    assert registration.status_code == 201, registration.text
    deposit = registration.json()["deposit"]
    assert deposit["status"] == "held", deposit
    return headers, str(deposit["instructions"]["payment_intent"])


async def _deliver(http: httpx.AsyncClient, base: str, payload: bytes, signature: str) -> httpx.Response:
    return await http.post(
        f"{base}/api/payments/stripe/webhook",
        content=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )


async def _deposit_status(database_url: str, provider_ref: str) -> tuple[str, int]:
    async with direct_db(Settings(database_url=database_url)) as session:
        status = await session.scalar(select(Deposit.status).where(Deposit.provider_ref == provider_ref))
        events = await session.scalar(select(func.count()).select_from(PaymentEvent))
    return str(status), int(events or 0)


@pytest.mark.multiprocess
async def test_a_webhook_twice_late_or_out_of_order_changes_nothing_twice(
    services: Services, fake_stripe: Served, tmp_path: Path
) -> None:
    fake = fake_stripe.fake
    env = services.env(
        tmp_path / "data",
        PAYMENTS="stripe",
        STRIPE_API_KEY=STRIPE_KEY,
        STRIPE_API_BASE=fake_stripe.base_url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    listing_id = await approved_listing(Settings(database_url=services.postgres.url()))
    with running_apps(env, tmp_path, 2) as apps:
        a, b = apps
        async with httpx.AsyncClient(timeout=30) as http:
            created = await schedule_round(http, a.url, listing_id, start_in=1, duration=30)
            aid = created["id"]
            bidder, intent = await _stripe_bidder(http, a.url, aid)
            assert await wait_for(lambda: _open(http, a.url, aid), 15)

            held_earlier = fake.event_payload(
                intent, "payment_intent.amount_capturable_updated", created=int(time.time()) - 60
            )
            fake.advance(8 * 24 * 3600)  # the card authorisation lapses
            lapsed = fake.event_payload(intent, "payment_intent.canceled")
            signature = sign_payload(lapsed, WEBHOOK_SECRET)

            twice = await asyncio.gather(*(_deliver(http, app.url, lapsed, signature) for app in (a, b)))
            assert [r.status_code for r in twice] == [200, 200], [r.text for r in twice]
            assert sorted(r.json()["outcome"] for r in twice) == ["applied", "duplicate"]
            assert await _deposit_status(services.postgres.url(), intent) == ("lapsed", 1)

            late = await _deliver(http, b.url, held_earlier, sign_payload(held_earlier, WEBHOOK_SECRET))
            again = await _deliver(http, a.url, lapsed, sign_payload(lapsed, WEBHOOK_SECRET))
            forged = await _deliver(http, b.url, lapsed.replace(b"canceled", b"succeeded"), signature)
            unknown = fake.event_payload(
                (await _other_intent(fake_stripe)), "payment_intent.amount_capturable_updated"
            )
            stranger = await _deliver(http, a.url, unknown, sign_payload(unknown, WEBHOOK_SECRET))
            unsecured_bid = await http.post(
                f"{a.url}/api/auctions/{aid}/bids", json={"amount": 70_000_000}, headers=bidder
            )

    assert (late.status_code, late.json()["outcome"]) == (200, "stale")
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert (forged.status_code, forged.json()["code"]) == (400, "invalid_signature")
    assert (stranger.status_code, stranger.json()["outcome"]) == (200, "unknown_object")
    assert await _deposit_status(services.postgres.url(), intent) == ("lapsed", 3)
    assert (unsecured_bid.status_code, unsecured_bid.json()["code"]) == (403, "deposit_required")


async def _open(http: httpx.AsyncClient, base: str, auction_id: str) -> bool:
    return bool((await http.get(f"{base}/api/auctions/{auction_id}")).json()["status"] == "open")


async def _other_intent(served: Served) -> str:
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.post(
            "/v1/payment_intents",
            data={
                "amount": "1000",
                "currency": "cny",
                "capture_method": "manual",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
            headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
async def test_a_payout_retried_after_a_lost_answer_is_paid_once(
    client: AsyncTestClient[Any], settings: Settings, fake_stripe: Served
) -> None:
    fake = fake_stripe.fake
    gateway = StripeGateway(STRIPE_KEY, api_base=fake_stripe.base_url, max_network_retries=0)
    original = client.app.state.ctx.services["gateways"]
    client.app.state.ctx.services["gateways"] = lambda method, session: _ConnectedAccounts(gateway)
    try:
        listing_id = await listing_with_terms(settings, FRONT_LOADED)
        await sold_round(settings, listing_id, 70_000_000)
        await confirm_transfer(client, listing_id)
        operator = await bearer(client, OPERATOR)
        fake.drop_next_response("/v1/transfers")
        first = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
        assert first.status_code == 200, first.text
        states = sorted(p["state"] for p in first.json()["payouts"])
        assert "failed" in states, states
        made_before_retry = fake.counts["transfers.create"]
        retried = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
        again = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
    finally:
        client.app.state.ctx.services["gateways"] = original
        await gateway.aclose()

    assert retried.status_code == 200, retried.text
    assert again.status_code == 200, again.text
    payouts = retried.json()["payouts"]
    assert {p["state"] for p in payouts} == {"sent"}
    assert made_before_retry == len(payouts)
    assert fake.counts["transfers.create"] == len(payouts)
    assert {p["provider_ref"] for p in payouts} == set(fake.transfers)
    async with direct_db(settings) as session:
        rows = list(await session.scalars(select(SettlementPayout)))
    assert sorted((r.state, r.attempts) for r in rows) == sorted(
        ("sent", 2 if r.idempotency_key == _dropped_key(fake) else 1) for r in rows
    )


class _ConnectedAccounts:
    """The Stripe gateway with every payee mapped to a connected account, as an exchange sets it up."""

    name = "stripe"

    def __init__(self, gateway: StripeGateway) -> None:
        self._gateway = gateway

    async def payout(self, **terms: Any) -> Any:
        payee = str(terms["payee_ref"]).replace(":", "_").replace("-", "")[:40]
        return await self._gateway.payout(**{**terms, "payee_ref": f"acct_{payee}"})


def _dropped_key(fake: Any) -> str | None:
    keys = [key for method, path, key in fake.requests if method == "POST" and path == "/v1/transfers"]
    repeated = [key for key in keys if keys.count(key) > 1]
    return repeated[0] if repeated else None
