"""Checking the whole ledger, for the command line and for operators.

:func:`verify` reads every transaction and reports, without changing anything: transactions whose
entries do not sum to zero in a currency, transactions with fewer than two entries, entries in a
currency other than their account's, and the trial balance (zero in every currency when the
ledger is sound). ``LedgerReport.ok`` is true exactly when there is nothing to report.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.ledger.service import trial_balance
from marketplace.settings import Settings


@dataclass(frozen=True, slots=True)
class LedgerReport:
    transactions: int
    entries: int
    trial_balance: dict[str, int]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and all(total == 0 for total in self.trial_balance.values())


async def verify(session: AsyncSession) -> LedgerReport:
    transactions = int(await session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)
    entries = int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
    problems: list[str] = []
    unbalanced = await session.execute(
        select(LedgerEntry.transaction_id, LedgerEntry.currency, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.transaction_id, LedgerEntry.currency)
        .having(func.sum(LedgerEntry.amount) != 0)
        .order_by(LedgerEntry.transaction_id)
    )
    problems.extend(
        f"transaction {transaction_id} does not balance in {currency}: {int(total):+d}"
        for transaction_id, currency, total in unbalanced.all()
    )
    thin = await session.execute(
        select(LedgerTransaction.id, func.count(LedgerEntry.id))
        .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id)
        .having(func.count(LedgerEntry.id) < 2)
    )
    problems.extend(
        f"transaction {transaction_id} has {count} entries" for transaction_id, count in thin.all()
    )
    mismatched = await session.execute(
        select(LedgerEntry.id, LedgerEntry.currency, LedgerAccount.code)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.currency != LedgerAccount.currency)
    )
    problems.extend(
        f"entry {entry_id} is in {currency} on account {code}"
        for entry_id, currency, code in mismatched.all()
    )
    balance = await trial_balance(session)
    problems.extend(
        f"the trial balance is {total:+d} {currency}" for currency, total in sorted(balance.items()) if total
    )
    return LedgerReport(
        transactions=transactions, entries=entries, trial_balance=balance, problems=tuple(problems)
    )


async def verify_database(settings: Settings) -> LedgerReport:
    """:func:`verify` on the configured database (``python -m marketplace verify-ledger``)."""
    from marketplace.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await verify(session)
    finally:
        await engine.dispose()


def format_report(report: LedgerReport) -> str:
    lines = [
        f"ledger: {report.transactions} transactions, {report.entries} entries",
        "trial balance: "
        + (
            ", ".join(f"{currency} {total}" for currency, total in sorted(report.trial_balance.items()))
            or "empty"
        ),
    ]
    lines.extend(f"PROBLEM: {problem}" for problem in report.problems)
    lines.append("OK" if report.ok else "FAILED")
    return "\n".join(lines)
