"""Organisations and users.

Invariants: a user's role follows from its organisation's kind (exchange → operator, bank →
bank_user, the other parties → party_user) and buyers belong to no organisation; e-mail addresses
are stored lower-cased and unique; the buyer's ID number is stored only encrypted.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, UTCDateTime, new_id, utcnow

ORG_KINDS = ("exchange", "bank", "guarantor", "risk_pool", "valuer", "insurer", "acquirer")
ROLES = ("operator", "bank_user", "party_user", "buyer")

ROLE_FOR_ORG_KIND = {
    "exchange": "operator",
    "bank": "bank_user",
    "guarantor": "party_user",
    "risk_pool": "party_user",
    "valuer": "party_user",
    "insurer": "party_user",
    "acquirer": "party_user",
}


class Org(Base):
    __tablename__ = "orgs"
    __table_args__ = (CheckConstraint(f"kind IN {ORG_KINDS!r}", name="kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    real_name: Mapped[str | None] = mapped_column(String(200))
    id_number_encrypted: Mapped[str | None] = mapped_column(String(500))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org | None] = relationship(lazy="joined")
