"""What pages read from other areas, each through that area's service functions.

Invariants: nothing here queries the database itself; each function is a thin composition of
service calls (``marketplace.auctions.service``, ``marketplace.listings.service`` …), so a page
sees exactly what the API would show the same caller.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from frontend.formatting import FormValueError, format_plain_amount
from marketplace.accounts import service as accounts_service
from marketplace.accounts.security import Principal
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import AuctionOut, RegistrationOut
from marketplace.auctions.store import LifecycleCommand
from marketplace.context import AppContext
from marketplace.db import utcnow
from marketplace.deps import require
from marketplace.errors import Invalid, NotFound
from marketplace.listings.catalogue import MAX_PAGE_SIZE, CatalogueQuery, search_listings
from marketplace.listings.models import LISTING_STATUSES, PUBLISHED_STATUSES
from marketplace.listings.schemas import ListingOut, ListingSummary
from marketplace.listings.service import bank_names, get_listing, listing_out
from marketplace.offers import service as offers_service
from marketplace.offers.schemas import CounterIn, OfferOut
from marketplace.settlement import (
    Advance,
    Case,
    Cost,
    Party,
    SettlementInvalid,
    Statement,
    compute_statement,
    statements,
)
from marketplace.settlement.service import SettlementPolicy, issue_payouts, settle_listing
from marketplace.settlement.statements import SettlementOut

LIVE_STATUSES = ("scheduled", "open")


async def rounds(session: AsyncSession, listing_id: uuid.UUID) -> list[AuctionOut]:
    now = utcnow()
    return [auctions.auction_out(row, now) for row in await auctions.rounds_of(session, listing_id)]


async def next_round(session: AsyncSession, listing_id: uuid.UUID) -> AuctionOut | None:
    for round_ in await rounds(session, listing_id):
        if round_.status in LIVE_STATUSES:
            return round_
    return None


async def org_names(session: AsyncSession, lot: ListingOut) -> dict[uuid.UUID, str]:
    """Names of the bank, the valuer and the settlement parties of ``lot``."""
    ids = {lot.bank_org_id}
    if lot.valuation.agency_org_id is not None:
        ids.add(lot.valuation.agency_org_id)
    if not isinstance(lot.settlement, msgspec.UnsetType):
        ids.update(party.org_id for party in lot.settlement.parties)
    return await bank_names(session, ids)


def gateway(ctx: AppContext, method: str, session: AsyncSession) -> Any:
    """The payment gateway for ``method`` bound to the request's session (as the API builds it)."""
    factory = ctx.services.get("gateways")
    found = factory(method, session) if callable(factory) else None
    if found is None:
        raise Invalid("payment_method_unavailable", f"{method} deposits are not enabled on this exchange")
    return found


@dataclass(frozen=True)
class Standing:
    """A buyer's standing in a round: its bidder code, whether its deposit is held, and the full
    registration (deposit reference and transfer details) when the service can give it."""

    bidder_code: str
    deposit_held: bool
    registration: RegistrationOut | None = None


async def my_standing(
    session: AsyncSession, auction_id: uuid.UUID, principal: Principal | None
) -> Standing | None:
    """The caller's standing in the round, or ``None`` when it has not registered (or may not bid)."""
    if principal is None or principal.role != "buyer":
        return None
    found = await auctions.registration_for(session, auction_id, principal.user_id)
    if found is None:
        return None
    return Standing(found.bidder_code, found.deposit.status == "held", found)


async def org_choices(session: AsyncSession) -> dict[str, list[tuple[uuid.UUID, str]]]:
    """Organisations by kind, for the wizard's selects."""
    choices: dict[str, list[tuple[uuid.UUID, str]]] = {}
    for org in await accounts_service.list_orgs(session):
        choices.setdefault(org.kind, []).append((org.id, org.name))
    return choices


