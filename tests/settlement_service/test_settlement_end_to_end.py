"""An auction sale settled end to end through the public API, once, however often it is asked."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.testing import AsyncTestClient

from marketplace.ledger import trial_balance, verify
from marketplace.settings import Settings
from tests.auctions.factories import close_when_due, registered_bidder, schedule, wait_until
from tests.helpers import BANK_A, BUYERS, GUARANTOR, OPERATOR, bearer, direct_db

from .factories import FRONT_LOADED, Counts, confirm_transfer, counts, listing_with_terms

Client = AsyncTestClient[Any]


async def test_an_auction_sale_is_settled_once_even_when_asked_twice_at_once_and_again(
    client: Client, settings: Settings
) -> None:
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    auction = await schedule(client, listing_id, start_in=0.5, duration=2.0)
    winner, _ = await registered_bidder(client, auction["id"], BUYERS[0])
    await registered_bidder(client, auction["id"], BUYERS[1])
    await wait_until(auction["starts_at"])
    bid = await client.post(
        f"/api/auctions/{auction['id']}/bids", json={"amount": 70_000_000}, headers=winner
    )
    assert bid.status_code == 201, bid.text
    closed = await close_when_due(client, auction["id"])
    assert (closed["status"], closed["hammer_price"]) == ("sold", 70_000_000)

    operator = await bearer(client, OPERATOR)
    early = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
    assert (early.status_code, early.json()["missing"]) == (409, ["balance_paid", "transfer_confirmed"])
    paid = await client.post(f"/api/auctions/{auction['id']}/balance-paid", headers=operator)
    assert paid.status_code == 200, paid.text
    await confirm_transfer(client, listing_id)

    first, second = await asyncio.gather(
        client.post(f"/api/listings/{listing_id}/settle", headers=operator),
        client.post(f"/api/listings/{listing_id}/settle", headers=operator),
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    retried = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
    assert retried.status_code == 200, retried.text
    bodies = [first.json(), second.json(), retried.json()]
    assert len({body["settlement_id"] for body in bodies}) == 1
    assert await counts(settings) == Counts(payout_rows=3, gateway_payouts=3, ledger_transactions=4)

    statement = await client.get(
        f"/api/listings/{listing_id}/settlement", headers=await bearer(client, GUARANTOR)
    )
    assert statement.status_code == 200, statement.text
    body = statement.json()
    assert {
        key: body[key]
        for key in ("hammer", "net", "claim", "recovered", "loss", "surplus_to_pledgor", "balanced")
    } == {
        "hammer": 70_000_000,
        "net": 68_000_000,
        "claim": 100_000_000,
        "recovered": 68_000_000,
        "loss": 32_000_000,
        "surplus_to_pledgor": 0,
        "balanced": True,
    }
    assert [(line["role"], line["loss_share"], line["receives"]) for line in body["lines"]] == [
        ("bank", 6_400_000, 13_600_000),
        ("guarantor", 12_800_000, 27_200_000),
        ("risk_pool", 12_800_000, 27_200_000),
    ]
    assert {p["role"]: (p["amount"], p["state"]) for p in body["payouts"]} == {
        "bank": (13_600_000, "sent"),
        "guarantor": (27_200_000, "sent"),
        "risk_pool": (27_200_000, "sent"),
    }
    assert all(p["ledger_transaction_id"] in body["ledger_transaction_ids"] for p in body["payouts"])
    assert body["reconciliation"]["ok"] is True
    assert body == retried.json() | {"reconciliation": body["reconciliation"]}

    listing = await client.get(f"/api/listings/{listing_id}", headers=await bearer(client, BANK_A))
    assert listing.json()["status"] == "settled"
    async with direct_db(settings) as session:
        assert set((await trial_balance(session)).values()) == {0}
        assert (await verify(session)).ok
