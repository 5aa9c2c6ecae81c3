"""Offers: who may make, read and answer them, how one becomes a contract, the stalking horse.

Invariants:
- an offer is made on a published listing still open to disposal (approved, in disposal, or after
  a failed round) by a buyer or a user of an acquirer organisation; the pledgor may ask only for
  a licence-back or an equity conversion, and a licence-back's licensee is always the pledgor;
- an offer and its terms are read only by the owning bank's users, the offeror (its own offers;
  an acquirer's colleagues too) and operators; for everyone else it does not exist (404);
- only the owning bank accepts, rejects or counters (``not_owner``); only the offeror takes a
  counter; only an operator approves; nothing past ``valid_until`` is accepted, countered or
  approved (``offer_expired``);
- an approved acquisition or equity conversion ends the disposal like a sale: the listing moves
  to ``sold`` through :func:`marketplace.listings.service.transition`, refused while a round is
  scheduled or open (``round_in_progress``); an approved licence is a contract and leaves the
  listing where it is;
- a stalking horse is an accepted, unexpired acquisition offer on the same listing; when its round
  fails the offeror is bound and the offer becomes the sale (:func:`bind_stalking_horse`).
Services never commit; the request's unit of work does.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Org, User
from marketplace.accounts.security import Principal
from marketplace.auctions.models import Auction
from marketplace.db import utcnow
from marketplace.deps import require
from marketplace.errors import Conflict, Forbidden, Invalid, NotFound
from marketplace.listings.models import Listing
from marketplace.listings.service import get_listing, is_owner, transition
from marketplace.offers.models import Offer
from marketplace.offers.schemas import (
    TERMS_BY_KIND,
    CounterIn,
    CounterOut,
    EquityTerms,
    LicenceTerms,
    OfferIn,
    OfferOut,
)

OPEN_FOR_OFFERS: Final = frozenset({"approved", "in_disposal", "failed"})
ENDS_DISPOSAL: Final = frozenset({"acquisition", "equity"})
LICENCES: Final = frozenset({"license", "license_back"})
LIVE_ROUND: Final = ("scheduled", "open")
PLEDGOR_KINDS: Final = frozenset({"license_back", "equity"})
ANSWERABLE: Final = frozenset({"open", "countered"})


def effective_status(offer: Offer, now: datetime) -> str:
    """The stored status, or ``expired`` once ``valid_until`` has passed before approval."""
    if offer.status in ("open", "countered", "accepted") and now >= offer.valid_until:
        return "expired"
    return offer.status


def same_name(a: str, b: str) -> bool:
    return bool(a.strip()) and "".join(a.split()).casefold() == "".join(b.split()).casefold()


def can_read(principal: Principal | None, offer: Offer, listing: Listing) -> bool:
    if principal is None:
        return False
    if principal.role == "operator" or is_owner(principal, listing):
        return True
    if principal.user_id == offer.offeror_user_id:
        return True
    return principal.org_id is not None and principal.org_id == offer.offeror_org_id


async def get_offer(
    session: AsyncSession, offer_id: uuid.UUID, principal: Principal | None, *, lock: bool = False
) -> tuple[Offer, Listing]:
    """The offer and its listing, if the caller may read it; 404 ``not_found`` otherwise."""
    statement = select(Offer).where(Offer.id == offer_id)
    if lock:
        statement = statement.with_for_update()
    offer = await session.scalar(statement)
    listing = await session.get(Listing, offer.listing_id) if offer is not None else None
    if offer is None or listing is None or not can_read(principal, offer, listing):
        raise NotFound("not_found", "no such offer")
    return offer, listing


def _note(offer: Offer, action: str, actor: uuid.UUID | None, at: datetime, **details: Any) -> None:
    entry: dict[str, Any] = {"action": action, "by": str(actor) if actor else None, "at": at.isoformat()}
    entry.update(details)
    offer.history = [*(offer.history or []), entry]
    offer.updated_at = at


def validated_terms(
    kind: str, amount: int, terms: dict[str, Any], *, pledgor_name: str, offeror_name: str
) -> dict[str, Any]:
    """The stored JSON of ``terms`` for an offer of ``kind``; ``Invalid`` for bad or inconsistent terms."""
    try:
        parsed = msgspec.convert(terms, TERMS_BY_KIND[kind])
    except msgspec.ValidationError as exc:
        raise Invalid("invalid_terms", f"{kind} terms: {exc}") from exc
    if kind in ENDS_DISPOSAL and amount <= 0:
        raise Invalid("bad_amount", f"an {kind} offer needs a positive amount")
    if isinstance(parsed, LicenceTerms):
        if parsed.upfront_fee is not None and parsed.upfront_fee != amount:
            raise Invalid("terms_mismatch", "a licence's upfront fee is the offer's amount")
        licensee = pledgor_name if kind == "license_back" else offeror_name
        if parsed.licensee is not None and not same_name(parsed.licensee, licensee):
            raise Invalid(
                "terms_mismatch",
                "the licensee of a licence-back is the pledgor"
                if kind == "license_back"
                else "the licensee is the offeror",
            )
        parsed = msgspec.structs.replace(parsed, upfront_fee=amount, licensee=licensee)
    if isinstance(parsed, EquityTerms) and amount > parsed.agreed_valuation:
        raise Invalid("terms_mismatch", "the claim converted exceeds the agreed valuation of the company")
    stored: dict[str, Any] = msgspec.to_builtins(parsed)
    return stored


async def _offeror(session: AsyncSession, principal: Principal) -> tuple[str, uuid.UUID | None]:
    """The offeror's name as contracts show it, and its organisation (acquirers)."""
    if principal.role == "buyer":
        user = await session.get(User, principal.user_id)
        return ((user.real_name or user.name) if user else principal.name), None
    if principal.role == "party_user" and principal.org_kind == "acquirer" and principal.org_id is not None:
        name = await session.scalar(select(Org.name).where(Org.id == principal.org_id))
        return name or principal.name, principal.org_id
    raise Forbidden("wrong_role", "offers are made by buyers and acquirers")


