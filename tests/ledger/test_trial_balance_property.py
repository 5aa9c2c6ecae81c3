"""Property: after any sequence of settlements and payouts the trial balance is zero in every
currency, every transaction balances, and escrow keeps exactly what was not paid out.

Drives the one posting function with generated statements on a migrated SQLite database.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.db import make_engine, make_sessionmaker
from marketplace.ledger import Leg, balances, post, trial_balance, verify
from marketplace.ledger.service import escrow_account, party_account, pledgor_account
from marketplace.settlement import Case, compute_statement
from marketplace.settlement.service import distribution, settlement_legs, totals_of
from tests.settlement.test_calculator_properties import cases

ROLES = ["bank", "guarantor", "risk_pool", "valuer", "insurer"]


@pytest.fixture
def ledger_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


def in_currency(case: Case, currency: str) -> Case:
    if case.premium_schedule == "court_tiered" and currency != "CNY":
        return msgspec.structs.replace(case, currency=currency, premium_schedule="flat")
    return msgspec.structs.replace(case, currency=currency)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    settlements=st.lists(
        st.tuples(cases(), st.sampled_from(["CNY", "USD"]), st.booleans()), min_size=1, max_size=3
    )
)
async def test_the_trial_balance_is_zero_after_any_sequence_of_settlements(
    ledger_url: str, settlements: list[tuple[Case, str, bool]]
) -> None:
    engine = make_engine(ledger_url)
    try:
        async with make_sessionmaker(engine)() as session:
            escrow_before = await balances(session, [escrow_account("CNY"), escrow_account("USD")])
            kept_in_escrow: dict[str, int] = {}
            for case, currency, pay_out in settlements:
                case = in_currency(case, currency)
                listing_id = uuid.uuid4()
                org_of = {role: uuid.uuid4() for role in ROLES}
                statement = compute_statement(case)
                moved = distribution(None, totals_of(statement), [line.role for line in statement.lines])
                legs = settlement_legs(
                    moved,
                    source=escrow_account(currency),
                    currency=currency,
                    listing_id=listing_id,
                    org_of=org_of,
                )
                if any(leg.amount for leg in legs):
                    await post(session, legs, "settlement", f"settlement:{listing_id}")
                paid = 0
                if pay_out:
                    payees = [
                        (party_account(org_of[role], currency), cash) for role, cash in moved.cash.items()
                    ]
                    payees.append((pledgor_account(listing_id, currency), moved.surplus))
                    for account, amount in payees:
                        if amount > 0:
                            legs = [Leg(account, amount), Leg(escrow_account(currency), -amount)]
                            await post(session, legs, "payout", f"payout:{listing_id}:{account}")
                            paid += amount
                kept_in_escrow[currency] = kept_in_escrow.get(currency, 0) + moved.gross_in - paid
            await session.commit()

            assert all(total == 0 for total in (await trial_balance(session)).values())
            assert (await verify(session)).ok
            escrow_after = await balances(session, [escrow_account("CNY"), escrow_account("USD")])
            for currency, kept in kept_in_escrow.items():
                code = escrow_account(currency)
                assert escrow_after.get(code, 0) - escrow_before.get(code, 0) == kept
    finally:
        await engine.dispose()
