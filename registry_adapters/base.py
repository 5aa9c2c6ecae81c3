"""What a registry says about one pledged asset, and the protocol every registry adapter keeps.

Invariants
- Records are immutable (frozen dataclasses); every tuple field is a tuple, never a list.
- ``AssetRecord.fetched_at`` is timezone-aware; ``raw_sha256`` is the SHA-256 (lower-case hex) of
  ``raw`` (of its UTF-8 encoding when ``raw`` is text), checked on construction, so a record always
  carries the exact registry answer it was built from.
- ``expires_on`` is the **last day** the right is in force (CNIPA and trademark certificates state
  a term "from 2010-05-07 to 2020-05-06": the day before the anniversary).
- Adapters never raise anything but ``RegistryError`` for a registry's failure; an unknown number is
  ``None``, not an error.

Registries (the ``registry`` string of a listing asset; see ``REGISTRY_KINDS``):

- ``cnipa``: China National Intellectual Property Administration, patents and IC layout designs
  (invention_patent, utility_model, design, ic_layout);
- ``cntmo``: the CNIPA Trademark Office (商标局): trademark, collective_mark, certification_mark,
  geographical_indication;
- ``ccpc``: Copyright Protection Center of China (中国版权保护中心): copyright, software_copyright;
- ``plant_variety``: the plant variety protection offices (MARA / NFGA): plant_variety;
- ``data_exchange``: a data exchange's data-property register (数据产权登记): data_right;
- ``zhongdeng``: the PBOC Credit Reference Center's movables and receivables register (中登网),
  where licence-revenue (receivable) pledges are registered: licence_revenue_right.

Geographical indications are recorded as the collective or certification marks that carry them,
hence ``cntmo``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, Protocol, get_args, runtime_checkable

CalendarDate = date

AssetKind = Literal[
    "invention_patent",
    "utility_model",
    "design",
    "trademark",
    "copyright",
    "software_copyright",
    "ic_layout",
    "plant_variety",
    "geographical_indication",
    "collective_mark",
    "certification_mark",
    "data_right",
    "licence_revenue_right",
]
ASSET_KINDS: tuple[AssetKind, ...] = get_args(AssetKind)

Registry = Literal["cnipa", "cntmo", "ccpc", "plant_variety", "data_exchange", "zhongdeng"]
REGISTRIES: tuple[Registry, ...] = get_args(Registry)

REGISTRY_KINDS: Mapping[Registry, frozenset[AssetKind]] = {
    "cnipa": frozenset({"invention_patent", "utility_model", "design", "ic_layout"}),
    "cntmo": frozenset({"trademark", "collective_mark", "certification_mark", "geographical_indication"}),
    "ccpc": frozenset({"copyright", "software_copyright"}),
    "plant_variety": frozenset({"plant_variety"}),
    "data_exchange": frozenset({"data_right"}),
    "zhongdeng": frozenset({"licence_revenue_right"}),
}

PATENT_KINDS: frozenset[AssetKind] = frozenset({"invention_patent", "utility_model", "design"})
MARK_KINDS: frozenset[AssetKind] = REGISTRY_KINDS["cntmo"]

AssetStatus = Literal["in_force", "lapsed", "pending"]
PledgeStatus = Literal["registered", "released"]
LicenceKind = Literal["exclusive", "sole", "ordinary"]
EventKind = Literal[
    "pledge_registered", "pledge_cancelled", "lapsed_non_payment", "transferred", "granted", "other"
]

ASSET_STATUSES: tuple[AssetStatus, ...] = get_args(AssetStatus)
PLEDGE_STATUSES: tuple[PledgeStatus, ...] = get_args(PledgeStatus)
LICENCE_KINDS: tuple[LicenceKind, ...] = get_args(LicenceKind)


class RegistryError(Exception):
    """A registry could not answer, or answered something unusable.

    Codes: ``registry_unavailable`` (network, 5xx), ``registry_throttled`` (quota or fair-use
    rejection), ``registry_auth_failed`` (credentials refused), ``not_found``, ``bad_answer``
    (unparseable or invalid answer, or a DTD in XML), ``bad_record`` (invalid input for a record),
    ``not_approved`` and ``same_operator`` (manual evidence), ``already_approved``.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def registry_for(kind: AssetKind) -> Registry:
    """The registry that records ``kind``."""
    for registry, kinds in REGISTRY_KINDS.items():
        if kind in kinds:
            return registry
    raise RegistryError("bad_record", f"no registry records {kind!r}")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class PledgeRecord:
    pledgee: str
    registration_no: str
    status: PledgeStatus
    registered_on: date | None = None
    pledgor: str | None = None
    released_on: date | None = None