async def make_offer(
    session: AsyncSession,
    principal: Principal | None,
    listing_id: uuid.UUID,
    data: OfferIn,
    *,
    now: datetime | None = None,
) -> Offer:
    caller = require(principal)
    now = now or utcnow()
    listing = await get_listing(session, listing_id, caller)
    offeror_name, offeror_org_id = await _offeror(session, caller)
    if listing.status not in OPEN_FOR_OFFERS:
        raise Conflict("listing_not_open", f"a {listing.status} listing takes no offers")
    is_pledgor = same_name(offeror_name, listing.pledgor_name)
    if data.kind == "license_back" and not is_pledgor:
        raise Forbidden("not_pledgor", "only the pledgor asks for a licence-back")
    if is_pledgor and data.kind not in PLEDGOR_KINDS:
        raise Forbidden("not_allowed_to_offer", "the pledgor may not buy its own pledged assets")
    if data.valid_until.tzinfo is None:
        raise Invalid("invalid_input", "valid_until needs a time zone (RFC 3339 with Z or an offset)")
    if data.valid_until <= now:
        raise Invalid("valid_until_in_past", "an offer must be valid for some time to come")
    currency = data.currency or listing.currency
    if currency != listing.currency:
        raise Invalid("currency_mismatch", f"offers on this listing are in {listing.currency}")
    terms = validated_terms(
        data.kind, data.amount, data.terms, pledgor_name=listing.pledgor_name, offeror_name=offeror_name
    )
    offer = Offer(
        id=uuid.uuid4(),
        listing_id=listing.id,
        kind=data.kind,
        status="open",
        offeror_user_id=caller.user_id,
        offeror_org_id=offeror_org_id,
        offeror_name=offeror_name,
        amount=data.amount,
        currency=currency,
        terms=terms,
        valid_until=data.valid_until,
        history=[],
        created_at=now,
        updated_at=now,
    )
    _note(offer, "made", caller.user_id, now, amount=data.amount)
    session.add(offer)
    await session.flush()
    return offer


def _not_expired(offer: Offer, now: datetime) -> None:
    if effective_status(offer, now) == "expired":
        raise Conflict("offer_expired", f"the offer expired at {offer.valid_until.isoformat()}")


def _bank_answers(caller: Principal, listing: Listing) -> None:
    if not is_owner(caller, listing):
        raise Forbidden("not_owner", "only the listing bank answers offers")


async def accept_offer(
    session: AsyncSession, principal: Principal | None, offer_id: uuid.UUID, *, now: datetime | None = None
) -> Offer:
    caller = require(principal)
    now = now or utcnow()
    offer, listing = await get_offer(session, offer_id, caller, lock=True)
    _bank_answers(caller, listing)
    _not_expired(offer, now)
    if offer.status != "open":
        raise Conflict("offer_not_open", f"a {offer.status} offer cannot be accepted")
    offer.status = "accepted"
    offer.decided_by = caller.user_id
    offer.decided_at = now
    _note(offer, "accepted", caller.user_id, now, amount=offer.amount)
    return offer


