"""The wizard's form becomes exactly the API's listing draft (and the API's struct accepts it)."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontend.formatting import FormValueError, format_bp, format_plain_amount
from frontend.pages.listing_form import listing_draft
from marketplace.listings.schemas import ListingCreate

BANK = uuid.UUID("00000000-0000-0000-0000-00000000000b")
GUARANTOR = uuid.UUID("00000000-0000-0000-0000-00000000000a")
POOL = uuid.UUID("00000000-0000-0000-0000-00000000000c")


def wizard(**changes: Any) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {
        "title": ["测试专利组合"],
        "loan_ref": ["L-1"],
        "pledgor_name": ["示范科技"],
        "claim": ["1,000,000.00"],
        "default_date": ["2026-09-30"],
        "pledge_registry": ["cnipa"],
        "pledge_no": ["Y1"],
        "asset_kind": ["invention_patent", "utility_model"],
        "asset_number": ["CN1", "CN2"],
        "asset_title": ["方法", "装置"],
        "asset_consent": ["no", "yes"],
        "valuation_amount": ["1200000"],
        "valuation_method": ["internal"],
        "bank_ratio": ["20"],
        "guarantor_org": [str(GUARANTOR)],
        "guarantor_ratio": ["40"],
        "guarantor_advance": ["400,000"],
        "risk_pool_org": [str(POOL)],
        "risk_pool_ratio": ["40"],
        "cost_valuation_fee": ["3000"],
        "none_known": ["yes"],
    }
    for key, value in changes.items():
        form[key] = value if isinstance(value, list) else [value]
    return form


def test_a_complete_wizard_is_the_apis_draft() -> None:
    draft = listing_draft(wizard(), BANK)
    body = msgspec.convert(draft, ListingCreate)
    assert body.loan.claim == 100_000_000
    assert [(a.kind, a.number, a.co_owner_consent) for a in body.assets] == [
        ("invention_patent", "CN1", False),
        ("utility_model", "CN2", True),
    ]
    assert [(p.role, p.org_id, p.ratio_bp) for p in body.settlement.parties] == [
        ("bank", BANK, 2000),
        ("guarantor", GUARANTOR, 4000),
        ("risk_pool", POOL, 4000),
    ]
    assert [(a.role, a.amount) for a in body.settlement.advances] == [("guarantor", 40_000_000)]
    assert [(c.kind, c.amount) for c in body.settlement.costs] == [("valuation_fee", 300_000)]
    assert body.disclosures.none_known is True
    assert body.valuation.agency_org_id is None


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        pytest.param({"claim": "12.345"}, "bad_amount", "claim", id="claim-three-decimals"),
        pytest.param({"title": ""}, "required", "title", id="no-title"),
        pytest.param({"default_date": "30/09/2026"}, "bad_date", "default_date", id="date-format"),
        pytest.param(
            {"asset_number": ["", ""], "asset_title": ["", ""]}, "required", "asset_number", id="no-asset"
        ),
        pytest.param(
            {"asset_number": ["CN1", ""]}, "required", "asset_number (2)", id="asset-without-number"
        ),
        pytest.param({"guarantor_org": ""}, "required", "guarantor_org", id="party-without-organisation"),
        pytest.param(
            {"risk_pool_ratio": "40.001"}, "bad_ratio", "risk_pool_ratio", id="ratio-three-decimals"
        ),
        pytest.param({"licences": "CN1|someone|forever"}, "invalid_input", "licences", id="licence-kind"),
    ],
)
def test_a_field_that_cannot_be_read_is_named(changes: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(FormValueError) as refused:
        listing_draft(wizard(**changes), BANK)
    assert refused.value.code == code
    assert field in refused.value.detail


def test_a_party_without_ratio_or_advance_takes_no_part() -> None:
    draft = listing_draft(wizard(valuer_org=str(POOL), valuer_ratio="", valuer_advance=""), BANK)
    assert [p["role"] for p in draft["settlement"]["parties"]] == ["bank", "guarantor", "risk_pool"]


@given(
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=3, max_size=3),
    st.integers(min_value=0, max_value=10**12),
)
@settings(max_examples=100, deadline=None)
def test_typed_ratios_and_amounts_reach_the_draft_unrounded(ratios: list[int], claim: int) -> None:
    bank, guarantor, pool = ratios
    form = wizard(
        bank_ratio=format_bp(bank),
        guarantor_ratio=format_bp(guarantor) if guarantor else "",
        guarantor_advance="",
        risk_pool_ratio=format_bp(pool),
        claim=format_plain_amount(claim),
    )
    draft = listing_draft(form, BANK)
    parties = {p["role"]: p["ratio_bp"] for p in draft["settlement"]["parties"]}
    assert parties["bank"] == bank
    assert parties.get("guarantor", 0) == guarantor
    assert parties["risk_pool"] == pool
    assert draft["loan"]["claim"] == claim
