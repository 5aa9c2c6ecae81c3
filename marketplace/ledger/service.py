"""The one way money is recorded: :func:`post` a balanced transaction, :func:`reverse` to correct it.

Invariants:
- :func:`post` is the only code that writes ledger rows; it refuses (``LedgerUnbalanced``) any
  transaction whose legs do not sum to zero in every currency, and one with fewer than two
  non-zero legs; zero legs are dropped before the check;
- every leg's currency is its account's (the code's last segment), so a leg cannot be posted in
  the wrong currency;
- nothing is ever updated or deleted: :func:`reverse` posts the negated legs of a transaction as a
  new transaction that names the original (``reverses_id``); each ``ref`` is posted at most once
  (``AlreadyPosted``), so a transaction is reversed at most once;
- accounts are created on first use, concurrently safe (``INSERT … ON CONFLICT DO NOTHING``);
- :func:`trial_balance` is zero in every currency, because every transaction is.

Sign convention: a debit is positive, a credit negative, from the exchange's books.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Executable, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.db import new_id, utcnow
from marketplace.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.money import CURRENCIES

ACCOUNT_KINDS: Final = frozenset({"escrow", "deposits", "party", "exchange", "pledgor", "costs", "in_kind"})
_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-]+$")


class LedgerError(Exception):
    """A posting the ledger refuses; ``code`` is stable, ``detail`` is for people.

    Not a :class:`marketplace.errors.DomainError` on purpose: code that builds a transaction the
    ledger refuses has a bug, and the request ends in a 500 that reveals nothing.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class LedgerUnbalanced(LedgerError):
    def __init__(self, detail: str) -> None:
        super().__init__("ledger_unbalanced", detail)


class AlreadyPosted(LedgerError):
    def __init__(self, ref: str) -> None:
        super().__init__("already_posted", f"a transaction with ref {ref!r} is already posted")


class BadAccount(LedgerError):
    def __init__(self, code: str) -> None:
        super().__init__("bad_account", f"{code!r} is not an account code kind:…:CURRENCY")


def parse_account(code: str) -> tuple[str, str]:
    """``(kind, currency)`` of an account code such as ``party:<org id>:CNY``."""
    parts = code.split(":")
    if (
        len(parts) < 2
        or len(code) > 160
        or parts[0] not in ACCOUNT_KINDS
        or parts[-1] not in CURRENCIES
        or not all(_SEGMENT.match(part) for part in parts)
    ):
        raise BadAccount(code)
    return parts[0], parts[-1]


def escrow_account(currency: str) -> str:
    return f"escrow:{currency}"


def revenue_account(currency: str) -> str:
    return f"exchange:revenue:{currency}"


def party_account(org_id: uuid.UUID, currency: str) -> str:
    return f"party:{org_id}:{currency}"


def pledgor_account(listing_id: uuid.UUID, currency: str) -> str:
    return f"pledgor:{listing_id}:{currency}"


def costs_account(listing_id: uuid.UUID, currency: str) -> str:
    return f"costs:{listing_id}:{currency}"


def in_kind_account(listing_id: uuid.UUID, currency: str) -> str:
    return f"in_kind:{listing_id}:{currency}"


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a transaction: ``amount`` minor units on ``account`` (debit +, credit −)."""

    account: str
    amount: int

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"a leg amount must be an int in minor units, not {type(self.amount).__name__}")
        parse_account(self.account)

    @property
    def currency(self) -> str:
        return parse_account(self.account)[1]


def totals_by_currency(legs: Iterable[Leg]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for leg in legs:
        totals[leg.currency] = totals.get(leg.currency, 0) + leg.amount
    return totals


def check_balanced(legs: Sequence[Leg]) -> list[Leg]:
    """The non-zero legs, if they make a postable transaction; else ``LedgerUnbalanced``."""
    kept = [leg for leg in legs if leg.amount != 0]
    off = {currency: total for currency, total in totals_by_currency(kept).items() if total != 0}
    if off:
        summary = ", ".join(f"{currency} {total:+d}" for currency, total in sorted(off.items()))
        raise LedgerUnbalanced(f"the legs do not sum to zero: {summary}")
    if len(kept) < 2:
        raise LedgerUnbalanced("a transaction needs at least two non-zero legs")
    return kept


async def _dialect(session: AsyncSession) -> str:
    connection = await session.connection()
    return connection.dialect.name


def _insert_new_account(dialect: str, values: dict[str, Any]) -> Executable:
    """``INSERT … ON CONFLICT (code) DO NOTHING``: two nodes creating one account both succeed."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(LedgerAccount).values(**values).on_conflict_do_nothing(index_elements=["code"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(LedgerAccount).values(**values).on_conflict_do_nothing(index_elements=["code"])