async def reject_offer(
    session: AsyncSession,
    principal: Principal | None,
    offer_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Offer:
    caller = require(principal)
    now = now or utcnow()
    offer, listing = await get_offer(session, offer_id, caller, lock=True)
    _bank_answers(caller, listing)
    if offer.status not in ANSWERABLE and offer.status != "accepted":
        raise Conflict("offer_not_open", f"a {offer.status} offer cannot be rejected")
    offer.status = "rejected"
    offer.decided_by = caller.user_id
    offer.decided_at = now
    _note(offer, "rejected", caller.user_id, now, reason=reason)
    return offer


async def counter_offer(
    session: AsyncSession,
    principal: Principal | None,
    offer_id: uuid.UUID,
    data: CounterIn,
    *,
    now: datetime | None = None,
) -> Offer:
    caller = require(principal)
    now = now or utcnow()
    offer, listing = await get_offer(session, offer_id, caller, lock=True)
    _bank_answers(caller, listing)
    _not_expired(offer, now)
    if offer.status not in ANSWERABLE:
        raise Conflict("offer_not_open", f"a {offer.status} offer cannot be countered")
    base = dict(offer.terms)
    if offer.kind in LICENCES:
        base.pop("upfront_fee", None)
    terms = validated_terms(
        offer.kind,
        data.amount,
        {**base, **(data.terms or {})},
        pledgor_name=listing.pledgor_name,
        offeror_name=offer.offeror_name,
    )
    offer.status = "countered"
    offer.counter_amount = data.amount
    offer.counter_terms = terms
    _note(offer, "countered", caller.user_id, now, amount=data.amount)
    return offer


async def accept_counter(
    session: AsyncSession, principal: Principal | None, offer_id: uuid.UUID, *, now: datetime | None = None
) -> Offer:
    """The offeror takes the bank's counter: the offer is accepted on the counter's amount and terms."""
    caller = require(principal)
    now = now or utcnow()
    offer, _listing = await get_offer(session, offer_id, caller, lock=True)
    if caller.user_id != offer.offeror_user_id and (
        offer.offeror_org_id is None or caller.org_id != offer.offeror_org_id
    ):
        raise Forbidden("not_offeror", "only the offeror takes a counter")
    _not_expired(offer, now)
    if offer.status != "countered" or offer.counter_amount is None or offer.counter_terms is None:
        raise Conflict("offer_not_countered", f"a {offer.status} offer has no counter to take")
    offer.amount = offer.counter_amount
    offer.terms = dict(offer.counter_terms)
    offer.status = "accepted"
    offer.decided_by = caller.user_id
    offer.decided_at = now
    _note(offer, "counter_accepted", caller.user_id, now, amount=offer.amount)
    return offer


async def _end_disposal(
    session: AsyncSession, listing: Listing, offer: Offer, actor_id: uuid.UUID | None
) -> None:
    live = await session.scalar(
        select(Auction.id).where(Auction.listing_id == listing.id, Auction.status.in_(LIVE_ROUND)).limit(1)
    )
    if live is not None:
        raise Conflict("round_in_progress", "a round of this listing is scheduled or open")
    if listing.status not in OPEN_FOR_OFFERS:
        raise Conflict("listing_not_open", f"a {listing.status} listing cannot be sold by offer")
    reason = f"{offer.kind} offer {offer.id} approved"
    if listing.status != "in_disposal":
        await transition(session, listing, "in_disposal", actor_id, reason)
    await transition(session, listing, "sold", actor_id, reason)


def contract_number(offer: Offer, now: datetime) -> str:
    return f"HT-{now:%Y%m%d}-{offer.id.hex[:8].upper()}"


async def _approve(
    session: AsyncSession, offer: Offer, listing: Listing, actor_id: uuid.UUID | None, now: datetime
) -> None:
    if offer.kind in ENDS_DISPOSAL:
        await _end_disposal(session, listing, offer, actor_id)
    offer.status = "approved"
    offer.approved_by = actor_id
    offer.approved_at = now
    offer.contract_no = contract_number(offer, now)
    _note(offer, "approved", actor_id, now, amount=offer.amount, contract_no=offer.contract_no)


async def approve_offer(
    session: AsyncSession, principal: Principal | None, offer_id: uuid.UUID, *, now: datetime | None = None
) -> Offer:
    """The operator turns an accepted offer into a sale or licence contract."""
    caller = require(principal, "operator")
    now = now or utcnow()
    offer, _ = await get_offer(session, offer_id, caller, lock=True)
    listing = await get_listing(session, offer.listing_id, caller, lock=True)
    if offer.status == "approved":
        return offer
    _not_expired(offer, now)
    if offer.status != "accepted":
        raise Conflict(
            "offer_not_accepted", f"a {offer.status} offer cannot be approved; the bank accepts first"
        )
    await _approve(session, offer, listing, caller.user_id, now)
    return offer


async def record_payment(
    session: AsyncSession, principal: Principal | None, offer_id: uuid.UUID, *, now: datetime | None = None
) -> Offer:
    """The operator saw the price of an approved acquisition arrive (or the equity registered)."""
    caller = require(principal, "operator")
    now = now or utcnow()
    offer, _ = await get_offer(session, offer_id, caller, lock=True)
    if offer.kind not in ENDS_DISPOSAL or offer.status != "approved":
        raise Conflict("not_a_sale", "payments are recorded for approved acquisitions and equity conversions")
    if offer.paid_at is None:
        offer.paid_at = now
        _note(offer, "paid", caller.user_id, now, amount=offer.amount)
    return offer


async def offers_of(session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID) -> list[Offer]:
    """The offers on a listing the caller may read: all for the bank and operators, else its own."""
    caller = require(principal)
    listing = await get_listing(session, listing_id, caller)
    return await visible_offers(session, listing, caller)


async def visible_offers(session: AsyncSession, listing: Listing, principal: Principal | None) -> list[Offer]:
    if principal is None:
        return []
    rows = await session.scalars(
        select(Offer).where(Offer.listing_id == listing.id).order_by(Offer.created_at, Offer.id)
    )
    return [offer for offer in rows.all() if can_read(principal, offer, listing)]


def stalking_horse_eligible(offer: Offer, now: datetime) -> bool:
    return offer.kind == "acquisition" and effective_status(offer, now) == "accepted"


def offer_out(offer: Offer, now: datetime | None = None) -> OfferOut:
    now = now or utcnow()
    counter = (
        CounterOut(amount=offer.counter_amount, terms=dict(offer.counter_terms))
        if offer.counter_amount is not None and offer.counter_terms is not None
        else None
    )
    return OfferOut(
        id=offer.id,
        listing_id=offer.listing_id,
        kind=offer.kind,
        status=effective_status(offer, now),
        amount=offer.amount,
        currency=offer.currency,
        terms=dict(offer.terms),
        valid_until=offer.valid_until,
        offeror_name=offer.offeror_name,
        offeror_user_id=offer.offeror_user_id,
        offeror_org_id=offer.offeror_org_id,
        counter=counter,
        approved_at=offer.approved_at,
        contract_no=offer.contract_no,
        paid_at=offer.paid_at,
        stalking_horse_eligible=stalking_horse_eligible(offer, now),
        created_at=offer.created_at,
        updated_at=offer.updated_at,
        history=list(offer.history or []),
    )


async def listing_offers_out(
    session: AsyncSession, listing: Listing, principal: Principal | None
) -> list[OfferOut]:
    """For the listing page (``listing_extras``): the offers this caller may read."""
    now = utcnow()
    return [offer_out(offer, now) for offer in await visible_offers(session, listing, principal)]


async def stalking_horse_price(
    session: AsyncSession, listing_id: uuid.UUID, offer_id: uuid.UUID, *, now: datetime | None = None
) -> int:
    """The floor a round may start from: the amount of an accepted, unexpired acquisition offer."""
    now = now or utcnow()
    offer = await session.get(Offer, offer_id)
    if offer is None or offer.listing_id != listing_id:
        raise Invalid("bad_stalking_horse", "the stalking horse must be an offer on this listing")
    if offer.kind != "acquisition":
        raise Invalid("bad_stalking_horse", "only an acquisition offer can be a stalking horse")
    _not_expired(offer, now)
    if offer.status != "accepted":
        raise Invalid("bad_stalking_horse", f"the bank must accept the offer first (it is {offer.status})")
    return offer.amount


async def bind_stalking_horse(
    session: AsyncSession, auction: Auction, *, now: datetime | None = None
) -> Offer | None:
    """A round with a stalking horse failed: the offeror is bound and the offer becomes the sale.

    Call in the transaction that records the failure. Returns the approved offer, or ``None``
    when the round had no stalking horse or it can no longer be bound (withdrawn meanwhile).
    """
    if auction.stalking_horse_offer_id is None or auction.status != "failed":
        return None
    now = now or utcnow()
    offer = await session.scalar(
        select(Offer).where(Offer.id == auction.stalking_horse_offer_id).with_for_update()
    )
    listing = await session.scalar(select(Listing).where(Listing.id == auction.listing_id).with_for_update())
    if offer is None or listing is None or offer.status != "accepted" or offer.listing_id != listing.id:
        return None
    _note(offer, "bound_by_failed_round", None, now, auction_id=str(auction.id))
    await _approve(session, offer, listing, None, now)
    return offer
