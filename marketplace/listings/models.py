"""Listings (one lot of pledged IP), their assets, check results, transitions and data room.

Invariants:
- ``Listing.status`` changes only through :func:`marketplace.listings.service.transition`, which
  writes one ``ListingTransition`` row per change;
- money columns are integers in the listing currency's minor unit (fen for CNY), never floats;
- ``settlement_terms`` holds ``{"parties": [{role, org_id, ratio_bp}], "advances": [{role,
  amount}], "costs": [{kind, amount}]}`` as validated by :mod:`marketplace.listings.terms`;
- ``search_text`` is the lower-cased title, asset titles and asset numbers, rewritten whenever
  any of them changes, so the catalogue searches one column;
- the checks of a listing are kept for every submission: ``ListingCheck.run_no`` numbers the
  submissions and ``Listing.checks_run`` is the latest one, the one that decides approval;
- a data-room document's bytes live under ``settings.uploads_dir`` (outside any web root) under
  a generated name; the client's file name is only ever metadata.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, UTCDateTime, new_id, utcnow
from registry_adapters.base import ASSET_KINDS

LISTING_STATUSES = (
    "draft",
    "submitted",
    "approved",
    "rejected",
    "in_disposal",
    "sold",
    "failed",
    "withdrawn",
    "settled",
)
PUBLISHED_STATUSES = ("approved", "in_disposal", "sold", "failed", "settled")
VALUATION_METHODS = ("internal", "external")
CHECK_SEVERITIES = ("hard", "warning")


class Listing(Base):
    __tablename__ = "listings"
    __table_args__ = (
        CheckConstraint(f"status IN {LISTING_STATUSES!r}", name="status"),
        CheckConstraint(f"valuation_method IN {VALUATION_METHODS!r}", name="valuation_method"),
        CheckConstraint("claim >= 0", name="claim_not_negative"),
        CheckConstraint("valuation_amount >= 0", name="valuation_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    bank_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id"), index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(300))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    loan_ref: Mapped[str] = mapped_column(String(100))
    pledgor_name: Mapped[str] = mapped_column(String(200))
    claim: Mapped[int] = mapped_column(BigInteger)
    default_date: Mapped[date] = mapped_column(Date)
    pledge_registry: Mapped[str] = mapped_column(String(40))
    pledge_registration_no: Mapped[str] = mapped_column(String(100))
    valuation_amount: Mapped[int] = mapped_column(BigInteger)
    valuation_method: Mapped[str] = mapped_column(String(20))
    valuer_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orgs.id"))
    valuation_report_date: Mapped[date | None] = mapped_column(Date)
    settlement_terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    disclosures: Mapped[dict[str, Any]] = mapped_column(JSON)
    industry: Mapped[str] = mapped_column(String(100), default="unspecified", index=True)
    ipc_class: Mapped[str | None] = mapped_column(String(20))
    planned_sale_date: Mapped[date | None] = mapped_column(Date)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    announcement_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checks_run: Mapped[int] = mapped_column(Integer, default=0)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    assets: Mapped[list[ListingAsset]] = relationship(
        order_by="ListingAsset.position", lazy="selectin", cascade="all, delete-orphan"
    )


class ListingAsset(Base):
    __tablename__ = "listing_assets"
    __table_args__ = (
        UniqueConstraint("listing_id", "position"),
        CheckConstraint(f"kind IN {ASSET_KINDS!r}", name="kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    registry_name: Mapped[str] = mapped_column("registry", String(40))
    number: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(300))
    co_owner_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    family_key: Mapped[str | None] = mapped_column(String(100))


class ListingCheck(Base):
    __tablename__ = "listing_checks"
    __table_args__ = (CheckConstraint(f"severity IN {CHECK_SEVERITIES!r}", name="severity"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    run_no: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    asset: Mapped[str | None] = mapped_column(String(100))
    check: Mapped[str] = mapped_column(String(40))
    ok: Mapped[bool] = mapped_column(Boolean)
    severity: Mapped[str] = mapped_column(String(10))
    detail: Mapped[str] = mapped_column(Text)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    raw_evidence: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[int | None] = mapped_column(BigInteger)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListingTransition(Base):
    __tablename__ = "listing_transitions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListingDocument(Base):
    __tablename__ = "listing_documents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(String(500))
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NdaAcceptance(Base):
    __tablename__ = "nda_acceptances"
    __table_args__ = (UniqueConstraint("listing_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
