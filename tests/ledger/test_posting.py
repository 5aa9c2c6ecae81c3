"""The ledger: one posting function that refuses unbalanced transactions, reversals, verification.

Runs on SQLite and on PostgreSQL (where the database's constraint trigger is tested too).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from marketplace.ledger import (
    AlreadyPosted,
    BadAccount,
    LedgerUnbalanced,
    Leg,
    balances,
    post,
    reverse,
    trial_balance,
    verify,
)
from marketplace.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.ledger.service import check_balanced, party_account, revenue_account
from marketplace.settings import Settings
from tests.conftest import Backend
from tests.helpers import direct_db

ORG = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
PARTY = party_account(ORG, "CNY")
REVENUE = revenue_account("CNY")

UNBALANCED = [
    pytest.param([Leg("escrow:CNY", 100), Leg(PARTY, -99)], id="one fen off"),
    pytest.param(
        [Leg("escrow:CNY", 100), Leg("escrow:USD", -100)], id="zero overall but not in each currency"
    ),
    pytest.param([Leg("escrow:CNY", 100)], id="a single leg"),
    pytest.param([Leg("escrow:CNY", 0), Leg(REVENUE, 0)], id="only zero legs"),
    pytest.param([], id="no legs"),
]


@pytest.mark.parametrize("legs", UNBALANCED)
def test_an_unbalanced_transaction_is_refused_before_anything_is_written(legs: list[Leg]) -> None:
    with pytest.raises(LedgerUnbalanced):
        check_balanced(legs)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        pytest.param("wallet:CNY", BadAccount, id="unknown kind"),
        pytest.param("escrow:XYZ", BadAccount, id="unknown currency"),
        pytest.param("escrow", BadAccount, id="no currency"),
        pytest.param("party::CNY", BadAccount, id="empty segment"),
    ],
)
def test_account_codes_are_checked(code: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        Leg(code, 1)


@pytest.mark.parametrize("amount", [1.5, True, "100"], ids=["float", "bool", "string"])
def test_amounts_are_integers(amount: object) -> None:
    with pytest.raises(TypeError):
        Leg("escrow:CNY", amount)  # type: ignore[arg-type]


async def _rows(settings: Settings) -> tuple[int, int]:
    async with direct_db(settings) as session:
        transactions = await session.scalar(select(func.count()).select_from(LedgerTransaction))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
        return int(transactions or 0), int(entries or 0)


@pytest.mark.parametrize("legs", UNBALANCED)
async def test_post_refuses_an_unbalanced_transaction(settings: Settings, legs: list[Leg]) -> None:
    async with direct_db(settings) as session:
        with pytest.raises(LedgerUnbalanced):
            await post(session, legs, "unbalanced", f"test:{uuid.uuid4()}")
        await session.commit()
    assert await _rows(settings) == (0, 0)


async def test_a_balanced_transaction_is_posted_and_balances_follow(settings: Settings) -> None:
    async with direct_db(settings) as session:
        posted = await post(
            session,
            [Leg("escrow:CNY", 100_000), Leg(PARTY, -60_000), Leg(REVENUE, -40_000), Leg("escrow:USD", 0)],
            "a sale",
            "test:sale",
        )
        await session.commit()
        assert posted.ref == "test:sale"
        assert await trial_balance(session) == {"CNY": 0}
        assert await balances(session, ["escrow:CNY", PARTY, REVENUE]) == {
            "escrow:CNY": 100_000,
            PARTY: -60_000,
            REVENUE: -40_000,
        }
        assert (await verify(session)).ok
    assert await _rows(settings) == (1, 3)


async def test_the_same_ref_is_posted_once(settings: Settings) -> None:
    legs = [Leg("escrow:CNY", 5), Leg(PARTY, -5)]
    async with direct_db(settings) as session:
        await post(session, legs, "first", "test:once")
        await session.commit()
        with pytest.raises(AlreadyPosted):
            await post(session, legs, "again", "test:once")


async def test_a_correction_is_a_reversal_and_happens_once(settings: Settings) -> None:
    async with direct_db(settings) as session:
        original = await post(session, [Leg("escrow:CNY", 700), Leg(PARTY, -700)], "mistake", "test:mistake")
        reversal = await reverse(session, original.id, "wrong payee")
        await session.commit()
        assert reversal.reverses_id == original.id
        assert await balances(session, ["escrow:CNY", PARTY]) == {"escrow:CNY": 0, PARTY: 0}
        with pytest.raises(AlreadyPosted):
            await reverse(session, original.id, "twice")
    assert await _rows(settings) == (2, 4)


async def test_two_sessions_creating_the_same_account_both_post(backend: Backend, settings: Settings) -> None:
    if backend.name != "postgres":
        pytest.skip("concurrent writers need PostgreSQL; SQLite has one writer")
    fresh = party_account(uuid.uuid4(), "CNY")

    async def one(n: int) -> None:
        async with direct_db(settings) as session:
            await post(session, [Leg("escrow:CNY", n), Leg(fresh, -n)], "concurrent", f"test:concurrent:{n}")
            await session.commit()

    await asyncio.gather(one(1), one(2))
    async with direct_db(settings) as session:
        assert await balances(session, [fresh]) == {fresh: -3}


async def _insert_directly(settings: Settings, amounts: list[int]) -> None:
    """Rows written around the posting function, as a buggy script would (plain INSERTs)."""
    async with direct_db(settings) as session:
        await post(
            session, [Leg("escrow:CNY", 1), Leg(PARTY, -1)], "creates the accounts", f"test:{uuid.uuid4()}"
        )
        await session.commit()
        account = await session.scalar(select(LedgerAccount.id).where(LedgerAccount.code == "escrow:CNY"))
        transaction_id = uuid.uuid4()
        await session.execute(
            insert(LedgerTransaction).values(
                id=transaction_id, ref=f"direct:{transaction_id}", memo="direct", posted_at=datetime.now(UTC)
            )
        )
        for amount in amounts:
            await session.execute(
                insert(LedgerEntry).values(
                    transaction_id=transaction_id, account_id=account, amount=amount, currency="CNY"
                )
            )
        await session.commit()


async def test_the_database_refuses_unbalanced_rows_inserted_directly(
    backend: Backend, settings: Settings
) -> None:
    if backend.name != "postgres":
        pytest.skip("the constraint trigger exists on PostgreSQL; SQLite relies on post() and verify()")
    await _insert_directly(settings, [100, -100])
    with pytest.raises(DBAPIError, match="does not balance"):
        await _insert_directly(settings, [100, -99])
    with pytest.raises(DBAPIError, match="fewer than two entries"):
        await _insert_directly(settings, [])
    async with direct_db(settings) as session:
        assert (await verify(session)).ok


async def test_ledger_rows_cannot_be_updated_or_deleted_on_postgresql(
    backend: Backend, settings: Settings
) -> None:
    if backend.name != "postgres":
        pytest.skip("the append-only trigger exists on PostgreSQL")
    async with direct_db(settings) as session:
        await post(session, [Leg("escrow:CNY", 9), Leg(PARTY, -9)], "kept", "test:kept")
        await session.commit()
    for statement in ("UPDATE ledger_entries SET amount = amount * 2", "DELETE FROM ledger_entries"):
        async with direct_db(settings) as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement))
    async with direct_db(settings) as session:
        assert await trial_balance(session) == {"CNY": 0}


async def test_verify_finds_rows_that_bypassed_the_posting_function(
    backend: Backend, settings: Settings
) -> None:
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL refuses such rows at commit (tested above)")
    await _insert_directly(settings, [100, -99])
    async with direct_db(settings) as session:
        report = await verify(session)
    assert not report.ok
    assert any("does not balance in CNY: +1" in problem for problem in report.problems)
    assert report.trial_balance == {"CNY": 1}