async def names_of(session: AsyncSession, org_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await bank_names(session, org_ids)


OWN_LISTING_PAGES = 10


async def own_listings(
    session: AsyncSession, principal: Principal | None, bank_org_id: uuid.UUID
) -> list[ListingSummary]:
    """The bank's own listings, newest first, through the catalogue service (which shows a bank
    its own drafts). The catalogue has no owner filter yet, so its pages are read and filtered."""
    own: list[ListingSummary] = []
    for number in range(1, OWN_LISTING_PAGES + 1):
        page = await search_listings(session, principal, CatalogueQuery(page=number, page_size=MAX_PAGE_SIZE))
        own.extend(item for item in page.items if item.bank_org_id == bank_org_id)
        if number * MAX_PAGE_SIZE >= page.total:
            break
    return own


@dataclass(frozen=True)
class OfferRow:
    listing: ListingSummary
    offer: OfferOut


async def offers_for_bank(
    session: AsyncSession, principal: Principal | None, bank_org_id: uuid.UUID
) -> list[OfferRow]:
    rows: list[OfferRow] = []
    now = utcnow()
    for listing in await own_listings(session, principal, bank_org_id):
        if listing.status not in PUBLISHED_STATUSES:
            continue
        for offer in await offers_service.offers_of(session, principal, listing.id):
            rows.append(OfferRow(listing, offers_service.offer_out(offer, now)))
    rows.sort(key=lambda row: (row.offer.status not in ("open", "countered"), row.offer.created_at))
    return rows


async def answer_offer(
    session: AsyncSession,
    principal: Principal | None,
    offer_id: uuid.UUID,
    action: str,
    *,
    amount: int | None = None,
    reason: str = "",
) -> None:
    if action == "accept":
        await offers_service.accept_offer(session, principal, offer_id)
    elif action == "reject":
        await offers_service.reject_offer(session, principal, offer_id, reason[:2000])
    else:
        await offers_service.counter_offer(session, principal, offer_id, CounterIn(amount=amount or 0))


@dataclass(frozen=True)
class FoundStatement:
    """A settlement statement and where it comes from: ``posted`` by the settlement service, or a
    ``preview`` the pure calculator computes from the listing's fixed terms and its hammer price
    (before the operator settles)."""

    listing: ListingOut
    statement: Statement | SettlementOut
    names: dict[uuid.UUID, str]
    posted: bool


async def statement(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID
) -> FoundStatement:
    row = await get_listing(session, listing_id, principal)
    lot = await listing_out(session, row, principal)
    if (
        not lot.confidential
        or isinstance(lot.settlement, msgspec.UnsetType)
        or isinstance(lot.loan, msgspec.UnsetType)
    ):
        raise NotFound("not_found", "no settlement statement you may read")
    names = await org_names(session, lot)
    try:
        posted = await statements.statement_view(session, principal, listing_id)
    except NotFound as exc:
        if exc.code != "not_settled":
            raise
    else:
        return FoundStatement(lot, posted, names, posted=True)
    all_rounds = await rounds(session, listing_id)
    sold = [r for r in all_rounds if r.status == "sold" and r.hammer_price is not None]
    if not sold:
        raise NotFound("not_found", "no settlement statement yet: the lot is not sold")
    forfeited = sum(r.deposit for r in all_rounds if r.status == "defaulted")
    terms = lot.settlement
    case = Case(
        currency=lot.currency,
        hammer=sold[-1].hammer_price or 0,
        forfeited_deposits=forfeited,
        costs=[Cost(kind=c.kind, amount=c.amount) for c in terms.costs],
        claim=lot.loan.claim,
        parties=[Party(role=p.role, ratio_bp=p.ratio_bp) for p in terms.parties],
        advances=[Advance(role=a.role, amount=a.amount) for a in terms.advances],
    )
    return FoundStatement(lot, compute_statement(case), names, posted=False)


def statement_csv(found: FoundStatement) -> str:
    """The statement as CSV (amounts in fen and in yuan), for the desk's download."""
    s = found.statement
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["listing", str(found.listing.id), found.listing.title])
    writer.writerow(["status", "posted" if found.posted else "preview"])
    writer.writerow(["item", "amount_fen", "amount", "currency"])
    for key, value in (
        ("hammer", s.hammer),
        ("forfeited_deposits", s.forfeited_deposits),
        ("commission", s.commission),
        ("costs_total", s.costs_total),
        ("net", s.net),
        ("claim", s.claim),
        ("recovered", s.recovered),
        ("loss", s.loss),
        ("surplus_to_pledgor", s.surplus_to_pledgor),
        ("premium", s.premium),
    ):
        writer.writerow([key, value, format_plain_amount(value), s.currency])
    writer.writerow([])
    writer.writerow(["role", "ratio_bp", "advance_fen", "loss_share_fen", "receives_fen", "receives"])
    for line in s.lines:
        writer.writerow(
            [
                line.role,
                line.ratio_bp,
                line.advance,
                line.loss_share,
                line.receives,
                format_plain_amount(line.receives),
            ]
        )
    writer.writerow(["balanced", str(s.balanced).lower()])
    return out.getvalue()


