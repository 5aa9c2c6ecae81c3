"""Request and response bodies for listings (msgspec structs, validated at the edge).

Money is an integer in minor units (fen for CNY) and ratios integer basis points, bounded here
so that no arithmetic downstream can overflow a BIGINT. Confidential parts of a listing (the loan,
the pledge contract, the settlement terms) are ``UNSET`` — absent from the JSON, not ``null`` —
for callers who may not see them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from registry_adapters.base import AssetKind, Registry

Amount = Annotated[int, Meta(ge=0, le=10**15)]
Ratio = Annotated[int, Meta(ge=0, le=10_000)]
Title = Annotated[str, Meta(min_length=1, max_length=300)]
ShortText = Annotated[str, Meta(min_length=1, max_length=100)]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Statement = Annotated[str, Meta(min_length=1, max_length=2000)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Reason = Annotated[str, Meta(min_length=1, max_length=2000)]
IpcClass = Annotated[str, Meta(min_length=1, max_length=20, pattern=r"^[A-H][0-9A-Za-z /.-]*$")]
PartyRole = Literal["bank", "guarantor", "risk_pool", "valuer", "insurer"]
ValuationMethod = Literal["internal", "external"]
ListingStatus = Literal[
    "draft", "submitted", "approved", "rejected", "in_disposal", "sold", "failed", "withdrawn", "settled"
]
CatalogueSort = Literal["newest", "price_asc", "price_desc"]


class LoanIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    loan_ref: ShortText
    pledgor_name: Name
    claim: Amount
    default_date: date


class PledgeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    registry: Registry
    registration_no: ShortText


class AssetIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One asset of the lot; ``registry`` defaults to the registry that records ``kind``."""

    kind: AssetKind
    number: ShortText
    title: Title
    registry: Registry | None = None
    co_owner_consent: bool = False
    family_key: ShortText | None = None


class ValuationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: Amount
    method: ValuationMethod
    agency_org_id: uuid.UUID | None = None
    report_date: date | None = None


class PartyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    role: PartyRole
    org_id: uuid.UUID
    ratio_bp: Ratio


class AdvanceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    role: PartyRole
    amount: Amount


class CostIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: ShortText
    amount: Amount


class SettlementTermsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    parties: Annotated[list[PartyIn], Meta(min_length=1, max_length=5)]
    advances: Annotated[list[AdvanceIn], Meta(max_length=20)] = msgspec.field(default_factory=list)
    costs: Annotated[list[CostIn], Meta(max_length=50)] = msgspec.field(default_factory=list)


