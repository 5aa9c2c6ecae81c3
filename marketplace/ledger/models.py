"""The double-entry ledger's tables: accounts, transactions and their legs (entries).

Invariants (kept by :func:`marketplace.ledger.service.post`, the only writer, and on PostgreSQL
also by the database, see migration 0004):
- the entries of one transaction sum to zero per currency, and a transaction has at least two;
- an entry's amount is a signed non-zero integer in minor units, in its account's currency
  (debit positive, credit negative);
- rows are only ever inserted: corrections are reversing transactions (``reverses_id``);
- ``ref`` names the domain event a transaction records and is unique, so one event is never
  posted twice;
- an account is identified by its ``code``, ``kind:…:CURRENCY``, created on first use.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, UTCDateTime, new_id, utcnow


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    ref: Mapped[str] = mapped_column(String(200), unique=True)
    memo: Mapped[str] = mapped_column(Text)
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