async def review_queue(session: AsyncSession, principal: Principal | None) -> list[ListingSummary]:
    """Submitted listings, oldest first (the catalogue shows operators every status)."""
    page = await search_listings(
        session, principal, CatalogueQuery(status="submitted", page_size=MAX_PAGE_SIZE)
    )
    return sorted(page.items, key=lambda item: (item.created_at, str(item.id)))


@dataclass(frozen=True)
class RunningRound:
    listing: ListingSummary
    round: AuctionOut


async def _published(
    session: AsyncSession, principal: Principal | None, status: str | None = None
) -> list[ListingSummary]:
    items: list[ListingSummary] = []
    for number in range(1, OWN_LISTING_PAGES + 1):
        page = await search_listings(
            session, principal, CatalogueQuery(status=status, page=number, page_size=MAX_PAGE_SIZE)
        )
        items.extend(page.items)
        if number * MAX_PAGE_SIZE >= page.total:
            break
    return items


async def running_rounds(session: AsyncSession, principal: Principal | None) -> list[RunningRound]:
    """Rounds scheduled or open, soonest end first."""
    running: list[RunningRound] = []
    for listing in await _published(session, principal, "in_disposal"):
        for round_ in await rounds(session, listing.id):
            if round_.status in LIVE_STATUSES:
                running.append(RunningRound(listing, round_))
    running.sort(key=lambda item: (item.round.status != "open", item.round.ends_at))
    return running


async def round_action(
    session: AsyncSession, ctx: AppContext, principal: Principal | None, auction_id: uuid.UUID, action: str
) -> None:
    """An operator's lifecycle command on a round, as the API runs it (through the lot's sequencer)."""
    actor = require(principal, "operator")
    if action == "balance":
        await auctions.record_balance_paid(session, auction_id)
        return
    if action not in ("close", "default"):
        raise NotFound("not_found", "no such action")
    await auctions.get_auction(session, auction_id)
    await session.rollback()
    command = (
        LifecycleCommand("default", str(actor.user_id)) if action == "default" else LifecycleCommand("close")
    )
    await auctions.submit(ctx.services["live"].sequencer, auction_id, command)


async def deposits_to_confirm(session: AsyncSession, principal: Principal | None) -> list[Any]:
    require(principal, "operator")
    return list(await auctions.deposits_to_confirm(session))


async def preemption_holders(session: AsyncSession, text: str) -> list[dict[str, Any]]:
    """``[{user_id, rank}]`` from lines of ``<user id or e-mail> <rank>``."""
    holders: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise FormValueError(
                "invalid_input", f"pre-emption line {number}: write '<user id or e-mail> <rank>'"
            )
        who, rank = parts[0], int(parts[1])
        if "@" in who:
            try:
                user = await accounts_service.user_by_email(session, who)
            except NotFound as exc:
                raise FormValueError(
                    "invalid_input", f"pre-emption line {number}: no user with the e-mail {who}"
                ) from exc
            holders.append({"user_id": str(user.id), "rank": rank})
            continue
        try:
            holders.append({"user_id": str(uuid.UUID(who)), "rank": rank})
        except ValueError as exc:
            raise FormValueError(
                "invalid_input", f"pre-emption line {number}: {who!r} is not a user id"
            ) from exc
    return holders


ROUND_STATUSES = ("scheduled", "open", "sold", "failed", "defaulted")


