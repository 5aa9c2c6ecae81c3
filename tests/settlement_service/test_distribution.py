"""What one settlement moves: cash out of escrow, payables between parties, balanced ledger legs.

Pure tests of :mod:`marketplace.settlement.service`'s distribution functions, no database.
"""

from __future__ import annotations

import uuid

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.ledger.service import check_balanced, totals_by_currency
from marketplace.settlement import Case, compute_statement
from marketplace.settlement.service import (
    Payable,
    cash_plan,
    distribution,
    settlement_legs,
    totals_of,
)
from tests.settlement.cases import DOMAIN_EXAMPLE, make_case
from tests.settlement.test_calculator_properties import cases

LISTING = uuid.UUID("00000000-0000-4000-8000-000000000001")
ORGS = {
    role: uuid.UUID(int=index + 1)
    for index, role in enumerate(["bank", "guarantor", "risk_pool", "valuer", "insurer"])
}


def legs_for(case: Case) -> tuple[dict[str, int], list[Payable], int]:
    statement = compute_statement(case)
    moved = distribution(None, totals_of(statement), [line.role for line in statement.lines])
    legs = settlement_legs(moved, source="escrow:CNY", currency="CNY", listing_id=LISTING, org_of=ORGS)
    check_balanced(legs)
    return dict(moved.cash), list(moved.payables), moved.gross_in


def test_the_worked_example_pays_each_party_its_share_of_the_proceeds() -> None:
    cash, payables, gross_in = legs_for(DOMAIN_EXAMPLE)
    assert cash == {"bank": 13_600_000, "guarantor": 27_200_000, "risk_pool": 27_200_000}
    assert payables == []
    assert gross_in == 70_000_000


@pytest.mark.parametrize(
    ("receives", "cash", "payables"),
    [
        pytest.param(
            [("bank", 600), ("guarantor", -200), ("risk_pool", -200)],
            {"bank": 200},
            [Payable("guarantor", "bank", 200), Payable("risk_pool", "bank", 200)],
            id="post-disposal: the bank takes the proceeds, the others owe it their loss shares",
        ),
        pytest.param(
            [("bank", -180), ("guarantor", 280)],
            {"guarantor": 100, "bank": 0},
            [Payable("bank", "guarantor", 180)],
            id="an advance above the ratio: escrow cannot pay it, the bank owes the rest",
        ),
        pytest.param(
            [("bank", -10), ("guarantor", 30), ("risk_pool", 10)],
            {"guarantor": 23, "risk_pool": 7, "bank": 0},
            [Payable("bank", "guarantor", 7), Payable("bank", "risk_pool", 3)],
            id="escrow short of two advances is split by largest remainder",
        ),
        pytest.param(
            [("bank", 0), ("guarantor", 0)],
            {"bank": 0},
            [],
            id="nothing recovered, nothing moves",
        ),
        pytest.param(
            [("guarantor", 300), ("bank", 700)],
            {"guarantor": 300, "bank": 700},
            [],
            id="front-loaded: everybody is paid in cash",
        ),
    ],
)
def test_cash_plan(receives: list[tuple[str, int]], cash: dict[str, int], payables: list[Payable]) -> None:
    planned_cash, planned_payables = cash_plan(receives)
    expected = {role: amount for role, amount in cash.items() if amount or role == "bank"}
    assert {role: amount for role, amount in planned_cash.items() if amount or role == "bank"} == expected
    assert sorted(planned_payables, key=repr) == sorted(payables, key=repr)


def test_the_post_disposal_bank_gets_all_the_cash() -> None:
    case = make_case(
        parties=[("bank", 2000), ("guarantor", 4000), ("risk_pool", 4000)],
        claim=100_000_000,
        hammer=70_000_000,
        costs=[2_000_000],
    )
    cash, payables, _ = legs_for(case)
    assert cash == {"bank": 68_000_000, "guarantor": 0, "risk_pool": 0}
    assert payables == [Payable("guarantor", "bank", 12_800_000), Payable("risk_pool", "bank", 12_800_000)]


FAST = settings(max_examples=150, deadline=None)


def _check_plan(receives: dict[str, int], cash: dict[str, int], payables: list[Payable]) -> None:
    assert all(amount >= 0 for amount in cash.values())
    assert sum(cash.values()) == sum(receives.values())
    for role, amount in receives.items():
        owed_to = sum(p.amount for p in payables if p.creditor == role)
        owes = sum(p.amount for p in payables if p.debtor == role)
        assert cash.get(role, 0) + owed_to - owes == amount, role
    assert all(p.amount > 0 and "bank" in (p.debtor, p.creditor) for p in payables)


@FAST
@given(case=cases())
def test_every_settlement_is_balanced_and_pays_each_party_exactly_its_receives(case: Case) -> None:
    statement = compute_statement(case)
    moved = distribution(None, totals_of(statement), [line.role for line in statement.lines])
    _check_plan(dict(moved.receives), dict(moved.cash), list(moved.payables))
    assert moved.receives == {line.role: line.receives for line in statement.lines}
    assert moved.gross_in == moved.revenue + moved.costs_paid + statement.recovered + moved.surplus
    legs = settlement_legs(moved, source="escrow:CNY", currency="CNY", listing_id=LISTING, org_of=ORGS)
    assert totals_by_currency(legs) == {"CNY": 0}
    if any(leg.amount for leg in legs):
        check_balanced(legs)


@FAST
@given(case=cases(), cuts=st.lists(st.integers(0, 10_000), max_size=4))
def test_income_in_instalments_moves_in_total_what_one_settlement_would(case: Case, cuts: list[int]) -> None:
    """Licence royalties then a sale: cumulative statements, each settlement moves the difference."""
    marks = sorted({case.hammer * cut // 10_000 for cut in cuts} | {case.hammer})
    roles = [party.role for party in case.parties]
    previous = None
    moved_total: dict[str, int] = {}
    for mark in marks:
        current = totals_of(compute_statement(msgspec.structs.replace(case, hammer=mark)))
        moved = distribution(previous, current, roles)
        assert min(moved.gross_in, moved.revenue, moved.costs_paid, moved.surplus) >= 0
        _check_plan(dict(moved.receives), dict(moved.cash), list(moved.payables))
        legs = settlement_legs(moved, source="escrow:CNY", currency="CNY", listing_id=LISTING, org_of=ORGS)
        assert totals_by_currency(legs) == {"CNY": 0}
        for role, amount in moved.receives.items():
            moved_total[role] = moved_total.get(role, 0) + amount
        previous = current
    final = compute_statement(case)
    assert moved_total == {line.role: line.receives for line in final.lines}