class LicenceDisclosure(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    asset: ShortText
    licensee: Name
    kind: Literal["exclusive", "sole", "ordinary"]
    until: date | None = None


class DisclosuresIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the bank states about encumbrances, for buyers to read before they bid.

    ``licences`` lists the existing licences; ``litigation`` the pending invalidation requests and
    lawsuits; ``co_owner_consents`` the co-owners' consent statements (Patent Law art. 14);
    ``none_known`` declares that the bank knows of no licence or litigation at all.
    """

    licences: Annotated[list[LicenceDisclosure], Meta(max_length=100)] = msgspec.field(default_factory=list)
    litigation: Annotated[list[Statement], Meta(max_length=100)] = msgspec.field(default_factory=list)
    co_owner_consents: Annotated[list[Statement], Meta(max_length=100)] = msgspec.field(default_factory=list)
    none_known: bool = False
    notes: Annotated[str, Meta(max_length=4000)] = ""


class ListingCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The listing draft of api.md, plus the optional catalogue fields."""

    title: Title
    currency: Currency = "CNY"
    loan: LoanIn
    pledge: PledgeIn
    assets: Annotated[list[AssetIn], Meta(min_length=1, max_length=100)]
    valuation: ValuationIn
    settlement: SettlementTermsIn
    disclosures: DisclosuresIn = msgspec.field(default_factory=DisclosuresIn)
    industry: ShortText = "unspecified"
    ipc_class: IpcClass | None = None
    planned_sale_date: date | None = None


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Reason


class AssetOut(msgspec.Struct, kw_only=True):
    position: int
    kind: str
    registry: str
    number: str
    title: str
    co_owner_consent: bool
    family_key: str | None


class CheckOut(msgspec.Struct, kw_only=True):
    asset: str | None
    check: str
    ok: bool
    severity: str
    detail: str
    evidence_sha256: str | None
    cost: int | None
    checked_at: datetime


class LoanOut(msgspec.Struct, kw_only=True):
    loan_ref: str
    pledgor_name: str
    claim: int
    default_date: date


class PledgeOut(msgspec.Struct, kw_only=True):
    registry: str
    registration_no: str


class ValuationOut(msgspec.Struct, kw_only=True):
    amount: int
    method: str
    agency_org_id: uuid.UUID | None
    report_date: date | None


class PartyOut(msgspec.Struct, kw_only=True):
    role: str
    org_id: uuid.UUID
    ratio_bp: int


class AdvanceOut(msgspec.Struct, kw_only=True):
    role: str
    amount: int


class CostOut(msgspec.Struct, kw_only=True):
    kind: str
    amount: int


class SettlementTermsOut(msgspec.Struct, kw_only=True):
    parties: list[PartyOut]
    advances: list[AdvanceOut]
    costs: list[CostOut]


class ListingOut(msgspec.Struct, kw_only=True):
    """A listing as the caller may see it; ``confidential`` tells whether the loan is included.

    ``price`` is the catalogue price: the valuation, until rounds set a starting price.
    """

    id: uuid.UUID
    status: str
    title: str
    currency: str
    price: int
    bank_org_id: uuid.UUID
    bank_name: str
    valuation: ValuationOut
    industry: str
    ipc_class: str | None
    planned_sale_date: date | None
    approved_at: datetime | None
    announcement_at: datetime | None
    created_at: datetime
    updated_at: datetime
    disclosures: dict[str, Any]
    assets: list[AssetOut]
    checks: list[CheckOut]
    rounds: list[Any]
    offers: list[Any]
    confidential: bool
    loan: LoanOut | UnsetType = UNSET
    pledge: PledgeOut | UnsetType = UNSET
    settlement: SettlementTermsOut | UnsetType = UNSET


class ListingSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    title: str
    currency: str
    price: int
    bank_org_id: uuid.UUID
    bank_name: str
    industry: str
    ipc_class: str | None
    kinds: list[str]
    asset_count: int
    planned_sale_date: date | None
    approved_at: datetime | None
    created_at: datetime


class ListingPage(msgspec.Struct, kw_only=True):
    items: list[ListingSummary]
    total: int
    page: int
    page_size: int


class ReviewQueue(msgspec.Struct, kw_only=True):
    items: list[ListingOut]
    total: int


class TransitionOut(msgspec.Struct, kw_only=True):
    from_status: str
    to_status: str
    actor_id: uuid.UUID | None
    reason: str
    at: datetime


class DocumentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    listing_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    confidential: bool
    uploaded_at: datetime


class NdaOut(msgspec.Struct, kw_only=True):
    listing_id: uuid.UUID
    user_id: uuid.UUID
    accepted_at: datetime


class ImportedRow(msgspec.Struct, kw_only=True):
    row: int
    id: str
    title: str


class ImportRowError(msgspec.Struct, kw_only=True):
    row: int
    field: str
    reason: str


class ImportJobOut(msgspec.Struct, kw_only=True):
    """An import job: ``processed`` of ``total`` rows; the report once ``status`` is ``done``.

    ``status`` is ``running``, ``done`` or ``failed`` (nothing written).
    """

    job_id: str
    status: str
    filename: str
    processed: int
    total: int
    created: list[ImportedRow]
    errors: list[ImportRowError]
    started_at: str
    updated_at: str
    finished_at: str | None = None
    error: str | None = None
