"""Listing rules: who sees what, the one way a status changes, create / approve / reject / withdraw.

Invariants:
- every status change goes through :func:`transition`: it consults :data:`TRANSITIONS`, updates
  the row only if its status is still the one read (compare-and-set, so two nodes cannot both
  move a listing), and records a ``ListingTransition``; anything else is ``illegal_transition``,
  and withdrawing a sold or settled lot is ``already_sold``;
- a listing is visible to everyone once published (:data:`PUBLISHED_STATUSES`); before that only
  to :func:`visible_confidential` callers, and to everyone else it does not exist (404);
- the loan, the pledge contract and the settlement terms are shown only to
  :func:`visible_confidential` callers: the owning bank's users, the users of the organisations
  named as settlement parties, and operators;
- approval needs the latest check run to have no failed hard check (``checks_failed``).
Services never commit; the request's unit of work does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from marketplace.accounts.models import Org
from marketplace.accounts.security import Principal
from marketplace.db import utcnow
from marketplace.deps import require
from marketplace.errors import Conflict, Forbidden, Invalid, NotFound
from marketplace.listings.models import (
    PUBLISHED_STATUSES,
    Listing,
    ListingAsset,
    ListingCheck,
    ListingTransition,
)
from marketplace.listings.schemas import (
    AdvanceOut,
    AssetOut,
    CheckOut,
    CostOut,
    ListingCreate,
    ListingOut,
    LoanOut,
    PartyOut,
    PledgeOut,
    SettlementTermsOut,
    ValuationOut,
)
from marketplace.listings.terms import party_org_ids, terms_json, validate_terms
from marketplace.money import CURRENCIES
from registry_adapters.base import REGISTRY_KINDS, registry_for

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "draft": frozenset({"submitted", "withdrawn"}),
    "submitted": frozenset({"approved", "rejected", "withdrawn"}),
    "rejected": frozenset({"submitted", "withdrawn"}),
    "approved": frozenset({"in_disposal", "withdrawn"}),
    "in_disposal": frozenset({"sold", "failed", "withdrawn"}),
    "sold": frozenset({"settled", "in_disposal"}),
    "failed": frozenset({"in_disposal"}),
    "withdrawn": frozenset(),
    "settled": frozenset(),
}
SOLD_STATUSES: Final = frozenset({"sold", "settled"})
DEFAULT_SALE_AFTER_DAYS: Final = 45
PARTY_ORG_KIND: Final = {
    "bank": "bank",
    "guarantor": "guarantor",
    "risk_pool": "risk_pool",
    "valuer": "valuer",
    "insurer": "insurer",
}


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check_transition(from_status: str, to_status: str) -> None:
    """Raise the ``Conflict`` :func:`transition` would raise, without changing anything."""
    if to_status == "withdrawn" and from_status in SOLD_STATUSES:
        raise Conflict("already_sold", "a sold lot can no longer be withdrawn")
    if not can_transition(from_status, to_status):
        raise Conflict("illegal_transition", f"a {from_status} listing cannot become {to_status}")


async def transition(
    session: AsyncSession,
    listing: Listing,
    to_status: str,
    actor_id: uuid.UUID | None,
    reason: str = "",
) -> ListingTransition:
    """Move ``listing`` to ``to_status`` (the only way a listing's status changes)."""
    from_status = listing.status
    check_transition(from_status, to_status)
    now = utcnow()
    result = await session.execute(
        update(Listing)
        .where(Listing.id == listing.id, Listing.status == from_status)
        .values(status=to_status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) != 1:
        raise Conflict("illegal_transition", "the listing changed meanwhile; reload it and retry")
    set_committed_value(listing, "status", to_status)
    set_committed_value(listing, "updated_at", now)
    record = ListingTransition(
        listing_id=listing.id,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor_id,
        reason=reason,
        at=now,
    )
    session.add(record)
    return record


def is_published(listing: Listing) -> bool:
    return listing.status in PUBLISHED_STATUSES


def is_owner(principal: Principal | None, listing: Listing) -> bool:
    return (
        principal is not None
        and principal.role == "bank_user"
        and principal.org_id is not None
        and principal.org_id == listing.bank_org_id
    )


def visible_confidential(principal: Principal | None, listing: Listing) -> bool:
    """Whether the caller may see the loan, the pledge contract and the settlement terms."""
    if principal is None:
        return False
    if principal.role == "operator":
        return True
    if principal.org_id is None:
        return False
    return principal.org_id == listing.bank_org_id or principal.org_id in party_org_ids(
        listing.settlement_terms
    )


def can_see(principal: Principal | None, listing: Listing) -> bool:
    return is_published(listing) or visible_confidential(principal, listing)


async def get_listing(
    session: AsyncSession, listing_id: uuid.UUID, principal: Principal | None, *, lock: bool = False
) -> Listing:
    """The listing, if the caller may see it; 404 ``not_found`` when unknown or not visible.

    ``lock`` takes a row lock (``SELECT … FOR UPDATE`` on PostgreSQL) for the rest of the
    transaction.
    """
    statement = select(Listing).where(Listing.id == listing_id)
    if lock:
        statement = statement.with_for_update()
    listing = await session.scalar(statement)
    if listing is None or not can_see(principal, listing):
        raise NotFound("not_found", "no such listing")
    return listing


def require_owner(principal: Principal | None, listing: Listing) -> Principal:
    caller = require(principal, "bank_user")
    if not is_owner(caller, listing):
        raise Forbidden("not_owner", "only the listing bank may do this")
    return caller


def search_text(title: str, assets: Sequence[ListingAsset]) -> str:
    parts = [title, *(asset.title for asset in assets), *(asset.number for asset in assets)]
    return " ".join(part.strip() for part in parts).lower()


async def _check_orgs(session: AsyncSession, data: ListingCreate) -> None:
    wanted: dict[uuid.UUID, set[str]] = {}
    for party in data.settlement.parties:
        wanted.setdefault(party.org_id, set()).add(PARTY_ORG_KIND[party.role])
    if data.valuation.agency_org_id is not None:
        wanted.setdefault(data.valuation.agency_org_id, set()).add("valuer")
    if not wanted:
        return
    kinds = dict((await session.execute(select(Org.id, Org.kind).where(Org.id.in_(wanted)))).all())
    for org_id, expected in wanted.items():
        if org_id not in kinds:
            raise Invalid("unknown_org", f"no organisation {org_id}")
        if kinds[org_id] not in expected:
            raise Invalid(
                "party_kind_mismatch",
                f"organisation {org_id} is a {kinds[org_id]}, not a {' or '.join(sorted(expected))}",
            )


def _check_draft(data: ListingCreate, bank_org_id: uuid.UUID, today: date) -> None:
    if data.currency not in CURRENCIES:
        raise Invalid(
            "bad_currency", f"currency {data.currency!r} is not one of {', '.join(sorted(CURRENCIES))}"
        )
    if data.loan.default_date > today:
        raise Invalid("default_in_future", "the loan's default date is in the future")
    if data.planned_sale_date is not None and data.planned_sale_date <= today:
        raise Invalid("planned_sale_in_past", "the planned sale date must be after today")
    if data.valuation.method == "external" and data.valuation.agency_org_id is None:
        raise Invalid("valuer_required", "an external valuation names the valuer (agency_org_id)")
    if data.valuation.report_date is not None and data.valuation.report_date > today:
        raise Invalid("report_in_future", "the valuation report date is in the future")
    seen: set[tuple[str, str]] = set()
    for asset in data.assets:
        registry = asset.registry or registry_for(asset.kind)
        if asset.kind not in REGISTRY_KINDS[registry]:
            raise Invalid("registry_mismatch", f"{registry} does not record {asset.kind} ({asset.number})")
        key = (registry, asset.number.strip())
        if key in seen:
            raise Invalid("duplicate_asset", f"{asset.number} is listed twice in the lot")
        seen.add(key)
    validate_terms(data.settlement, bank_org_id=bank_org_id, claim=data.loan.claim)


async def create_listing(
    session: AsyncSession, principal: Principal | None, data: ListingCreate, *, today: date | None = None
) -> Listing:
    """A new draft for the caller's bank; 403 ``wrong_role`` for anyone but a bank user."""
    caller = require(principal, "bank_user")
    if caller.org_id is None:
        raise Forbidden("wrong_role", "a bank user must belong to a bank")
    today = today or utcnow().date()
    _check_draft(data, caller.org_id, today)
    await _check_orgs(session, data)
    assets = [
        ListingAsset(
            position=position,
            kind=asset.kind,
            registry_name=asset.registry or registry_for(asset.kind),
            number=asset.number.strip(),
            title=asset.title.strip(),
            co_owner_consent=asset.co_owner_consent,
            family_key=asset.family_key,
        )
        for position, asset in enumerate(data.assets, start=1)
    ]
    now = utcnow()
    listing = Listing(
        bank_org_id=caller.org_id,
        created_by=caller.user_id,
        title=data.title.strip(),
        currency=data.currency,
        status="draft",
        loan_ref=data.loan.loan_ref.strip(),
        pledgor_name=data.loan.pledgor_name.strip(),
        claim=data.loan.claim,
        default_date=data.loan.default_date,
        pledge_registry=data.pledge.registry,
        pledge_registration_no=data.pledge.registration_no.strip(),
        valuation_amount=data.valuation.amount,
        valuation_method=data.valuation.method,
        valuer_org_id=data.valuation.agency_org_id,
        valuation_report_date=data.valuation.report_date,
        settlement_terms=terms_json(data.settlement),
        disclosures=_disclosures_json(data),
        industry=data.industry.strip(),
        ipc_class=data.ipc_class,
        planned_sale_date=data.planned_sale_date,
        checks_run=0,
        search_text=search_text(data.title, assets),
        created_at=now,
        updated_at=now,
        assets=assets,
    )
    session.add(listing)
    await session.flush()
    return listing


def _disclosures_json(data: ListingCreate) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(data.disclosures)
    return result


def hard_failures_of(checks: Sequence[ListingCheck]) -> list[ListingCheck]:
    return [check for check in checks if check.severity == "hard" and not check.ok]


async def latest_checks(session: AsyncSession, listing: Listing) -> list[ListingCheck]:
    if listing.checks_run == 0:
        return []
    rows = await session.scalars(
        select(ListingCheck)
        .where(ListingCheck.listing_id == listing.id, ListingCheck.run_no == listing.checks_run)
        .order_by(ListingCheck.position)
    )
    return list(rows.all())


async def approve_listing(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID, *, now: datetime | None = None
) -> Listing:
    """Publish a submitted listing (operator); refused with ``checks_failed`` while a hard check fails.

    Approval is the announcement: ``approved_at`` and ``announcement_at`` are now, and a missing
    planned sale date becomes 45 days after approval (the 30-day announcement and a margin).
    """
    caller = require(principal, "operator")
    listing = await get_listing(session, listing_id, caller, lock=True)
    check_transition(listing.status, "approved")
    failures = hard_failures_of(await latest_checks(session, listing))
    if failures:
        summary = "; ".join(f"{check.check} ({check.asset or 'lot'})" for check in failures)
        raise Conflict("checks_failed", f"hard checks failed: {summary}")
    now = now or utcnow()
    await transition(session, listing, "approved", caller.user_id, "approved")
    listing.approved_at = now
    listing.announcement_at = now
    if listing.planned_sale_date is None:
        listing.planned_sale_date = now.date() + timedelta(days=DEFAULT_SALE_AFTER_DAYS)
    await session.flush()
    return listing


async def reject_listing(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID, reason: str
) -> Listing:
    caller = require(principal, "operator")
    listing = await get_listing(session, listing_id, caller, lock=True)
    await transition(session, listing, "rejected", caller.user_id, reason)
    return listing


async def withdraw_listing(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID, reason: str
) -> Listing:
    """Withdraw a lot (owning bank or operator); ``already_sold`` once it is sold."""
    caller = require(principal, "bank_user", "operator")
    listing = await get_listing(session, listing_id, caller, lock=True)
    if caller.role != "operator":
        require_owner(caller, listing)
    await transition(session, listing, "withdrawn", caller.user_id, reason)
    return listing


@dataclass(frozen=True)
class ListingExtras:
    """What other areas add to a listing's page: its auction rounds and the offers made on it."""

    rounds: list[Any] = field(default_factory=list)
    offers: list[Any] = field(default_factory=list)


async def listing_extras(
    session: AsyncSession, listing: Listing, principal: Principal | None
) -> ListingExtras:
    """The listing's auction rounds (public) and the offers this caller may read."""
    from marketplace.auctions.service import auction_out, rounds_of
    from marketplace.offers.service import listing_offers_out

    now = utcnow()
    rounds = [auction_out(row, now) for row in await rounds_of(session, listing.id)]
    offers = await listing_offers_out(session, listing, principal)
    return ListingExtras(rounds=rounds, offers=offers)


async def bank_names(session: AsyncSession, org_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not org_ids:
        return {}
    rows = await session.execute(select(Org.id, Org.name).where(Org.id.in_(org_ids)))
    return dict(rows.all())


def check_out(check: ListingCheck, *, mask: str | None = None) -> CheckOut:
    """A stored check result; ``mask`` (the pledgor's name) is hidden from the detail when given."""
    detail = check.detail.replace(mask, "(the pledgor)") if mask else check.detail
    return CheckOut(
        asset=check.asset,
        check=check.check,
        ok=check.ok,
        severity=check.severity,
        detail=detail,
        evidence_sha256=check.evidence_sha256,
        cost=check.cost,
        checked_at=check.checked_at,
    )


def _terms_out(terms: dict[str, Any]) -> SettlementTermsOut:
    return SettlementTermsOut(
        parties=[
            PartyOut(role=p["role"], org_id=uuid.UUID(str(p["org_id"])), ratio_bp=int(p["ratio_bp"]))
            for p in terms.get("parties") or ()
        ],
        advances=[AdvanceOut(role=a["role"], amount=int(a["amount"])) for a in terms.get("advances") or ()],
        costs=[CostOut(kind=c["kind"], amount=int(c["amount"])) for c in terms.get("costs") or ()],
    )


async def listing_out(session: AsyncSession, listing: Listing, principal: Principal | None) -> ListingOut:
    """The listing as ``principal`` may see it (confidential parts absent for others)."""
    names = await bank_names(session, {listing.bank_org_id})
    checks = await latest_checks(session, listing)
    extras = await listing_extras(session, listing, principal)
    confidential = visible_confidential(principal, listing)
    out = ListingOut(
        id=listing.id,
        status=listing.status,
        title=listing.title,
        currency=listing.currency,
        price=listing.valuation_amount,
        bank_org_id=listing.bank_org_id,
        bank_name=names.get(listing.bank_org_id, ""),
        valuation=ValuationOut(
            amount=listing.valuation_amount,
            method=listing.valuation_method,
            agency_org_id=listing.valuer_org_id,
            report_date=listing.valuation_report_date,
        ),
        industry=listing.industry,
        ipc_class=listing.ipc_class,
        planned_sale_date=listing.planned_sale_date,
        approved_at=listing.approved_at,
        announcement_at=listing.announcement_at,
        created_at=listing.created_at,
        updated_at=listing.updated_at,
        disclosures=dict(listing.disclosures or {}),
        assets=[
            AssetOut(
                position=asset.position,
                kind=asset.kind,
                registry=asset.registry_name,
                number=asset.number,
                title=asset.title,
                co_owner_consent=asset.co_owner_consent,
                family_key=asset.family_key,
            )
            for asset in listing.assets
        ],
        checks=[check_out(check, mask=None if confidential else listing.pledgor_name) for check in checks],
        rounds=list(extras.rounds),
        offers=list(extras.offers),
        confidential=confidential,
    )
    if confidential:
        out.loan = LoanOut(
            loan_ref=listing.loan_ref,
            pledgor_name=listing.pledgor_name,
            claim=listing.claim,
            default_date=listing.default_date,
        )
        out.pledge = PledgeOut(
            registry=listing.pledge_registry, registration_no=listing.pledge_registration_no
        )
        out.settlement = _terms_out(listing.settlement_terms)
    return out
