"""The checks a listing must pass before it is published (domain.md "What can be pledged and listed").

Invariants
- Pure: the listing, the registry records and the family map in, a list of ``CheckResult`` out;
  no I/O, no clock (the planned sale date is the reference day). Same input, same output, same
  order: listing-level checks first, then each asset in listing order, checks in ``CHECK_NAMES``
  order.
- Every per-asset result of a found record carries that record's ``raw_sha256`` as evidence.
- A missing record yields only a failed ``found`` for that asset: nothing else is judged on
  absent evidence.
- Money is integer fen; ``cost`` is set only on a failed ``fees_paid``.

Checks (stable names; severity ``hard`` blocks publication, ``warning`` is shown and costed):

- ``lot_has_assets`` (hard): the lot holds at least one asset (listing-level, ``asset`` is ``None``);
- ``found`` (hard): the registry has a record for the asset;
- ``kind_matches`` (hard): the record's kind is the kind the listing declares;
- ``pledge_registered`` (hard): a registered pledge names the listing bank as pledgee under the
  listing's registration number (Civil Code art. 444: an IP pledge exists from registration);
- ``no_other_pledge`` (hard): no registered pledge names another pledgee;
- ``in_force`` (hard): status ``in_force`` and the term ends after the planned sale date (the
  detail gives the days of term left);
- ``fees_paid`` (warning): annual fees are paid up to the planned sale date; otherwise ``cost``
  estimates the arrears, which become a disposal cost;
- ``co_owner_consent`` (hard): a co-owned asset carries the co-owners' consent (Patent Law art. 14);
- ``disclosures`` (hard): every licence still running on the sale date, and every litigation, is
  disclosed;
- ``trademark_family`` (hard): every member of the asset's mark family is in the lot (Trademark
  Law art. 42); only for assets that belong to a family.

Names compare after Unicode NFKC folding (full-width and half-width parentheses alike), case
folding and whitespace removal, so "示范银行（苏州）分行" and "示范银行(苏州)分行" are one pledgee.

Undisclosed licences are a hard failure, not a warning: a licence granted before the sale keeps
binding the buyer after the transfer, an exclusive or sole one can empty the asset of its value,
and buyers ask for licences first; a listing that hides one misdescribes the lot. Pending
litigation or invalidation is held to the same rule (domain.md lists both as disclosures).

Arrears estimate (indicative, for the settlement's cost line, not a fee quote): CNIPA's annual
fee schedule before any fee reduction, per year of the right counted from filing (yuan):
invention 900 (years 1-3), 1 200 (4-6), 2 000 (7-9), 4 000 (10-12), 6 000 (13-15), 8 000 (16-20);
utility model and design 600 (1-3), 900 (4-5), 1 200 (6-8), 2 000 (9-10), design 3 000 (11-15);
plus the maximum late fee of 25 % of each unpaid year. A year is in arrears when it starts after
``fees_paid_until`` and on or before the planned sale date (at least one year when fees are short).
Without a filing date every year in arrears is charged at the first-years rate (a lower bound).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from registry_adapters.base import (
    MARK_KINDS,
    PATENT_KINDS,
    AssetKind,
    AssetRecord,
    PledgeRecord,
    anniversary,
    statutory_expiry,
)

Severity = Literal["hard", "warning"]
AssetKey = tuple[str, str]

CHECK_NAMES: tuple[str, ...] = (
    "lot_has_assets",
    "found",
    "kind_matches",
    "pledge_registered",
    "no_other_pledge",
    "in_force",
    "fees_paid",
    "co_owner_consent",
    "disclosures",
    "trademark_family",
)

FIXED_TERM_KINDS: frozenset[AssetKind] = PATENT_KINDS | MARK_KINDS | {"ic_layout", "plant_variety"}
ANNUAL_FEE_KINDS: frozenset[AssetKind] = PATENT_KINDS

ANNUAL_FEE_SCHEDULE_FEN: Mapping[AssetKind, tuple[tuple[int, int], ...]] = {
    "invention_patent": (
        (3, 90_000),
        (6, 120_000),
        (9, 200_000),
        (12, 400_000),
        (15, 600_000),
        (20, 800_000),
    ),
    "utility_model": ((3, 60_000), (5, 90_000), (8, 120_000), (10, 200_000)),
    "design": ((3, 60_000), (5, 90_000), (8, 120_000), (10, 200_000), (15, 300_000)),
}
LATE_FEE_BP = 2_500
GRACE_PERIOD_DAYS = 183


@dataclass(frozen=True, slots=True)
class AssetForCheck:
    registry: str
    number: str
    kind: AssetKind
    co_owner_consent: bool = False
    family_key: str | None = None


@dataclass(frozen=True, slots=True)
class Disclosures:
    licences_disclosed: bool = False
    litigation_disclosed: bool = False


@dataclass(frozen=True, slots=True)
class ListingForCheck:
    bank_name: str
    pledge_registration_no: str
    planned_sale_date: date
    assets: tuple[AssetForCheck, ...]
    disclosures: Disclosures = field(default_factory=Disclosures)


@dataclass(frozen=True, slots=True)
class CheckResult:
    asset: str | None
    check: str
    ok: bool
    severity: Severity
    detail: str
    evidence_sha256: str | None = None
    cost: int | None = None


def fold_name(name: str) -> str:
    """A party name folded for comparison: NFKC, case-folded, without whitespace."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def fold_number(number: str) -> str:
    return "".join(unicodedata.normalize("NFKC", number).upper().split())


