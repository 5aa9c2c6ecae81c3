"""Disposals by offer: an acquisition or an equity conversion settles like a sale; licence income
settles by the same ratios each time it arrives and repays the loan first."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from marketplace.settlement import compute_statement
from tests.helpers import ACQUIRER, BANK_A, OPERATOR, bearer
from tests.offers.factories import approved, offer
from tests.settlement.cases import make_case

from .factories import FRONT_LOADED, Counts, confirm_transfer, counts, listing_with_terms, sold_round

Client = AsyncTestClient[Any]
WORKED_EXAMPLE_PAYOUTS = {"bank": 13_600_000, "guarantor": 27_200_000, "risk_pool": 27_200_000}


@pytest.mark.parametrize(
    ("kind", "state", "gateway_payouts"),
    [
        pytest.param("acquisition", "sent", 3, id="an acquisition is paid out in money"),
        pytest.param("equity", "in_kind", 0, id="an equity conversion is distributed in kind"),
    ],
)
async def test_an_approved_offer_settles_like_a_sale(
    client: Client, settings: Settings, kind: str, state: str, gateway_payouts: int
) -> None:
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    made = await offer(client, listing_id, ACQUIRER, kind=kind, amount=70_000_000)
    await approved(client, made["id"])
    operator = await bearer(client, OPERATOR)
    early = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
    assert (early.status_code, early.json()["missing"]) == (409, ["payment_recorded", "transfer_confirmed"])
    paid = await client.post(f"/api/offers/{made['id']}/payment-received", headers=operator)
    assert paid.status_code == 200, paid.text
    await confirm_transfer(client, listing_id)

    settled = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
    assert settled.status_code == 200, settled.text
    body = settled.json()
    assert (body["route"], body["hammer"], body["net"]) == (kind, 70_000_000, 68_000_000)
    assert {p["role"]: p["amount"] for p in body["payouts"]} == WORKED_EXAMPLE_PAYOUTS
    assert {p["state"] for p in body["payouts"]} == {state}
    assert body["reconciliation"]["ok"] is True
    assert await counts(settings) == Counts(
        payout_rows=3, gateway_payouts=gateway_payouts, ledger_transactions=4
    )


async def test_licence_royalties_settle_as_they_arrive_and_the_sale_settles_the_rest(
    client: Client, settings: Settings
) -> None:
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    licence = await offer(client, listing_id, ACQUIRER, kind="license", amount=0)
    await approved(client, licence["id"])
    operator = await bearer(client, OPERATOR)

    royalty = await client.post(
        f"/api/offers/{licence['id']}/royalties",
        json={"amount": 10_000_000, "period": "2026-Q4"},
        headers=operator,
    )
    assert royalty.status_code == 200, royalty.text
    first = royalty.json()
    assert (first["kind"], first["recovered"]) == ("royalty", 8_000_000)
    assert {p["role"]: p["amount"] for p in first["payouts"]} == {
        "bank": 1_600_000,
        "guarantor": 3_200_000,
        "risk_pool": 3_200_000,
    }
    again = await client.post(
        f"/api/offers/{licence['id']}/royalties",
        json={"amount": 10_000_000, "period": "2026-Q4"},
        headers=operator,
    )
    assert again.json()["settlement_id"] == first["settlement_id"]
    changed = await client.post(
        f"/api/offers/{licence['id']}/royalties",
        json={"amount": 9_000_000, "period": "2026-Q4"},
        headers=operator,
    )
    assert (changed.status_code, changed.json()["code"]) == (409, "royalty_recorded")
    listing = await client.get(f"/api/listings/{listing_id}", headers=operator)
    assert listing.json()["status"] == "approved"

    await sold_round(settings, listing_id, 70_000_000)
    await confirm_transfer(client, listing_id)
    settled = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
    assert settled.status_code == 200, settled.text
    body = settled.json()
    whole = compute_statement(
        make_case(
            parties=[("bank", 2000), ("guarantor", 4000), ("risk_pool", 4000)],
            claim=100_000_000,
            hammer=80_000_000,
            costs=[2_000_000],
            advances=[("guarantor", 40_000_000), ("risk_pool", 40_000_000)],
        )
    )
    assert body["net"] == whole.net == 78_000_000
    assert [line["receives"] for line in body["lines"]] == [line.receives for line in whole.lines]
    paid: dict[str, int] = {}
    for payout in body["payouts"]:
        paid[payout["role"]] = paid.get(payout["role"], 0) + payout["amount"]
    assert paid == {line.role: line.receives for line in whole.lines}
    assert [s["kind"] for s in body["settlements"]] == ["royalty", "disposal"]
    assert body["reconciliation"]["ok"] is True

    late = await client.post(
        f"/api/offers/{licence['id']}/royalties",
        json={"amount": 1_000_000, "period": "2027-Q1"},
        headers=operator,
    )
    assert (late.status_code, late.json()["code"]) == (409, "already_settled")


@pytest.mark.parametrize(
    ("approve", "email", "status", "code"),
    [
        pytest.param(False, OPERATOR, 409, "not_a_licence", id="a licence not yet approved"),
        pytest.param(True, BANK_A, 403, "wrong_role", id="recorded by the bank"),
    ],
)
async def test_royalties_need_an_approved_licence_and_an_operator(
    client: Client, settings: Settings, approve: bool, email: str, status: int, code: str
) -> None:
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    licence = await offer(client, listing_id, ACQUIRER, kind="license", amount=0)
    if approve:
        await approved(client, licence["id"])
    response = await client.post(
        f"/api/offers/{licence['id']}/royalties",
        json={"amount": 1_000, "period": "2026-11"},
        headers=await bearer(client, email),
    )
    assert (response.status_code, response.json()["code"]) == (status, code)
