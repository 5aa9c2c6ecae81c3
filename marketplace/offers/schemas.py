"""Request and response bodies of the offers API (api.md → Offers), and each kind's terms.

An offer's ``terms`` arrive as a JSON object and are validated against the struct of the offer's
kind (:data:`TERMS_BY_KIND`); unknown fields are refused. Money is an integer in minor units,
ratios are basis points; a licence's upfront fee is the offer's ``amount``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Amount = Annotated[int, Meta(ge=0, le=10**15)]
PositiveAmount = Annotated[int, Meta(ge=1, le=10**15)]
Ratio = Annotated[int, Meta(ge=0, le=10_000)]
Share = Annotated[int, Meta(ge=1, le=10_000)]
Text = Annotated[str, Meta(min_length=1, max_length=200)]
LongText = Annotated[str, Meta(max_length=2000)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Period = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z_.\-]+$")]
OfferKind = Literal["acquisition", "license", "license_back", "equity"]
Exclusivity = Literal["exclusive", "sole", "ordinary"]


class AcquisitionTerms(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A firm offer to buy (第三方收储): the price is ``amount``, paid within ``payment_days``."""

    payment_days: Annotated[int, Meta(ge=1, le=365)] = 30
    conditions: LongText = ""


class LicenceTerms(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A licence (许可): scope, term, the upfront fee (= ``amount``) and a running royalty."""

    exclusivity: Exclusivity
    territory: Text = "中华人民共和国 PRC"
    field: Text = "all fields"
    term_months: Annotated[int, Meta(ge=1, le=600)]
    upfront_fee: Amount | None = None
    royalty_bp: Ratio = 0
    licensee: Text | None = None


class EquityTerms(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Pledge-to-equity (质权转股权): ``amount`` of the claim converts into ``share_bp`` of a company
    valued at ``agreed_valuation``."""

    company: Text
    agreed_valuation: PositiveAmount
    share_bp: Share


TERMS_BY_KIND: dict[str, type[msgspec.Struct]] = {
    "acquisition": AcquisitionTerms,
    "license": LicenceTerms,
    "license_back": LicenceTerms,
    "equity": EquityTerms,
}


class OfferIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: OfferKind
    amount: Amount
    terms: dict[str, Any] = msgspec.field(default_factory=dict)
    valid_until: datetime
    currency: Currency | None = None


class CounterIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: Amount
    terms: dict[str, Any] | None = None


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: LongText = ""


class RoyaltyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: PositiveAmount
    period: Period


class CounterOut(msgspec.Struct, kw_only=True):
    amount: int
    terms: dict[str, Any]


class OfferOut(msgspec.Struct, kw_only=True):
    """An offer with its terms: shown only to the owning bank, the offeror and operators."""

    id: uuid.UUID
    listing_id: uuid.UUID
    kind: str
    status: str
    amount: int
    currency: str
    terms: dict[str, Any]
    valid_until: datetime
    offeror_name: str
    offeror_user_id: uuid.UUID
    offeror_org_id: uuid.UUID | None
    counter: CounterOut | None
    approved_at: datetime | None
    contract_no: str | None
    paid_at: datetime | None
    stalking_horse_eligible: bool
    created_at: datetime
    updated_at: datetime
    history: list[dict[str, Any]]


class RoyaltyOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    offer_id: uuid.UUID
    period: str
    amount: int
    currency: str
    settlement_id: uuid.UUID | None
    received_at: datetime
