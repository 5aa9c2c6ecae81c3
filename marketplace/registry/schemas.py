"""Request and response bodies for the sandbox registry, manual evidence and filings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from registry_adapters.base import AssetKind, Registry

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Number = Annotated[str, Meta(min_length=1, max_length=100)]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]


class SandboxPledge(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pledgee: Name
    registration_no: Number
    status: Literal["registered", "released"]
    registered_on: date | None = None
    released_on: date | None = None
    pledgor: Name | None = None


class SandboxLicence(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    licensee: Name
    kind: Literal["exclusive", "sole", "ordinary"]
    until: date | None = None


class RegistryFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a registry says about one asset (api.md "Sandbox registry"), plus optional extras."""

    registry: Registry
    number: Number
    kind: AssetKind
    title: Annotated[str, Meta(max_length=300)] = ""
    holder: Name
    co_owners: Annotated[list[Name], Meta(max_length=20)] = msgspec.field(default_factory=list)
    status: Literal["in_force", "lapsed", "pending"]
    filed_on: date | None = None
    expires_on: date | None = None
    fees_paid_until: date | None = None
    pledges: Annotated[list[SandboxPledge], Meta(max_length=20)] = msgspec.field(default_factory=list)
    licences: Annotated[list[SandboxLicence], Meta(max_length=50)] = msgspec.field(default_factory=list)
    litigation: Annotated[list[Annotated[str, Meta(min_length=1, max_length=500)]], Meta(max_length=50)] = (
        msgspec.field(default_factory=list)
    )
    family: Annotated[str, Meta(min_length=1, max_length=100)] | None = None


class SandboxRecordOut(RegistryFields, kw_only=True):
    updated_at: datetime
    updated_by: uuid.UUID | None


class ManualEvidenceIn(RegistryFields, kw_only=True):
    document_sha256: Sha256


class ManualEvidenceOut(RegistryFields, kw_only=True):
    id: uuid.UUID
    document_sha256: str
    entered_by: uuid.UUID
    entered_at: datetime
    approved_by: uuid.UUID | None
    approved_at: datetime | None
    state: Literal["awaiting_approval", "approved"]


class FilingsPrepare(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    transferee: Name | None = None


class FilingNote(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[str, Meta(max_length=2000)] = ""


class FilingOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    listing_id: uuid.UUID
    kind: str
    status: str
    transferee: str | None
    document_html: str
    document_sha256: str
    prepared_at: datetime
    confirmed_by: uuid.UUID | None
    confirmed_at: datetime | None
    note: str
