"""The auction API end to end: scheduling rules, deposits, bids, soft close, close, default, resale."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from marketplace.auctions.models import AuctionEvent, Deposit
from marketplace.settings import Settings
from tests.auctions.factories import (
    approved_listing,
    close_when_due,
    registered_bidder,
    schedule,
    wait_until,
    window,
)
from tests.helpers import BANK_A, BUYERS, OPERATOR, bearer, direct_db

Client = AsyncTestClient[Any]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"starting_price": 69_999_999}, "price_below_floor"),
        ({"deposit": 3_499_999}, "bad_deposit"),
        ({"deposit": 14_000_001}, "bad_deposit"),
        ({"duration": 1.0}, "too_short"),
    ],
    ids=["below-70pct", "deposit-under-5pct", "deposit-over-20pct", "too-short"],
)
async def test_schedule_rules_are_enforced(
    client: Client, settings: Settings, change: dict[str, Any], code: str
) -> None:
    listing_id = await approved_listing(settings)
    operator = await bearer(client, OPERATOR)
    change = dict(change)
    starts_at, ends_at = window(1.0, change.pop("duration", 60.0))
    body = {
        "kind": "auction",
        "starting_price": 70_000_000,
        "increment": 1_000_000,
        "deposit": 7_000_000,
        "starts_at": starts_at,
        "ends_at": ends_at,
    } | change
    response = await client.post(f"/api/listings/{listing_id}/auctions", json=body, headers=operator)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


async def test_only_the_operator_schedules(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings)
    starts_at, ends_at = window(1.0, 60.0)
    body = {
        "kind": "auction",
        "starting_price": 70_000_000,
        "increment": 1_000_000,
        "deposit": 7_000_000,
        "starts_at": starts_at,
        "ends_at": ends_at,
    }
    anonymous = await client.post(f"/api/listings/{listing_id}/auctions", json=body)
    assert anonymous.status_code == 401
    bank = await client.post(
        f"/api/listings/{listing_id}/auctions", json=body, headers=await bearer(client, BANK_A)
    )
    assert bank.status_code == 403


async def test_a_buyer_without_a_held_deposit_cannot_bid(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.0, duration=5)
    buyer = await bearer(client, BUYERS[0])
    unregistered = await client.post(
        f"/api/auctions/{auction['id']}/bids", json={"amount": 70_000_000}, headers=buyer
    )
    assert unregistered.status_code == 403
    assert unregistered.json()["code"] == "deposit_required"
    registration = await client.post(
        f"/api/auctions/{auction['id']}/registrations", json={"payment": "offline"}, headers=buyer
    )
    assert registration.status_code == 201
    assert registration.json()["deposit"]["status"] == "pending"
    assert registration.json()["deposit"]["instructions"]
    await wait_until(auction["starts_at"])
    pending = await client.post(
        f"/api/auctions/{auction['id']}/bids", json={"amount": 70_000_000}, headers=buyer
    )
    assert pending.status_code == 403
    assert pending.json()["code"] == "deposit_required"


async def test_the_listing_bank_and_staff_may_not_bid(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.0, duration=5)
    for email in (BANK_A, OPERATOR):
        headers = await bearer(client, email)
        registration = await client.post(
            f"/api/auctions/{auction['id']}/registrations", json={}, headers=headers
        )
        assert registration.status_code == 403
        assert registration.json()["code"] == "not_allowed_to_bid"
        bid = await client.post(
            f"/api/auctions/{auction['id']}/bids", json={"amount": 70_000_000}, headers=headers
        )
        assert bid.status_code == 403
        assert bid.json()["code"] == "not_allowed_to_bid"


async def test_the_pledgor_may_not_register(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings, pledgor="张三 Zhang San")
    auction = await schedule(client, listing_id, start_in=1.0, duration=5)
    response = await client.post(
        f"/api/auctions/{auction['id']}/registrations", json={}, headers=await bearer(client, BUYERS[0])
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed_to_bid"


async def test_bid_rejections_carry_their_codes(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.5, duration=4)
    aid = auction["id"]
    buyer, _ = await registered_bidder(client, aid, BUYERS[0])
    early = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 70_000_000}, headers=buyer)
    assert early.status_code == 409
    assert early.json()["code"] == "auction_not_open"
    await wait_until(auction["starts_at"])
    low = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 69_000_000}, headers=buyer)
    assert (low.status_code, low.json()["code"]) == (422, "bid_too_low")
    off_grid = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 70_500_000}, headers=buyer)
    assert (off_grid.status_code, off_grid.json()["code"]) == (422, "bad_increment")
    ok = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 70_000_000}, headers=buyer)
    assert ok.status_code == 201, ok.text
    zero = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 0}, headers=buyer)
    assert zero.status_code == 422
    await close_when_due(client, aid)
    late = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 80_000_000}, headers=buyer)
    assert (late.status_code, late.json()["code"]) == (409, "auction_closed")


async def test_a_retried_bid_with_the_same_idempotency_key_counts_once(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.0, duration=4)
    buyer, _ = await registered_bidder(client, auction["id"], BUYERS[0])
    await wait_until(auction["starts_at"])
    headers = buyer | {"Idempotency-Key": "bid-7f3a"}
    first = await client.post(
        f"/api/auctions/{auction['id']}/bids", json={"amount": 70_000_000}, headers=headers
    )
    again = await client.post(
        f"/api/auctions/{auction['id']}/bids", json={"amount": 70_000_000}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    bids = (await client.get(f"/api/auctions/{auction['id']}/bids")).json()
    assert len(bids) == 1


async def test_retries_racing_each_other_count_once_and_keys_are_per_bidder(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.0, duration=6)
    alice, _ = await registered_bidder(client, auction["id"], BUYERS[0])
    bob, _ = await registered_bidder(client, auction["id"], BUYERS[1])
    await wait_until(auction["starts_at"])
    url = f"/api/auctions/{auction['id']}/bids"
    same_key = {"Idempotency-Key": "retry-1"}
    answers = await asyncio.gather(
        *(client.post(url, json={"amount": 70_000_000}, headers=alice | same_key) for _ in range(6))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1, "every retry gets the first answer"
    # Bob's key has the same text: it is his own, so his bid is a new one.
    bob_bid = await client.post(url, json={"amount": 71_000_000}, headers=bob | same_key)
    assert bob_bid.status_code == 201, bob_bid.text
    assert bob_bid.json()["seq"] != answers[0].json()["seq"]
    bids = (await client.get(url)).json()
    assert [b["amount"] for b in bids] == [70_000_000, 71_000_000]


async def test_full_lifecycle_with_soft_close_default_and_resale(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings)
    first = await schedule(client, listing_id, start_in=0.5, duration=2.5, extension_seconds=2)
    aid = first["id"]
    alice, alice_reg = await registered_bidder(client, aid, BUYERS[0])
    bob, _bob_reg = await registered_bidder(client, aid, BUYERS[1])
    await wait_until(first["starts_at"])

    opening = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 70_000_000}, headers=alice)
    assert opening.status_code == 201, opening.text
    assert opening.json()["leader_code"] == alice_reg["bidder_code"]
    leading = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 71_000_000}, headers=alice)
    assert leading.json()["code"] == "already_leading"

    state = (await client.get(f"/api/auctions/{aid}")).json()
    await wait_until(state["ends_at"], slack=-1.0)  # inside the last 2 s: the soft-close window
    late = await client.post(f"/api/auctions/{aid}/bids", json={"amount": 72_000_000}, headers=bob)
    assert late.status_code == 201, late.text
    assert late.json()["extensions"] == 1
    assert late.json()["ends_at"] > state["ends_at"]

    closed = await close_when_due(client, aid)
    assert closed["status"] == "sold"
    assert closed["hammer_price"] == 72_000_000

    bids = (await client.get(f"/api/auctions/{aid}/bids")).json()
    assert [b["amount"] for b in bids] == [70_000_000, 72_000_000]
    text = str(bids)
    assert "Zhang" not in text
    assert "Li Si" not in text

    statuses: list[str] = []
    for _ in range(50):  # losers' deposits are released right after the close
        async with direct_db(settings) as session:
            rows = await session.scalars(select(Deposit).where(Deposit.auction_id == uuid.UUID(closed["id"])))
            statuses = sorted(d.status for d in rows)
        if statuses == ["applied", "released"]:
            break
        await asyncio.sleep(0.1)
    assert statuses == ["applied", "released"]

    confirmation = await client.get(f"/api/auctions/{aid}/confirmation", headers=bob)
    assert confirmation.status_code == 200
    assert confirmation.json()["winner_real_name"] == "李四 Li Si"
    assert confirmation.json()["balance_due"] == 72_000_000 - first["deposit"]
    assert (await client.get(f"/api/auctions/{aid}/confirmation", headers=alice)).status_code == 404
    assert (
        await client.get(f"/api/auctions/{aid}/confirmation", headers=await bearer(client, BANK_A))
    ).status_code == 200

    operator = await bearer(client, OPERATOR)
    defaulted = await client.post(f"/api/auctions/{aid}/default", headers=operator)
    assert defaulted.status_code == 200, defaulted.text
    assert defaulted.json()["status"] == "defaulted"
    async with direct_db(settings) as session:
        forfeited = await session.scalar(
            select(Deposit).where(
                Deposit.auction_id == uuid.UUID(closed["id"]), Deposit.status == "forfeited"
            )
        )
    assert forfeited is not None
    assert forfeited.amount == first["deposit"]

    too_deep = await client.post(
        f"/api/listings/{listing_id}/auctions",
        json={
            "kind": "auction",
            "starting_price": 55_999_999,
            "increment": 1_000_000,
            "deposit": 5_600_000,
            "starts_at": window(0.5, 3)[0],
            "ends_at": window(0.5, 3)[1],
            "extension_seconds": 1,
        },
        headers=operator,
    )
    assert (too_deep.status_code, too_deep.json()["code"]) == (422, "price_below_floor")
    second = await schedule(
        client, listing_id, starting_price=56_000_000, deposit=5_600_000, start_in=0.5, duration=2.5
    )
    assert second["round_no"] == 2
    barred = await client.post(f"/api/auctions/{second['id']}/registrations", json={}, headers=bob)
    assert (barred.status_code, barred.json()["code"]) == (403, "not_allowed_to_bid")
    alice2, _ = await registered_bidder(client, second["id"], BUYERS[0])
    await wait_until(second["starts_at"])
    assert (
        await client.post(f"/api/auctions/{second['id']}/bids", json={"amount": 56_000_000}, headers=alice2)
    ).status_code == 201
    final = await close_when_due(client, second["id"])
    assert final["status"] == "sold"
    assert final["hammer_price"] == 56_000_000

    log = (await client.get(f"/api/auctions/{aid}/log")).json()
    assert log["verified"] is True
    assert [e["type"] for e in log["entries"]] == ["opened", "bid", "bid", "extended", "closed", "defaulted"]


async def test_a_tampered_event_breaks_the_chain(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=1.0, duration=3)
    buyer, _ = await registered_bidder(client, auction["id"], BUYERS[0])
    await wait_until(auction["starts_at"])
    await client.post(f"/api/auctions/{auction['id']}/bids", json={"amount": 70_000_000}, headers=buyer)
    assert (await client.get(f"/api/auctions/{auction['id']}/log")).json()["verified"] is True
    async with direct_db(settings) as session:
        await session.execute(
            update(AuctionEvent)
            .where(AuctionEvent.seq == 2)
            .values(
                payload='{"amount":1,"bidder_code":"BXXXXX","at":"2026-01-01T00:00:00Z","ends_at":"2026-01-01T00:00:00Z","by_preemption":false}'
            )
        )
        await session.commit()
    log = (await client.get(f"/api/auctions/{auction['id']}/log")).json()
    assert log["verified"] is False
    assert log["broken_at_seq"] == 2


async def test_concurrent_bids_get_distinct_seqs_and_one_leader(client: Client, settings: Settings) -> None:
    listing_id = await approved_listing(settings)
    auction = await schedule(client, listing_id, start_in=0.5, duration=6, extension_seconds=1)
    bidders = [await registered_bidder(client, auction["id"], email) for email in BUYERS]
    await wait_until(auction["starts_at"])

    async def bid_many(headers: dict[str, str], offset: int) -> list[int]:
        accepted = []
        for k in range(offset, 30, 3):
            response = await client.post(
                f"/api/auctions/{auction['id']}/bids",
                json={"amount": 70_000_000 + k * 1_000_000},
                headers=headers,
            )
            if response.status_code == 201:
                accepted.append(response.json()["seq"])
        return accepted

    results = await asyncio.gather(*(bid_many(h, i) for i, (h, _) in enumerate(bidders)))
    seqs = sorted(s for r in results for s in r)
    assert len(seqs) == len(set(seqs))
    bids = (await client.get(f"/api/auctions/{auction['id']}/bids")).json()
    amounts = [b["amount"] for b in bids]
    assert amounts == sorted(amounts)
    assert len(set(amounts)) == len(amounts)
    state = (await client.get(f"/api/auctions/{auction['id']}")).json()
    assert state["current_price"] == amounts[-1]
    assert state["bids_count"] == len(bids)
