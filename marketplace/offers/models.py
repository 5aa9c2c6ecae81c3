"""Offers made on a listing, and the licence income received under an approved licence.

Invariants:
- ``status`` moves ``open → countered → accepted | rejected`` (the bank answers, the offeror may
  take a counter) and ``accepted → approved`` (the operator turns it into a contract); an offer
  past ``valid_until`` that is not yet approved or rejected is *expired* — read through
  :func:`marketplace.offers.service.effective_status`, never stored, so it needs no sweeper;
- ``terms`` is the JSON of the kind's terms struct (:mod:`marketplace.offers.schemas`), validated
  before it is stored; ``counter_terms`` likewise for a counter;
- ``amount`` is an integer in the listing currency's minor unit; for a licence it is the upfront
  fee, for an equity conversion the value of the claim converted at the agreed valuation;
- ``paid_at`` is set once, when the operator records the payment of an approved acquisition (or
  the registration of the equity for a conversion);
- a royalty payment is recorded once per offer and period and settles once (``settlement_id``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, UTCDateTime, new_id, utcnow

OFFER_KINDS = ("acquisition", "license", "license_back", "equity")
OFFER_STATUSES = ("open", "countered", "accepted", "rejected", "approved")


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(f"kind IN {OFFER_KINDS!r}", name="kind"),
        CheckConstraint(f"status IN {OFFER_STATUSES!r}", name="status"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    offeror_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    offeror_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orgs.id"))
    offeror_name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    counter_amount: Mapped[int | None] = mapped_column(BigInteger)
    counter_terms: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contract_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoyaltyPayment(Base):
    __tablename__ = "royalty_payments"
    __table_args__ = (
        UniqueConstraint("offer_id", "period"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"), index=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"), index=True)
    period: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    settlement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
