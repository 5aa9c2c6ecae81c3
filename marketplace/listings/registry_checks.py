"""Submitting a listing: look every asset up in the registry, run the pure checks, keep the evidence.

Invariants:
- each submission is one check run (``ListingCheck.run_no`` = the listing's new ``checks_run``);
  earlier runs stay as history, only the latest decides approval;
- every stored result carries the registry's raw answer for its asset and that answer's SHA-256;
- annual-fee arrears (a failed ``fees_paid`` warning with a cost) become disposal-cost lines in
  the settlement terms, replacing those of any earlier run; they never block approval;
- a registry that cannot answer fails the submission (503 ``registry_unavailable``) and changes
  nothing: an outage is never recorded as "asset not found".
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Org
from marketplace.accounts.security import Principal
from marketplace.db import utcnow
from marketplace.deps import require
from marketplace.errors import Unavailable
from marketplace.listings.models import Listing, ListingCheck
from marketplace.listings.service import (
    DEFAULT_SALE_AFTER_DAYS,
    check_transition,
    get_listing,
    require_owner,
    transition,
)
from marketplace.listings.terms import with_arrears_costs
from marketplace.registry.store import FamilyIndex
from registry_adapters.base import AssetRecord, RegistryAdapter, RegistryError
from registry_adapters.checks import (
    AssetForCheck,
    CheckResult,
    Disclosures,
    ListingForCheck,
    fold_name,
    fold_number,
    run_checks,
)

AssetKey = tuple[str, str]
ARREARS_CHECK: Final = "fees_paid"


def planned_sale_date(listing: Listing, today: date) -> date:
    return listing.planned_sale_date or today + timedelta(days=DEFAULT_SALE_AFTER_DAYS)


def disclosures_for(listing: Listing, records: dict[AssetKey, AssetRecord | None]) -> Disclosures:
    """Whether the bank's statements cover every licence and litigation the records show.

    A licence counts as disclosed when a stated licence names the same asset and licensee; pending
    litigation counts as disclosed when the bank states at least one case for a lot that has any.
    """
    stated = listing.disclosures or {}
    stated_licences = {
        (fold_number(str(item.get("asset", ""))), fold_name(str(item.get("licensee", ""))))
        for item in stated.get("licences") or ()
    }
    licences_disclosed = all(
        (fold_number(record.number), fold_name(licence.licensee)) in stated_licences
        for record in records.values()
        if record is not None
        for licence in record.licences
    )
    litigation_on_record = any(record is not None and record.litigation for record in records.values())
    litigation_disclosed = not litigation_on_record or bool(stated.get("litigation"))
    return Disclosures(licences_disclosed=licences_disclosed, litigation_disclosed=litigation_disclosed)


async def look_up_assets(
    registry: RegistryAdapter, listing: Listing
) -> tuple[dict[AssetKey, AssetRecord | None], dict[str, frozenset[AssetKey]]]:
    records: dict[AssetKey, AssetRecord | None] = {}
    families: dict[str, frozenset[AssetKey]] = {}
    try:
        for asset in listing.assets:
            key = (asset.registry_name, asset.number)
            if key not in records:
                records[key] = await registry.lookup(*key)
        if isinstance(registry, FamilyIndex):
            for record in records.values():
                if record is not None and record.family and record.family not in families:
                    families[record.family] = await registry.family_members(record.family)
    except RegistryError as exc:
        raise Unavailable("registry_unavailable", f"the registry could not answer: {exc.detail}") from exc
    return records, families


def _raw_text(record: AssetRecord | None) -> str | None:
    if record is None:
        return None
    if isinstance(record.raw, bytes):
        return record.raw.decode("utf-8", errors="replace")
    return record.raw


async def run_listing_checks(
    session: AsyncSession, listing: Listing, registry: RegistryAdapter, *, now: datetime | None = None
) -> list[ListingCheck]:
    """Run and store one check run for ``listing``; returns the stored results in order."""
    now = now or utcnow()
    bank_name = await session.scalar(select(Org.name).where(Org.id == listing.bank_org_id)) or ""
    records, families = await look_up_assets(registry, listing)
    subject = ListingForCheck(
        bank_name=bank_name,
        pledge_registration_no=listing.pledge_registration_no,
        planned_sale_date=planned_sale_date(listing, now.date()),
        assets=tuple(
            AssetForCheck(
                registry=asset.registry_name,
                number=asset.number,
                kind=asset.kind,  # type: ignore[arg-type]
                co_owner_consent=asset.co_owner_consent,
                family_key=asset.family_key,
            )
            for asset in listing.assets
        ),
        disclosures=disclosures_for(listing, records),
    )
    results = run_checks(subject, records, families)
    by_number = {number: record for (_, number), record in records.items()}
    run_no = listing.checks_run + 1
    rows = [
        _check_row(listing.id, run_no, position, result, by_number.get(result.asset or ""), now)
        for position, result in enumerate(results, start=1)
    ]
    session.add_all(rows)
    listing.checks_run = run_no
    listing.settlement_terms = with_arrears_costs(listing.settlement_terms, arrears_of(results))
    listing.updated_at = now
    await session.flush()
    return rows


def arrears_of(results: list[CheckResult]) -> list[tuple[str, int]]:
    return [
        (result.asset, result.cost)
        for result in results
        if result.check == ARREARS_CHECK and not result.ok and result.asset and result.cost
    ]


def _check_row(
    listing_id: uuid.UUID,
    run_no: int,
    position: int,
    result: CheckResult,
    record: AssetRecord | None,
    now: datetime,
) -> ListingCheck:
    has_evidence = record is not None and result.evidence_sha256 == record.raw_sha256
    return ListingCheck(
        listing_id=listing_id,
        run_no=run_no,
        position=position,
        asset=result.asset,
        check=result.check,
        ok=result.ok,
        severity=result.severity,
        detail=result.detail,
        evidence_sha256=result.evidence_sha256,
        raw_evidence=_raw_text(record) if has_evidence else None,
        cost=result.cost,
        checked_at=now,
    )


async def submit_listing(
    session: AsyncSession,
    principal: Principal | None,
    listing_id: uuid.UUID,
    registry: RegistryAdapter,
    *,
    now: datetime | None = None,
) -> Listing:
    """The owning bank submits a draft (or a rejected listing): checks run, status ``submitted``."""
    caller = require(principal, "bank_user")
    listing = await get_listing(session, listing_id, caller, lock=True)
    require_owner(caller, listing)
    check_transition(listing.status, "submitted")
    await run_listing_checks(session, listing, registry, now=now)
    await transition(session, listing, "submitted", caller.user_id, "submitted for review")
    return listing