@dataclass(frozen=True, slots=True)
class LicenceRecord:
    licensee: str
    kind: LicenceKind
    until: date | None = None


@dataclass(frozen=True, slots=True)
class LegalEvent:
    """One legal-status event as the registry published it.

    The party fields are what the event text names (``None`` where it names nobody):
    a pledge event's pledgee, pledgor and contract registration number; a transfer's holders
    before and after (several joined by "; "). ``date`` is the gazette date, ``effective_on`` the
    date the registration took effect where the text gives one.
    """

    code: str
    date: date | None
    description: str
    kind: EventKind
    text: str = ""
    country: str | None = None
    pledgee: str | None = None
    pledgor: str | None = None
    registration_no: str | None = None
    holder_before: str | None = None
    holder_after: str | None = None
    effective_on: CalendarDate | None = None


def sha256_hex(raw: bytes | str) -> str:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetRecord:
    """The registry's view of one asset at ``fetched_at``.

    ``family`` is the registry's grouping of identical or similar marks on the same or similar
    goods (Trademark Law art. 42): members of one family must be transferred together.
    ``source`` names the adapter that produced the record (``sandbox``, ``epo_ops``, ``manual``).
    """

    registry: str
    number: str
    kind: AssetKind
    title: str
    holder: str
    co_owners: tuple[str, ...] = ()
    status: AssetStatus
    filed_on: date | None = None
    expires_on: date | None = None
    fees_paid_until: date | None = None
    pledges: tuple[PledgeRecord, ...] = ()
    licences: tuple[LicenceRecord, ...] = ()
    litigation: tuple[str, ...] = ()
    events: tuple[LegalEvent, ...] = ()
    family: str | None = None
    raw: bytes | str
    raw_sha256: str = field(default="")
    fetched_at: datetime
    source: str

    def __post_init__(self) -> None:
        if self.fetched_at.tzinfo is None or self.fetched_at.utcoffset() is None:
            raise RegistryError("bad_record", "fetched_at must be timezone-aware")
        digest = sha256_hex(self.raw)
        if not self.raw_sha256:
            object.__setattr__(self, "raw_sha256", digest)
        elif self.raw_sha256 != digest:
            raise RegistryError("bad_record", "raw_sha256 does not match raw")


@runtime_checkable
class RegistryAdapter(Protocol):
    """Looks one asset up in a registry.

    Returns ``None`` when the registry does not know the number, or when the adapter does not
    serve ``registry`` (so adapters can be chained); raises ``RegistryError`` when it cannot tell.
    """

    name: str

    async def lookup(self, registry: str, number: str) -> AssetRecord | None: ...


_TERM_YEARS: Mapping[AssetKind, int] = {
    "invention_patent": 20,
    "utility_model": 10,
    "design": 15,
    "trademark": 10,
    "collective_mark": 10,
    "certification_mark": 10,
}


def anniversary(start: date, years: int) -> date:
    """``start`` moved ``years`` years on; 29 February becomes 1 March in a common year."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)


def statutory_expiry(kind: AssetKind, start: date | None) -> date | None:
    """The last day of the statutory term, or ``None`` where the kind has no fixed term here.

    Patents run from the filing date (Patent Law art. 42): invention 20 years, utility model
    10 years, design 15 years (the product's rule, domain.md; the 15-year design term applies by
    law to applications filed from 2021-06-01, earlier designs had 10 years, so a record's own
    ``expires_on`` always wins over this estimate). Marks run 10 years from registration, so for
    them ``start`` is the registration date (Trademark Law art. 39), renewable for further
    10-year terms (art. 40).
    The term ends the day before the anniversary. Other kinds (copyright, IC layouts, plant
    varieties, data and licence-revenue rights) depend on facts not modelled here and yield
    ``None``: their records must state ``expires_on``.
    """
    if start is None or kind not in _TERM_YEARS:
        return None
    return anniversary(start, _TERM_YEARS[kind]) - timedelta(days=1)