def format_fen(amount: int) -> str:
    yuan, fen = divmod(amount, 100)
    return f"¥{yuan:,}.{fen:02d}"


def hard_failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [result for result in results if result.severity == "hard" and not result.ok]


def warnings(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [result for result in results if result.severity == "warning" and not result.ok]


def family_members_from_records(records: Iterable[AssetRecord | None]) -> dict[str, frozenset[AssetKey]]:
    """Each family key named by a record, with the ``(registry, number)`` of every record naming it."""
    families: dict[str, set[AssetKey]] = {}
    for record in records:
        if record is not None and record.family:
            families.setdefault(record.family, set()).add((record.registry, record.number))
    return {family: frozenset(members) for family, members in families.items()}


def _annual_fee(kind: AssetKind, year_of_right: int) -> int:
    schedule = ANNUAL_FEE_SCHEDULE_FEN[kind]
    for last_year, fee in schedule:
        if year_of_right <= last_year:
            return fee
    return schedule[-1][1]


def arrears_estimate(
    kind: AssetKind, filed_on: date | None, fees_paid_until: date, planned_sale_date: date
) -> int:
    """Indicative annual-fee arrears in fen at the planned sale date (see the module docstring)."""
    if kind not in ANNUAL_FEE_KINDS or fees_paid_until >= planned_sale_date:
        return 0
    if filed_on is None:
        years = max(1, -(-(planned_sale_date - fees_paid_until).days // 365))
        fees = [_annual_fee(kind, 1)] * years
    else:
        fees = []
        year_of_right = 1
        start = filed_on
        while start <= planned_sale_date:
            if start > fees_paid_until:
                fees.append(_annual_fee(kind, year_of_right))
            year_of_right += 1
            start = anniversary(filed_on, year_of_right - 1)
        if not fees:
            fees = [_annual_fee(kind, max(1, year_of_right - 1))]
    return sum(fee + fee * LATE_FEE_BP // 10_000 for fee in fees)


class _AssetChecks:
    def __init__(self, listing: ListingForCheck, asset: AssetForCheck, record: AssetRecord) -> None:
        self.listing = listing
        self.asset = asset
        self.record = record
        self.sale = listing.planned_sale_date
        self.bank = fold_name(listing.bank_name)

    def result(
        self, check: str, ok: bool, detail: str, severity: Severity = "hard", cost: int | None = None
    ) -> CheckResult:
        return CheckResult(
            asset=self.asset.number,
            check=check,
            ok=ok,
            severity=severity,
            detail=detail,
            evidence_sha256=self.record.raw_sha256,
            cost=cost,
        )

    def found(self) -> CheckResult:
        record = self.record
        title = f"“{record.title}”, " if record.title else ""
        return self.result("found", True, f"{record.source} record: {title}held by {record.holder}")

    def kind_matches(self) -> CheckResult:
        if self.record.kind == self.asset.kind:
            return self.result("kind_matches", True, f"registered as {self.record.kind}")
        return self.result(
            "kind_matches", False, f"listed as {self.asset.kind} but registered as {self.record.kind}"
        )

    def _registered(self) -> list[PledgeRecord]:
        return [pledge for pledge in self.record.pledges if pledge.status == "registered"]

    def pledge_registered(self) -> CheckResult:
        wanted = fold_number(self.listing.pledge_registration_no)
        same_number = [p for p in self.record.pledges if fold_number(p.registration_no) == wanted]
        for pledge in same_number:
            if pledge.status == "registered" and fold_name(pledge.pledgee) == self.bank:
                since = f" on {pledge.registered_on}" if pledge.registered_on else ""
                return self.result(
                    "pledge_registered",
                    True,
                    f"pledge {pledge.registration_no} registered to {pledge.pledgee}{since}",
                )
        if any(p.status == "registered" for p in same_number):
            pledgees = ", ".join(p.pledgee for p in same_number if p.status == "registered")
            detail = (
                f"pledge {self.listing.pledge_registration_no} is registered to {pledgees}, "
                f"not {self.listing.bank_name}"
            )
        elif same_number:
            released = same_number[0]
            when = f" on {released.released_on}" if released.released_on else ""
            detail = f"pledge {self.listing.pledge_registration_no} was released{when}"
        elif any(fold_name(p.pledgee) == self.bank for p in self._registered()):
            numbers = ", ".join(
                p.registration_no for p in self._registered() if fold_name(p.pledgee) == self.bank
            )
            detail = (
                f"registered to {self.listing.bank_name} under {numbers}, "
                f"not {self.listing.pledge_registration_no}"
            )
        else:
            detail = f"no registered pledge {self.listing.pledge_registration_no} on record"
        return self.result("pledge_registered", False, detail)

    def no_other_pledge(self) -> CheckResult:
        others = [p for p in self._registered() if fold_name(p.pledgee) != self.bank]
        if not others:
            return self.result("no_other_pledge", True, "no pledge registered to another pledgee")
        names = "; ".join(f"{p.pledgee} ({p.registration_no})" for p in others)
        return self.result("no_other_pledge", False, f"also pledged to {names}")

    def in_force(self) -> CheckResult:
        record = self.record
        if record.status != "in_force":
            return self.result("in_force", False, f"registry status is {record.status}")
        expiry = record.expires_on or statutory_expiry(
            record.kind, record.filed_on if record.kind in PATENT_KINDS else None
        )
        if expiry is None:
            if record.kind in FIXED_TERM_KINDS:
                return self.result("in_force", False, "in force, but the end of term is not on record")
            return self.result("in_force", True, "in force; no fixed end of term on record")
        remaining = (expiry - self.sale).days
        if remaining > 0:
            return self.result(
                "in_force",
                True,
                f"in force until {expiry}: {remaining} days of term remain after the sale on {self.sale}",
            )
        return self.result(
            "in_force",
            False,
            f"term ends {expiry}, {-remaining} days before or on the planned sale on {self.sale}",
        )

    def fees_paid(self) -> CheckResult:
        record = self.record
        if record.kind not in ANNUAL_FEE_KINDS:
            return self.result("fees_paid", True, f"no annual fees for {record.kind}", "warning")
        paid = record.fees_paid_until
        if paid is None:
            return self.result(
                "fees_paid",
                False,
                "the registry does not report annual fees: verify them before the sale",
                "warning",
            )
        if paid >= self.sale:
            return self.result("fees_paid", True, f"annual fees paid until {paid}", "warning")
        cost = arrears_estimate(record.kind, record.filed_on, paid, self.sale)
        detail = (
            f"annual fees paid only until {paid}; "
            f"indicative arrears {format_fen(cost)} become a disposal cost"
        )
        if paid + timedelta(days=GRACE_PERIOD_DAYS) < self.sale:
            detail += "; past the 6-month grace period the right ends unless restored (Patent Law art. 44)"
        return self.result("fees_paid", False, detail, "warning", cost)

    def co_owner_consent(self) -> CheckResult:
        co_owners = self.record.co_owners
        if not co_owners:
            return self.result("co_owner_consent", True, f"sole holder {self.record.holder}")
        names = ", ".join(co_owners)
        if self.asset.co_owner_consent:
            return self.result("co_owner_consent", True, f"co-owned with {names}; consent on file")
        return self.result("co_owner_consent", False, f"co-owned with {names}; their consent is missing")

    def disclosures(self) -> CheckResult:
        disclosures = self.listing.disclosures
        missing: list[str] = []
        if not disclosures.licences_disclosed:
            for licence in self.record.licences:
                if licence.until is None or licence.until >= self.sale:
                    until = f" until {licence.until}" if licence.until else ""
                    missing.append(f"{licence.kind} licence to {licence.licensee}{until}")
        if not disclosures.litigation_disclosed:
            missing.extend(f"litigation: {case}" for case in self.record.litigation)
        if missing:
            return self.result("disclosures", False, "not disclosed: " + "; ".join(missing))
        return self.result("disclosures", True, "every licence and litigation on record is disclosed")

    def trademark_family(
        self, family: str, members: AbstractSet[AssetKey], lot: AbstractSet[AssetKey]
    ) -> CheckResult:
        missing = sorted(members - lot)
        if not missing:
            return self.result(
                "trademark_family", True, f"family {family}: all {len(members)} members are in the lot"
            )
        numbers = ", ".join(number for _, number in missing)
        return self.result(
            "trademark_family",
            False,
            f"family {family}: {numbers} not in the lot; similar marks must be transferred together",
        )


def run_checks(
    listing: ListingForCheck,
    records: Mapping[AssetKey, AssetRecord | None],
    all_family_members: Mapping[str, AbstractSet[AssetKey]] | None = None,
) -> list[CheckResult]:
    """Every check for ``listing`` against the registry ``records`` keyed by ``(registry, number)``.

    Family membership is the union of ``all_family_members`` (the registry's family information),
    the families named by ``records`` (which may hold records of assets outside the lot), and the
    ``family_key`` the listing gives its own assets.
    """
    families: dict[str, set[AssetKey]] = {
        family: set(members) for family, members in (all_family_members or {}).items()
    }
    for family, members in family_members_from_records(records.values()).items():
        families.setdefault(family, set()).update(members)
    for asset in listing.assets:
        if asset.family_key:
            families.setdefault(asset.family_key, set()).add((asset.registry, asset.number))
    lot = {(asset.registry, asset.number) for asset in listing.assets}

    results: list[CheckResult] = []
    if not listing.assets:
        results.append(CheckResult(None, "lot_has_assets", False, "hard", "the lot holds no asset"))
    else:
        results.append(
            CheckResult(None, "lot_has_assets", True, "hard", f"the lot holds {len(lot)} asset(s)")
        )
    for asset in listing.assets:
        record = records.get((asset.registry, asset.number))
        if record is None:
            results.append(
                CheckResult(
                    asset.number, "found", False, "hard", f"{asset.registry} has no record of {asset.number}"
                )
            )
            continue
        checks = _AssetChecks(listing, asset, record)
        results.extend(
            [
                checks.found(),
                checks.kind_matches(),
                checks.pledge_registered(),
                checks.no_other_pledge(),
                checks.in_force(),
                checks.fees_paid(),
                checks.co_owner_consent(),
                checks.disclosures(),
            ]
        )
        family_key = record.family or asset.family_key
        if family_key:
            results.append(checks.trademark_family(family_key, families.get(family_key, set()), lot))
    return results
