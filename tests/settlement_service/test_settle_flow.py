"""Settling a sold listing through the API: readiness, the statement, payouts, payables, ledger.

Rounds are written straight to the database here (the auction end to end is in
``test_settlement_end_to_end.py``); everything after the hammer goes through the public API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.ledger import trial_balance, verify
from marketplace.settings import Settings
from tests.helpers import BANK_A, BANK_B, BUYERS, GUARANTOR, OPERATOR, POOL, bearer, direct_db

from .factories import (
    FRONT_LOADED,
    Counts,
    Terms,
    confirm_transfer,
    counts,
    listing_with_terms,
    sold_round,
)

Client = AsyncTestClient[Any]


@dataclass(frozen=True)
class Scenario:
    terms: Terms
    hammer: int
    forfeited: int = 0
    pledgor: str = "示范科技有限公司"
    payouts: dict[str, int] = field(default_factory=dict)
    payables: list[tuple[str, str, int]] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)


SCENARIOS = [
    pytest.param(
        Scenario(
            FRONT_LOADED,
            70_000_000,
            payouts={"bank": 13_600_000, "guarantor": 27_200_000, "risk_pool": 27_200_000},
            figures={"net": 68_000_000, "recovered": 68_000_000, "loss": 32_000_000, "surplus_to_pledgor": 0},
        ),
        id="front-loaded: the worked example of domain.md",
    ),
    pytest.param(
        Scenario(
            Terms(
                ratios={"bank": 2000, "guarantor": 4000, "risk_pool": 4000},
                costs={"valuation_fee": 2_000_000},
            ),
            70_000_000,
            payouts={"bank": 68_000_000},
            payables=[("guarantor", "bank", 12_800_000), ("risk_pool", "bank", 12_800_000)],
            figures={"bank_receives": 93_600_000, "loss": 32_000_000},
        ),
        id="post-disposal: the bank takes the proceeds, the others owe it their loss shares",
    ),
    pytest.param(
        Scenario(
            Terms(ratios={"bank": 10_000}, claim=50_000_000, costs={"announcement": 2_000_000}),
            70_000_000,
            payouts={"bank": 50_000_000, "pledgor": 18_000_000},
            figures={"surplus_to_pledgor": 18_000_000, "loss": 0},
        ),
        id="a surplus above the claim goes to the pledgor",
    ),
    pytest.param(
        Scenario(
            Terms(ratios={"bank": 10_000}, costs={"registry_fee": 2_000_000}),
            70_000_000,
            forfeited=7_000_000,
            payouts={"bank": 75_000_000},
            figures={"forfeited_deposits": 7_000_000, "net": 75_000_000},
        ),
        id="the forfeited deposit of a defaulted round counts toward the proceeds",
    ),
    pytest.param(
        Scenario(
            Terms(
                ratios={"bank": 2000, "guarantor": 8000},
                advances={"guarantor": 100_000_000},
                costs={"valuation_fee": 2_000_000},
            ),
            70_000_000,
            payouts={"guarantor": 68_000_000},
            payables=[("bank", "guarantor", 6_400_000)],
            figures={"bank_receives": -6_400_000},
        ),
        id="a guarantor that paid the whole claim: escrow pays it all, the bank owes it the rest",
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_settle_pays_each_party_what_the_statement_says(
    client: Client, settings: Settings, scenario: Scenario
) -> None:
    listing_id = await listing_with_terms(settings, scenario.terms, pledgor=scenario.pledgor)
    await sold_round(settings, listing_id, scenario.hammer, forfeited=scenario.forfeited)
    await confirm_transfer(client, listing_id)
    operator = await bearer(client, OPERATOR)

    settled = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
    assert settled.status_code == 200, settled.text
    body = settled.json()

    assert body["balanced"] is True
    assert body["hammer"] == scenario.hammer
    for name, value in scenario.figures.items():
        assert body[name] == value, name
    assert {p["role"]: p["amount"] for p in body["payouts"]} == scenario.payouts
    assert all(p["state"] == "sent" and p["provider_ref"].startswith("PAY-") for p in body["payouts"])
    assert all(p["idempotency_key"] == f"payout:{body['settlement_id']}:{p['role']}" for p in body["payouts"])
    assert {p["transfer_group"] for p in body["payouts"]} == {f"settlement:{body['settlement_id']}"}
    assert sorted((p["debtor_role"], p["creditor_role"], p["amount"]) for p in body["payables"]) == sorted(
        scenario.payables
    )
    for line in body["lines"]:
        assert line["receives"] == line["paid_out"] + line["payables_in"] - line["payables_out"]
    assert body["reconciliation"]["ok"] is True, [c for c in body["reconciliation"]["checks"] if not c["ok"]]
    assert len(body["ledger_transaction_ids"]) == 1 + len(scenario.payouts)

    listing = (await client.get(f"/api/listings/{listing_id}", headers=operator)).json()
    assert listing["status"] == "settled"
    async with direct_db(settings) as session:
        assert set((await trial_balance(session)).values()) == {0}
        assert (await verify(session)).ok


@pytest.mark.parametrize(
    ("balance_paid", "transfer", "sold", "missing"),
    [
        pytest.param(False, False, True, ["balance_paid", "transfer_confirmed"], id="nothing done yet"),
        pytest.param(True, False, True, ["transfer_confirmed"], id="paid, transfer not confirmed"),
        pytest.param(False, True, True, ["balance_paid"], id="transfer confirmed, balance unpaid"),
        pytest.param(
            False, False, False, ["listing_sold", "sale", "transfer_confirmed"], id="not sold at all"
        ),
    ],
)
async def test_settling_too_early_names_what_is_missing(
    client: Client, settings: Settings, balance_paid: bool, transfer: bool, sold: bool, missing: list[str]
) -> None:
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    if sold:
        await sold_round(settings, listing_id, 70_000_000, balance_paid=balance_paid)
    if transfer:
        await confirm_transfer(client, listing_id)
    response = await client.post(f"/api/listings/{listing_id}/settle", headers=await bearer(client, OPERATOR))
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "not_ready"
    assert response.json()["missing"] == missing
    assert await counts(settings) == Counts(0, 0, 0)


@pytest.mark.parametrize(
    ("email", "status"),
    [
        pytest.param(None, 401, id="anonymous"),
        pytest.param(BANK_A, 403, id="the owning bank"),
        pytest.param(BUYERS[0], 403, id="a buyer"),
    ],
)
async def test_only_an_operator_settles(
    client: Client, settings: Settings, email: str | None, status: int
) -> None:
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    await sold_round(settings, listing_id, 70_000_000)
    await confirm_transfer(client, listing_id)
    headers = await bearer(client, email) if email else {}
    response = await client.post(f"/api/listings/{listing_id}/settle", headers=headers)
    assert response.status_code == status, response.text


async def _settled(client: Client, settings: Settings) -> uuid.UUID:
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    await sold_round(settings, listing_id, 70_000_000)
    await confirm_transfer(client, listing_id)
    settled = await client.post(f"/api/listings/{listing_id}/settle", headers=await bearer(client, OPERATOR))
    assert settled.status_code == 200, settled.text
    return listing_id


@pytest.mark.parametrize(
    ("email", "status"),
    [
        pytest.param(BANK_A, 200, id="the owning bank"),
        pytest.param(GUARANTOR, 200, id="a settlement party: the guarantor"),
        pytest.param(POOL, 200, id="a settlement party: the risk pool"),
        pytest.param(OPERATOR, 200, id="an operator"),
        pytest.param(BANK_B, 404, id="another bank"),
        pytest.param(BUYERS[0], 404, id="a buyer"),
        pytest.param(None, 401, id="anonymous"),
    ],
)
async def test_who_reads_the_statement(
    client: Client, settings: Settings, email: str | None, status: int
) -> None:
    listing_id = await _settled(client, settings)
    headers = await bearer(client, email) if email else {}
    for suffix in ("", ".csv", ".pdf"):
        response = await client.get(f"/api/listings/{listing_id}/settlement{suffix}", headers=headers)
        assert response.status_code == status, (suffix, response.text)


async def test_the_statement_of_an_unsettled_listing_is_not_found(client: Client, settings: Settings) -> None:
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    response = await client.get(
        f"/api/listings/{listing_id}/settlement", headers=await bearer(client, BANK_A)
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_settled")


async def test_a_failed_payout_is_retried_with_the_same_key_and_sent_once(
    client: Client, settings: Settings
) -> None:
    app = client.app
    real = app.state.ctx.services["gateways"]
    app.state.ctx.services["gateways"] = lambda method, session: None
    try:
        listing_id = await listing_with_terms(settings, FRONT_LOADED)
        await sold_round(settings, listing_id, 70_000_000)
        await confirm_transfer(client, listing_id)
        operator = await bearer(client, OPERATOR)
        first = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
        assert first.status_code == 200, first.text
        assert {p["state"] for p in first.json()["payouts"]} == {"failed"}
        assert first.json()["reconciliation"]["ok"] is True
    finally:
        app.state.ctx.services["gateways"] = real
    retried = await client.post(f"/api/listings/{listing_id}/settle", headers=operator)
    assert retried.status_code == 200, retried.text
    assert retried.json()["settlement_id"] == first.json()["settlement_id"]
    assert {p["state"] for p in retried.json()["payouts"]} == {"sent"}
    assert [p["idempotency_key"] for p in retried.json()["payouts"]] == [
        p["idempotency_key"] for p in first.json()["payouts"]
    ]
    assert await counts(settings) == Counts(3, 3, 4)


async def test_the_exchange_commission_and_court_tiered_premium_apply_when_configured(
    settings: Settings,
) -> None:
    configured = settings.with_(
        extra={"settlement_commission_bp": "100", "settlement_premium_schedule": "court_tiered"}
    )
    async with AsyncTestClient(app=create_app(configured)) as client:
        listing_id = await listing_with_terms(
            configured, Terms(ratios={"bank": 10_000}, costs={"valuation_fee": 2_000_000})
        )
        await sold_round(configured, listing_id, 70_000_000)
        await confirm_transfer(client, listing_id)
        body = (
            await client.post(f"/api/listings/{listing_id}/settle", headers=await bearer(client, OPERATOR))
        ).json()
    assert (body["commission"], body["premium"], body["buyer_pays"]) == (700_000, 3_500_000, 73_500_000)
    assert body["net"] == 70_000_000 - 700_000 - 2_000_000
    assert {p["role"]: p["amount"] for p in body["payouts"]} == {"bank": 67_300_000}
    exchange = [e for e in body["ledger_entries"] if e["account"] == "exchange:revenue:CNY"]
    assert sum(e["amount"] for e in exchange) == -(700_000 + 3_500_000)
    assert body["reconciliation"]["ok"] is True


async def test_the_filed_statement_lists_every_payout_and_ledger_transaction(
    client: Client, settings: Settings
) -> None:
    listing_id = await _settled(client, settings)
    bank = await bearer(client, BANK_A)
    view = (await client.get(f"/api/listings/{listing_id}/settlement", headers=bank)).json()
    as_csv = await client.get(f"/api/listings/{listing_id}/settlement.csv", headers=bank)
    assert as_csv.headers["content-type"].startswith("text/csv")
    text = as_csv.content.decode("utf-8-sig")
    assert all(str(transaction_id) in text for transaction_id in view["ledger_transaction_ids"])
    assert all(payout["idempotency_key"] in text for payout in view["payouts"])
    assert "valuation_fee" in text
    assert "华夏示范银行" in text
    assert text.rstrip().endswith("OK to the fen")
    as_pdf = await client.get(f"/api/listings/{listing_id}/settlement.pdf", headers=bank)
    assert as_pdf.headers["content-type"] == "application/pdf"
    assert as_pdf.content.startswith(b"%PDF-")