@dataclass(frozen=True)
class Statistics:
    by_status: list[tuple[str, int]]
    rounds_by_status: list[tuple[str, int]]
    listed: int
    sold: int
    failed_rounds: int
    rounds: int
    recovered: int
    claim: int
    days_to_sale: list[int]

    @property
    def recovery_bp(self) -> int | None:
        return self.recovered * 10_000 // self.claim if self.claim else None

    @property
    def average_days_to_sale(self) -> int | None:
        return sum(self.days_to_sale) // len(self.days_to_sale) if self.days_to_sale else None


async def statistics(session: AsyncSession, principal: Principal | None) -> Statistics:
    """The section's figures, read through the listings, auctions and settlement functions.

    A statistics service would answer this in one query; until one exists the figures are
    assembled listing by listing (fine for a section of hundreds of lots).
    """
    require(principal, "operator")
    by_status: list[tuple[str, int]] = []
    for status in LISTING_STATUSES:
        page = await search_listings(session, principal, CatalogueQuery(status=status, page_size=1))
        by_status.append((status, page.total))
    counts = dict(by_status)
    round_counts = dict.fromkeys(ROUND_STATUSES, 0)
    recovered = 0
    claim = 0
    days: list[int] = []
    for listing in await _published(session, principal):
        listing_rounds = await rounds(session, listing.id)
        for round_ in listing_rounds:
            round_counts[round_.status] = round_counts.get(round_.status, 0) + 1
        sold = [r for r in listing_rounds if r.status == "sold" and r.closed_at is not None]
        if listing.status in ("sold", "settled") and sold:
            closed_at = sold[-1].closed_at
            assert closed_at is not None
            days.append(max(0, (closed_at - listing.created_at).days))
            try:
                found = await statement(session, principal, listing.id)
            except (NotFound, SettlementInvalid):
                continue
            recovered += found.statement.recovered
            claim += found.statement.claim
    return Statistics(
        by_status=by_status,
        rounds_by_status=list(round_counts.items()),
        listed=sum(counts.get(status, 0) for status in PUBLISHED_STATUSES),
        sold=counts.get("sold", 0) + counts.get("settled", 0),
        failed_rounds=round_counts["failed"],
        rounds=sum(round_counts.values()),
        recovered=recovered,
        claim=claim,
        days_to_sale=days,
    )


@dataclass(frozen=True)
class MyAuction:
    standing: Standing
    round: AuctionOut
    listing_title: str
    confirmation: Any


async def my_auctions(session: AsyncSession, principal: Principal) -> list[MyAuction]:
    """The rounds the buyer registered for, newest first, with the sale confirmation of those it won.

    The auctions service has no "registrations of a user" yet, so the published listings' rounds
    are read and the buyer's standing asked for each (fine for a section of hundreds of lots).
    """
    entries: list[MyAuction] = []
    now = utcnow()
    for listing in await _published(session, principal):
        if listing.status == "approved":
            continue
        for row in reversed(await auctions.rounds_of(session, listing.id)):
            standing = await my_standing(session, row.id, principal)
            if standing is None:
                continue
            confirmation = None
            if row.status == "sold" and row.winner_user_id == principal.user_id:
                confirmation = await auctions.confirmation(session, row.id, principal)
            entries.append(MyAuction(standing, auctions.auction_out(row, now), listing.title, confirmation))
    entries.sort(key=lambda entry: entry.round.starts_at, reverse=True)
    return entries


async def listing_for(
    session: AsyncSession, listing_id: uuid.UUID, principal: Principal | None
) -> ListingOut:
    return await listing_out(session, await get_listing(session, listing_id, principal), principal)


async def settle(
    session: AsyncSession, ctx: AppContext, principal: Principal | None, listing_id: uuid.UUID
) -> None:
    """Settle a sold listing as ``POST /api/listings/{id}/settle`` does: the settlement commits
    first, then its payouts are sent under their row locks in the same request."""
    settlement = await settle_listing(
        session, principal, listing_id, SettlementPolicy.from_settings(ctx.settings)
    )
    settlement_id = settlement.id
    await session.commit()
    if ctx.settings.is_sqlite:
        await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
    await issue_payouts(session, ctx.services["gateways"], settlement_id)
