"""Settlements of real disposals, the payouts they order and the payables they record.

Invariants:
- a listing is settled once per ``(listing_id, kind, sequence)``: the disposal once (sequence 1),
  each royalty payment in the next royalty sequence; ``position`` orders all of a listing's
  settlements and is unique too. The id is derived from those three (:func:`settlement_id_for`),
  so a retried or concurrent settle computes the same id and the same payout idempotency keys;
- ``statement`` is the cumulative statement after this settlement (every income of the listing so
  far) and ``distribution`` what this settlement moved: the difference from the previous one;
- a payout is unique per ``(settlement_id, role)`` with ``idempotency_key =
  payout:<settlement id>:<role>``; it goes ``queued → sent`` once (or ``in_kind`` for equity), and
  only ``sent``/``in_kind`` payouts are posted to the ledger (``ledger_transaction_id``);
- a payable records that ``debtor`` still owes ``creditor`` (a negative ``receives``): never a
  payout.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, UTCDateTime, new_id, utcnow

SETTLEMENT_NAMESPACE: Final = uuid.UUID("6f1c2d1e-6a43-5b1f-9a55-3f0c6a8e2b71")
SETTLEMENT_KINDS = ("disposal", "royalty")
ROUTES = ("auction", "acquisition", "equity", "royalty")
PAYOUT_STATES = ("queued", "sent", "failed", "in_kind")


def settlement_id_for(listing_id: uuid.UUID, kind: str, sequence: int) -> uuid.UUID:
    return uuid.uuid5(SETTLEMENT_NAMESPACE, f"{listing_id}:{kind}:{sequence}")


def payout_id_for(settlement_id: uuid.UUID, role: str) -> uuid.UUID:
    return uuid.uuid5(SETTLEMENT_NAMESPACE, f"payout:{settlement_id}:{role}")


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (
        UniqueConstraint("listing_id", "kind", "sequence"),
        UniqueConstraint("listing_id", "position"),
        CheckConstraint(f"kind IN {SETTLEMENT_KINDS!r}", name="kind"),
        CheckConstraint(f"route IN {ROUTES!r}", name="route"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    sequence: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(String(12))
    auction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("auctions.id"))
    offer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("offers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    income: Mapped[int] = mapped_column(BigInteger)
    case: Mapped[dict[str, Any]] = mapped_column(JSON)
    statement: Mapped[dict[str, Any]] = mapped_column(JSON)
    distribution: Mapped[dict[str, Any]] = mapped_column(JSON)
    ledger_transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    settled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SettlementPayout(Base):
    __tablename__ = "settlement_payouts"
    __table_args__ = (
        UniqueConstraint("settlement_id", "role"),
        CheckConstraint(f"state IN {PAYOUT_STATES!r}", name="state"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    settlement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlements.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orgs.id"))
    payee_ref: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    transfer_group: Mapped[str] = mapped_column(String(100))
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    provider_status: Mapped[str | None] = mapped_column(String(20))
    instructions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    ledger_transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SettlementPayable(Base):
    __tablename__ = "settlement_payables"
    __table_args__ = (
        UniqueConstraint("settlement_id", "debtor_role", "creditor_role"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    settlement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlements.id"), index=True)
    debtor_role: Mapped[str] = mapped_column(String(20))
    debtor_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orgs.id"))
    creditor_role: Mapped[str] = mapped_column(String(20))
    creditor_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orgs.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
