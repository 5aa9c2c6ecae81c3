"""The registry side kept in the database: sandbox records, manual evidence, filing tasks.

Invariants:
- one sandbox record per ``(registry, number)``; ``data`` is the api.md sandbox JSON exactly as
  the operator entered it (validated by ``registry_adapters.sandbox.record_from_sandbox``), and
  ``family`` repeats ``data["family"]`` so a trademark family can be looked up by index;
- manual evidence is entered by one operator and counts only once a different operator approved
  it (``approved_by`` is never ``entered_by``); ``data`` uses the sandbox JSON's fields;
- a listing has at most one live (not rejected) filing task of each kind; a task's document is
  the HTML filed with the registry and does not change once prepared.

Importing this module also loads :mod:`marketplace.listings.models` (filing tasks belong to a
listing), so ``marketplace.all_models`` needs this one import for both packages.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, UTCDateTime, new_id, utcnow
from marketplace.listings.models import Listing

FILING_KINDS = ("pledge_release", "transfer")
FILING_STATUSES = ("prepared", "filed", "confirmed", "rejected")


class SandboxRecord(Base):
    __tablename__ = "sandbox_records"
    __table_args__ = (UniqueConstraint("registry", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    registry_name: Mapped[str] = mapped_column("registry", String(40))
    number: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    family: Mapped[str | None] = mapped_column(String(100), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class ManualEvidenceRecord(Base):
    __tablename__ = "manual_evidence"
    __table_args__ = (
        CheckConstraint("approved_by IS NULL OR approved_by <> entered_by", name="second_operator"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    registry_name: Mapped[str] = mapped_column("registry", String(40))
    number: Mapped[str] = mapped_column(String(100), index=True)
    family: Mapped[str | None] = mapped_column(String(100), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    document_sha256: Mapped[str] = mapped_column(String(64))
    entered_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FilingTask(Base):
    __tablename__ = "filing_tasks"
    __table_args__ = (
        CheckConstraint(f"kind IN {FILING_KINDS!r}", name="kind"),
        CheckConstraint(f"status IN {FILING_STATUSES!r}", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="prepared")
    transferee: Mapped[str | None] = mapped_column(String(200))
    document_html: Mapped[str] = mapped_column(Text)
    document_sha256: Mapped[str] = mapped_column(String(64))
    prepared_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    prepared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")

    listing: Mapped[Listing] = relationship(lazy="raise")