async def account_ids(session: AsyncSession, codes: Iterable[str]) -> dict[str, uuid.UUID]:
    """The ids of the accounts with these codes, creating the missing ones."""
    wanted = sorted(set(codes))
    for code in wanted:
        parse_account(code)
    found = dict(
        (
            await session.execute(
                select(LedgerAccount.code, LedgerAccount.id).where(LedgerAccount.code.in_(wanted))
            )
        ).all()
    )
    missing = [code for code in wanted if code not in found]
    if missing:
        dialect = await _dialect(session)
        now = utcnow()
        for code in missing:
            kind, currency = parse_account(code)
            values = {"id": new_id(), "code": code, "kind": kind, "currency": currency, "created_at": now}
            await session.execute(_insert_new_account(dialect, values))
        found.update(
            (
                await session.execute(
                    select(LedgerAccount.code, LedgerAccount.id).where(LedgerAccount.code.in_(missing))
                )
            ).all()
        )
    return found


async def post(
    session: AsyncSession,
    legs: Sequence[Leg],
    memo: str,
    ref: str,
    *,
    reverses_id: uuid.UUID | None = None,
) -> LedgerTransaction:
    """Record one balanced transaction; refuse an unbalanced one before anything is written."""
    kept = check_balanced(legs)
    if not ref or len(ref) > 200:
        raise LedgerError("bad_ref", "a transaction names its domain event in 1 to 200 characters")
    if await session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.ref == ref)) is not None:
        raise AlreadyPosted(ref)
    ids = await account_ids(session, (leg.account for leg in kept))
    transaction = LedgerTransaction(
        id=new_id(), ref=ref, memo=memo, reverses_id=reverses_id, posted_at=utcnow()
    )
    session.add(transaction)
    await session.flush()
    session.add_all(
        LedgerEntry(
            transaction_id=transaction.id,
            account_id=ids[leg.account],
            amount=leg.amount,
            currency=leg.currency,
        )
        for leg in kept
    )
    await session.flush()
    return transaction


async def legs_of(session: AsyncSession, transaction_id: uuid.UUID) -> list[Leg]:
    rows = await session.execute(
        select(LedgerAccount.code, LedgerEntry.amount)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.transaction_id == transaction_id)
        .order_by(LedgerEntry.id)
    )
    return [Leg(code, amount) for code, amount in rows.all()]


async def reverse(session: AsyncSession, transaction_id: uuid.UUID, memo: str) -> LedgerTransaction:
    """Post the negation of a transaction (at most once: its ref is ``reversal:<id>``)."""
    original = await session.get(LedgerTransaction, transaction_id)
    if original is None:
        raise LedgerError("unknown_transaction", f"no ledger transaction {transaction_id}")
    legs = [Leg(leg.account, -leg.amount) for leg in await legs_of(session, transaction_id)]
    return await post(session, legs, memo, f"reversal:{transaction_id}", reverses_id=transaction_id)


async def trial_balance(session: AsyncSession) -> dict[str, int]:
    """The sum of every entry per currency: zero in each, always."""
    rows = await session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.currency)
    )
    return {currency: int(total) for currency, total in rows.all()}


async def balances(session: AsyncSession, codes: Iterable[str] | None = None) -> dict[str, int]:
    """Account balances by code (debit positive), of the given accounts or of all."""
    statement = (
        select(LedgerAccount.code, func.coalesce(func.sum(LedgerEntry.amount), 0))
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.code)
    )
    if codes is not None:
        statement = statement.where(LedgerAccount.code.in_(sorted(set(codes))))
    rows = await session.execute(statement)
    return {code: int(total) for code, total in rows.all()}


@dataclass(frozen=True, slots=True)
class PostedEntry:
    transaction_id: uuid.UUID
    ref: str
    account: str
    amount: int
    currency: str


async def entries_of(session: AsyncSession, transaction_ids: Sequence[uuid.UUID]) -> list[PostedEntry]:
    """The entries of these transactions, in posting order (for statements)."""
    if not transaction_ids:
        return []
    rows = await session.execute(
        select(
            LedgerEntry.transaction_id,
            LedgerTransaction.ref,
            LedgerAccount.code,
            LedgerEntry.amount,
            LedgerEntry.currency,
        )
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.transaction_id.in_(list(transaction_ids)))
        .order_by(LedgerTransaction.posted_at, LedgerEntry.id)
    )
    return [PostedEntry(*row) for row in rows.all()]
