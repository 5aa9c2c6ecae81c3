"""Pure listing rules: the transition table, settlement-terms validation, arrears cost lines."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from marketplace.errors import Conflict, Invalid
from marketplace.listings.models import LISTING_STATUSES
from marketplace.listings.schemas import SettlementTermsIn
from marketplace.listings.service import TRANSITIONS, can_transition, check_transition
from marketplace.listings.terms import (
    ARREARS_COST_KIND,
    party_org_ids,
    terms_json,
    validate_terms,
    with_arrears_costs,
)

BANK = uuid.UUID(int=1)
GUARANTOR = uuid.UUID(int=2)
POOL = uuid.UUID(int=3)

LEGAL = [
    ("draft", "submitted"),
    ("draft", "withdrawn"),
    ("submitted", "approved"),
    ("submitted", "rejected"),
    ("submitted", "withdrawn"),
    ("rejected", "submitted"),
    ("rejected", "withdrawn"),
    ("approved", "in_disposal"),
    ("approved", "withdrawn"),
    ("in_disposal", "sold"),
    ("in_disposal", "failed"),
    ("in_disposal", "withdrawn"),
    ("sold", "settled"),
    ("sold", "in_disposal"),
    ("failed", "in_disposal"),
]


@pytest.mark.parametrize(
    ("from_status", "to_status"), [pytest.param(*pair, id="→".join(pair)) for pair in LEGAL]
)
def test_legal_transitions(from_status: str, to_status: str) -> None:
    assert can_transition(from_status, to_status)
    check_transition(from_status, to_status)


ILLEGAL = [
    (from_status, to_status)
    for from_status in LISTING_STATUSES
    for to_status in LISTING_STATUSES
    if (from_status, to_status) not in LEGAL
]


@pytest.mark.parametrize(
    ("from_status", "to_status"), [pytest.param(*pair, id="→".join(pair)) for pair in ILLEGAL]
)
def test_every_other_transition_is_refused(from_status: str, to_status: str) -> None:
    expected = (
        "already_sold"
        if to_status == "withdrawn" and from_status in ("sold", "settled")
        else "illegal_transition"
    )
    with pytest.raises(Conflict) as error:
        check_transition(from_status, to_status)
    assert error.value.code == expected


def test_the_table_names_only_known_statuses() -> None:
    assert set(TRANSITIONS) == set(LISTING_STATUSES)
    assert all(targets <= set(LISTING_STATUSES) for targets in TRANSITIONS.values())


def terms(**changes: Any) -> SettlementTermsIn:
    body: dict[str, Any] = {
        "parties": [
            {"role": "bank", "org_id": str(BANK), "ratio_bp": 2000},
            {"role": "guarantor", "org_id": str(GUARANTOR), "ratio_bp": 4000},
            {"role": "risk_pool", "org_id": str(POOL), "ratio_bp": 4000},
        ],
        "advances": [{"role": "guarantor", "amount": 400}, {"role": "risk_pool", "amount": 400}],
        "costs": [{"kind": "valuation_fee", "amount": 30}],
    }
    body.update(changes)
    return msgspec.convert(body, SettlementTermsIn)


@pytest.mark.parametrize(
    ("changes", "claim", "code"),
    [
        pytest.param({}, 1000, None, id="valid"),
        pytest.param(
            {"parties": [{"role": "bank", "org_id": str(BANK), "ratio_bp": 10_000}], "advances": []},
            1000,
            None,
            id="bank-alone",
        ),
        pytest.param(
            {
                "parties": [{"role": "guarantor", "org_id": str(GUARANTOR), "ratio_bp": 10_000}],
                "advances": [],
            },
            1000,
            "bank_line_missing",
            id="no-bank-line",
        ),
        pytest.param(
            {"parties": [{"role": "bank", "org_id": str(POOL), "ratio_bp": 10_000}], "advances": []},
            1000,
            "bank_line_not_listing_bank",
            id="bank-line-names-another-org",
        ),
        pytest.param(
            {
                "parties": [
                    {"role": "bank", "org_id": str(BANK), "ratio_bp": 5000},
                    {"role": "bank", "org_id": str(BANK), "ratio_bp": 5000},
                ],
                "advances": [],
            },
            1000,
            "duplicate_role",
            id="bank-twice",
        ),
        pytest.param(
            {"parties": [{"role": "bank", "org_id": str(BANK), "ratio_bp": 9999}], "advances": []},
            1000,
            "ratios_not_10000",
            id="ratios-short-by-1bp",
        ),
        pytest.param({}, 799, "advance_above_claim", id="advances-above-claim"),
        pytest.param(
            {"advances": [{"role": "valuer", "amount": 1}]}, 1000, "advance_without_party", id="stranger"
        ),
        pytest.param({"advances": [{"role": "bank", "amount": 1}]}, 1000, "bank_advance", id="bank-advances"),
        pytest.param(
            {"costs": [{"kind": "annual_fee_arrears:CN1", "amount": 1}]},
            1000,
            "reserved_cost_kind",
            id="arrears",
        ),
    ],
)
def test_validate_terms(changes: dict[str, Any], claim: int, code: str | None) -> None:
    if code is None:
        validate_terms(terms(**changes), bank_org_id=BANK, claim=claim)
        return
    with pytest.raises(Invalid) as error:
        validate_terms(terms(**changes), bank_org_id=BANK, claim=claim)
    assert error.value.code == code


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4))
def test_terms_are_valid_exactly_when_the_ratios_sum_to_10000(other_ratios: list[int]) -> None:
    roles = ("guarantor", "risk_pool", "valuer", "insurer")
    bank_ratio = max(0, 10_000 - sum(other_ratios[1:]))
    parties = [{"role": "bank", "org_id": str(BANK), "ratio_bp": min(bank_ratio, 10_000)}]
    parties += [
        {"role": role, "org_id": str(uuid.UUID(int=10 + i)), "ratio_bp": ratio}
        for i, (role, ratio) in enumerate(zip(roles, other_ratios[1:], strict=False))
    ]
    candidate = terms(parties=parties, advances=[])
    total = sum(party["ratio_bp"] for party in parties)
    if total == 10_000:
        validate_terms(candidate, bank_org_id=BANK, claim=0)
    else:
        with pytest.raises(Invalid) as error:
            validate_terms(candidate, bank_org_id=BANK, claim=0)
        assert error.value.code == "ratios_not_10000"


def test_stored_terms_name_the_parties() -> None:
    stored = terms_json(terms())
    assert party_org_ids(stored) == {BANK, GUARANTOR, POOL}
    assert party_org_ids({"parties": [{"org_id": "not-a-uuid"}]}) == set()


@hypothesis_settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["CN1", "CN2", "CN3"]), st.integers(0, 10**9)), max_size=5),
    st.lists(st.tuples(st.sampled_from(["CN1", "CN4"]), st.integers(0, 10**9)), max_size=5),
)
def test_arrears_lines_are_replaced_never_added_twice(
    first: list[tuple[str, int]], second: list[tuple[str, int]]
) -> None:
    base = terms_json(terms())
    once = with_arrears_costs(base, first)
    twice = with_arrears_costs(once, second)
    assert twice == with_arrears_costs(base, second)
    arrears = [cost for cost in twice["costs"] if cost["kind"].startswith(ARREARS_COST_KIND)]
    assert sum(cost["amount"] for cost in arrears) == sum(amount for _, amount in second)
    assert [cost for cost in twice["costs"] if not cost["kind"].startswith(ARREARS_COST_KIND)] == base[
        "costs"
    ]
