"""Auction rounds as the exchange runs them: scheduling, registration, deposits, bids, the close.

Invariants:
- a round is scheduled only for an approved (or in-disposal) listing and only when the pure
  round rules accept it (floors, deposit bounds, durations, announcement, relist window);
- a buyer bids only through a registration whose deposit is held; the listing bank's users, the
  pledgor, the operator's staff and earlier defaulters are refused (``not_allowed_to_bid``);
- every bid and lifecycle command goes through the lot's sequencer (one durable group commit per
  batch, under the row lock); this module never writes auction state outside it;
- a close releases every deposit but the winner's (losers' money is never kept), records the
  sale confirmation and the balance due date, and moves the listing; a default forfeits the
  winner's deposit and returns the listing to disposal with the defaulter barred.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auction import engine
from auction.chain import GENESIS, verify_chain
from auction.errors import BidRejected
from auction.rounds import PriorRound, RoundPlan, validate_round
from auction.rules import RuleProfile, get_profile
from auction.sequencer import Sequencer
from marketplace.accounts.models import User
from marketplace.accounts.security import Principal
from marketplace.auctions.models import Auction, AuctionEvent, Bid, Deposit, Registration
from marketplace.auctions.schemas import (
    AuctionOut,
    BidOut,
    BidRow,
    ConfirmationOut,
    DepositOut,
    LogEntry,
    LogOut,
    RegistrationOut,
    ScheduleIn,
)
from marketplace.auctions.store import (
    BidAccepted,
    BidCommand,
    LotCommand,
    Result,
    new_bidder_code,
)
from marketplace.db import utcnow
from marketplace.errors import Conflict, Forbidden, Invalid, NotFound
from marketplace.listings.models import Listing
from marketplace.listings.service import transition
from marketplace.offers.service import bind_stalking_horse

log = structlog.get_logger("marketplace.auctions")

SCHEDULABLE_LISTING = ("approved", "in_disposal", "sold")
OPEN_DEPOSIT_STATES = ("pending", "held")


def profile_for(ctx_rules: str) -> RuleProfile:
    return get_profile(ctx_rules)


async def get_auction(session: AsyncSession, auction_id: uuid.UUID) -> Auction:
    auction = await session.get(Auction, auction_id)
    if auction is None:
        raise NotFound("not_found", "no such auction")
    return auction


async def rounds_of(session: AsyncSession, listing_id: uuid.UUID) -> list[Auction]:
    rows = await session.scalars(
        select(Auction).where(Auction.listing_id == listing_id).order_by(Auction.round_no)
    )
    return list(rows)


def prior_round(row: Auction) -> PriorRound:
    return PriorRound(
        kind=row.kind,  # type: ignore[arg-type]
        starting_price=row.starting_price,
        outcome=row.status,  # type: ignore[arg-type]
        closed_at=row.closed_at,
        defaulter_id=str(row.winner_user_id) if row.status == "defaulted" and row.winner_user_id else None,
    )


async def schedule_round(
    session: AsyncSession, profile: RuleProfile, listing_id: uuid.UUID, body: ScheduleIn, actor: Principal
) -> Auction:
    listing = await session.get(Listing, listing_id)
    if listing is None:
        raise NotFound("not_found", "no such listing")
    if listing.status not in SCHEDULABLE_LISTING or listing.approved_at is None:
        raise Conflict(
            "listing_not_approved", f"the listing is {listing.status}; only approved listings are auctioned"
        )
    if body.starts_at.tzinfo is None or body.ends_at.tzinfo is None:
        raise Invalid(
            "invalid_input", "starts_at and ends_at need a time zone (RFC 3339 with Z or an offset)"
        )
    previous = await rounds_of(session, listing_id)
    floor_price = None
    if body.stalking_horse_offer_id is not None:
        floor_price = await _stalking_horse_floor(session, listing_id, body.stalking_horse_offer_id)
    plan = RoundPlan(
        kind=body.kind,
        starting_price=body.starting_price,
        increment=body.increment,
        deposit=body.deposit,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        extension_seconds=body.extension_seconds,
        floor_price=floor_price,
    )
    check = validate_round(
        profile,
        listing.valuation_amount,
        [prior_round(r) for r in previous],
        plan,
        utcnow(),
        listing.approved_at,
    )
    holders = [(str(p.user_id), p.rank) for p in body.preemption or []]
    preemption: list[list[Any]] = [[user, rank] for user, rank in holders]
    state = engine.new_auction(str(uuid.uuid4()), plan, profile, preemption=holders, barred=check.barred)
    auction = Auction(
        id=uuid.UUID(state.auction_id),
        listing_id=listing.id,
        round_no=check.round_number,
        kind=state.kind,
        status=state.status,
        rules_profile=profile.name,
        currency=listing.currency,
        starting_price=state.starting_price,
        increment=state.increment,
        deposit=state.deposit,
        starts_at=state.starts_at,
        ends_at=state.ends_at,
        extension_seconds=state.extension_seconds,
        preemption=preemption,
        barred=sorted(check.barred),
        last_hash=GENESIS,
        seq=0,
        bids_count=0,
        extensions=0,
        stalking_horse_offer_id=body.stalking_horse_offer_id,
        created_by=actor.user_id,
    )
    session.add(auction)
    if listing.status != "in_disposal":
        await transition(
            session, listing, "in_disposal", actor.user_id, f"round {check.round_number} scheduled"
        )
    await session.flush()
    return auction


async def _stalking_horse_floor(session: AsyncSession, listing_id: uuid.UUID, offer_id: uuid.UUID) -> int:
    try:
        from marketplace.offers.service import stalking_horse_price
    except ImportError as exc:  # pragma: no cover - offers are wired in with the settlement issue
        raise Invalid("offers_unavailable", "offers are not enabled") from exc
    return await stalking_horse_price(session, listing_id, offer_id)


def next_valid_amounts(row: Auction) -> list[int]:
    if row.current_price is None:
        first = row.starting_price
        return [first, first + row.increment, first + 4 * row.increment]
    return [row.current_price + k * row.increment for k in (1, 2, 5)]


def auction_out(row: Auction, now: datetime) -> AuctionOut:
    return AuctionOut(
        id=row.id,
        listing_id=row.listing_id,
        round_no=row.round_no,
        kind=row.kind,
        status=row.status,
        currency=row.currency,
        starting_price=row.starting_price,
        increment=row.increment,
        deposit=row.deposit,
        current_price=row.current_price,
        leader_code=row.leader_code,
        bids_count=row.bids_count,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        extension_seconds=row.extension_seconds,
        extensions=row.extensions,
        seq=row.seq,
        server_time=now,
        rules_profile=row.rules_profile,
        next_valid_amounts=next_valid_amounts(row),
        closed_at=row.closed_at,
        hammer_price=row.hammer_price,
        balance_due_at=row.balance_due_at,
    )


async def _exclusion(session: AsyncSession, listing: Listing, principal: Principal) -> str | None:
    """Why this user may not bid on the listing, or ``None``."""
    if principal.role != "buyer":
        return "only registered buyers bid; the listing bank, parties and the operator's staff may not"
    user = await session.get(User, principal.user_id)
    if user is not None and user.real_name and _same_name(user.real_name, listing.pledgor_name or ""):
        return "the pledgor may not bid on its own pledged assets"
    return None


def _same_name(a: str, b: str) -> bool:
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


async def register(
    session: AsyncSession, gateway: Any, auction_id: uuid.UUID, principal: Principal, payment: str
) -> RegistrationOut:
    auction = await get_auction(session, auction_id)
    listing = await session.get(Listing, auction.listing_id)
    assert listing is not None
    if auction.status not in ("scheduled", "open"):
        raise Conflict("auction_closed", f"the round is {auction.status}")
    reason = await _exclusion(session, listing, principal)
    if reason or str(principal.user_id) in (auction.barred or []):
        raise Forbidden(
            "not_allowed_to_bid", reason or "a defaulter of an earlier round may not bid in the resale"
        )
    existing = await registration_for(session, auction_id, principal.user_id)
    if existing is not None:
        return existing
    codes = set(
        await session.scalars(select(Registration.bidder_code).where(Registration.auction_id == auction_id))
    )
    code = new_bidder_code()
    while code in codes:
        code = new_bidder_code()
    registration = Registration(auction_id=auction_id, user_id=principal.user_id, bidder_code=code)
    session.add(registration)
    await session.flush()
    deposit_id = uuid.uuid4()
    hold = await gateway.open_hold(
        deposit_id=str(deposit_id),
        amount=auction.deposit,
        currency=auction.currency,
        payer_ref=str(principal.user_id),
        idempotency_key=f"deposit-hold:{deposit_id}",
    )
    deposit = Deposit(
        id=deposit_id,
        registration_id=registration.id,
        auction_id=auction_id,
        user_id=principal.user_id,
        amount=auction.deposit,
        currency=auction.currency,
        method=payment,
        status=hold.status,
        reference=str(hold.instructions.get("reference") or f"DEP-{deposit_id.hex[:12].upper()}"),
        provider_ref=hold.provider_ref,
        instructions=dict(hold.instructions),
        expires_at=hold.expires_at,
        held_at=utcnow() if hold.status == "held" else None,
    )
    session.add(deposit)
    await session.flush()
    return _registration_out(registration, deposit)


def _registration_out(registration: Registration, deposit: Deposit) -> RegistrationOut:
    return RegistrationOut(
        registration_id=registration.id,
        auction_id=registration.auction_id,
        bidder_code=registration.bidder_code,
        deposit=deposit_out(deposit),
    )


async def registration_for(
    session: AsyncSession, auction_id: uuid.UUID, user_id: uuid.UUID
) -> RegistrationOut | None:
    """The user's registration and deposit for a round, or ``None`` when it has not registered."""
    found = (
        await session.execute(
            select(Registration, Deposit)
            .join(Deposit, Deposit.registration_id == Registration.id)
            .where(Registration.auction_id == auction_id, Registration.user_id == user_id)
        )
    ).first()
    if found is None:
        return None
    registration, deposit = found
    return _registration_out(registration, deposit)


@dataclass(frozen=True)
class DepositToConfirm:
    """An offline deposit awaiting the operator's confirmation that the transfer arrived."""

    deposit: DepositOut
    auction_id: uuid.UUID
    bidder_code: str
    payer_name: str


async def deposits_to_confirm(session: AsyncSession, *, limit: int = 500) -> list[DepositToConfirm]:
    """Pending offline deposits of rounds still running, oldest first (the operator's queue)."""
    rows = await session.execute(
        select(Deposit, Registration.bidder_code, User.real_name, User.name)
        .join(Registration, Registration.id == Deposit.registration_id)
        .join(User, User.id == Deposit.user_id)
        .join(Auction, Auction.id == Deposit.auction_id)
        .where(
            Deposit.status == "pending",
            Deposit.method == "offline",
            Auction.status.in_(("scheduled", "open")),
        )
        .order_by(Deposit.created_at)
        .limit(limit)
    )
    return [
        DepositToConfirm(deposit_out(deposit), deposit.auction_id, code, real_name or name)
        for deposit, code, real_name, name in rows
    ]


def deposit_out(deposit: Deposit) -> DepositOut:
    return DepositOut(
        id=deposit.id,
        status=deposit.status,
        amount=deposit.amount,
        currency=deposit.currency,
        method=deposit.method,
        reference=deposit.reference,
        instructions=deposit.instructions or {},
    )


async def confirm_deposit(
    session: AsyncSession, gateway: Any, deposit_id: uuid.UUID, actor: Principal
) -> DepositOut:
    deposit = await session.get(Deposit, deposit_id)
    if deposit is None:
        raise NotFound("not_found", "no such deposit")
    if deposit.status == "held":
        return deposit_out(deposit)
    if deposit.status != "pending" or deposit.method != "offline":
        raise Conflict(
            "bad_deposit_state", f"a {deposit.method} deposit that is {deposit.status} cannot be confirmed"
        )
    auction = await get_auction(session, deposit.auction_id)
    if auction.status not in ("scheduled", "open"):
        raise Conflict("auction_closed", "the round is over; refund the transfer instead")
    if hasattr(gateway, "confirm_received") and deposit.provider_ref:
        await gateway.confirm_received(deposit.provider_ref)
    deposit.status = "held"
    deposit.held_at = utcnow()
    deposit.confirmed_by = actor.user_id
    return deposit_out(deposit)


class HeldStandings:
    """Per-process memory of bidders whose deposit was seen held: ``(auction, user) → code``.

    A held deposit stays held while its round runs (it is released, applied or forfeited only by
    the close, after which the engine refuses every bid anyway), so a hit here is always right and
    spares the bid path a database read. Bounded: cleared when full.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._codes: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
        self._capacity = capacity

    def get(self, auction_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
        return self._codes.get((auction_id, user_id))

    def remember(self, auction_id: uuid.UUID, user_id: uuid.UUID, code: str) -> None:
        if len(self._codes) >= self._capacity:
            self._codes.clear()
        self._codes[(auction_id, user_id)] = code


async def prepare_bid(
    sessionmaker: async_sessionmaker[AsyncSession],
    auction_id: uuid.UUID,
    principal: Principal,
    amount: int,
    idempotency_key: str | None,
    standings: HeldStandings | None = None,
) -> BidCommand:
    """Who is bidding and with what standing; the engine decides the rest under the lock. A bidder
    already seen with a held deposit costs no database read (and no session)."""
    excluded = principal.role != "buyer"
    code = standings.get(auction_id, principal.user_id) if standings and not excluded else None
    held = code is not None
    if code is None:
        async with sessionmaker() as session:
            code, held = await _standing(session, auction_id, principal, excluded)
        if held and standings is not None and not excluded:
            standings.remember(auction_id, principal.user_id, code)
    return BidCommand(
        user_id=str(principal.user_id),
        bidder_code=code,
        amount=amount,
        deposit_held=held,
        excluded=excluded,
        idempotency_key=idempotency_key,
    )


async def _standing(
    session: AsyncSession, auction_id: uuid.UUID, principal: Principal, excluded: bool
) -> tuple[str, bool]:
    row = (
        await session.execute(
            select(Registration.bidder_code, Deposit.status)
            .outerjoin(Deposit, Deposit.registration_id == Registration.id)
            .where(Registration.auction_id == auction_id, Registration.user_id == principal.user_id)
        )
    ).first()
    if row is None:
        if await session.get(Auction, auction_id) is None:
            raise NotFound("not_found", "no such auction")
        if excluded:
            raise BidRejected("not_allowed_to_bid", "the listing bank, parties and staff may not bid")
        raise BidRejected("deposit_required", "register for this auction and have your deposit held first")
    return str(row[0]), row[1] == "held"


def bid_out(result: Result) -> BidOut:
    assert isinstance(result, BidAccepted)
    return BidOut(
        seq=result.seq,
        amount=result.amount,
        leader_code=result.leader_code,
        ends_at=result.ends_at,
        extensions=result.extensions,
    )


async def list_bids(session: AsyncSession, auction_id: uuid.UUID) -> list[BidRow]:
    await get_auction(session, auction_id)
    rows = await session.scalars(select(Bid).where(Bid.auction_id == auction_id).order_by(Bid.seq))
    return [BidRow(seq=b.seq, amount=b.amount, bidder_code=b.bidder_code, at=b.at) for b in rows]


@dataclass(frozen=True)
class _Entry:
    auction_id: str
    seq: int
    type: str
    payload: dict[str, Any]
    at: datetime
    prev_hash: str
    hash: str


async def event_log(session: AsyncSession, auction_id: uuid.UUID) -> LogOut:
    auction = await get_auction(session, auction_id)
    rows = await session.scalars(
        select(AuctionEvent).where(AuctionEvent.auction_id == auction_id).order_by(AuctionEvent.seq)
    )
    entries = [
        _Entry(str(r.auction_id), r.seq, r.type, msgspec.json.decode(r.payload), r.at, r.prev_hash, r.hash)
        for r in rows
    ]
    verdict = verify_chain(entries, head_hash=auction.last_hash if entries else None)
    return LogOut(
        auction_id=auction.id,
        entries=[LogEntry(e.seq, e.type, e.payload, e.at, e.prev_hash, e.hash) for e in entries],
        verified=verdict.ok,
        broken_at_seq=verdict.broken_at_seq,
        reason=verdict.reason,
        head_hash=auction.last_hash,
    )


async def events_after(
    session: AsyncSession, auction_id: uuid.UUID, after_seq: int, limit: int
) -> list[AuctionEvent]:
    rows = await session.scalars(
        select(AuctionEvent)
        .where(AuctionEvent.auction_id == auction_id, AuctionEvent.seq > after_seq)
        .order_by(AuctionEvent.seq)
        .limit(limit)
    )
    return list(rows)


async def on_close(session: AsyncSession, row: Auction, event: engine.Event, now: datetime) -> None:
    """Effects of a close or a default, written in the same transaction as the event."""
    listing = await session.get(Listing, row.listing_id)
    assert listing is not None
    profile = get_profile(row.rules_profile)
    deposits = list(await session.scalars(select(Deposit).where(Deposit.auction_id == row.id)))
    if isinstance(event, engine.Closed):
        row.closed_at = now
        if event.outcome == "sold" and event.bidder_id is not None:
            row.winner_user_id = uuid.UUID(event.bidder_id)
            row.hammer_price = event.price
            row.balance_due_at = now + profile.balance_due
            row.confirmation_no = f"CJ-{now:%Y%m%d}-{row.id.hex[:8].upper()}"
            await transition(session, listing, "sold", None, f"round {row.round_no} sold at {event.price}")
        elif row.stalking_horse_offer_id is not None:
            # Nobody bid above the stalking horse: its offeror is bound and the offer is the sale.
            await bind_stalking_horse(session, row, now=now)
        elif row.kind == "sale":
            await transition(session, listing, "failed", None, "the fixed-price sale found no buyer")
        for deposit in deposits:
            if deposit.status not in OPEN_DEPOSIT_STATES:
                continue
            if str(deposit.user_id) == event.bidder_id and event.outcome == "sold":
                deposit.status = "applied"
            else:
                deposit.status = "releasing"
    elif isinstance(event, engine.Defaulted):
        row.closed_at = now
        for deposit in deposits:
            if str(deposit.user_id) == event.bidder_id and deposit.status in ("applied", "held"):
                deposit.status = "forfeited"
                deposit.settled_at = now
        await transition(session, listing, "in_disposal", None, f"winner of round {row.round_no} defaulted")


async def release_deposits(session: AsyncSession, gateways: Any) -> int:
    """Release every deposit a close marked ``releasing`` (idempotent; retried until it works)."""
    pending = list(await session.scalars(select(Deposit).where(Deposit.status == "releasing").limit(200)))
    released = 0
    for deposit in pending:
        gateway = gateways(deposit.method, session)
        try:
            if deposit.provider_ref and gateway is not None:
                await gateway.release_hold(
                    deposit.provider_ref, idempotency_key=f"deposit-release:{deposit.id}"
                )
        except Exception as exc:
            log.warning(
                "deposit release failed; will retry", deposit_id=str(deposit.id), error=str(exc)[:200]
            )
            continue
        deposit.status = "released"
        deposit.settled_at = utcnow()
        released += 1
    return released


async def reauthorize_expiring(session: AsyncSession, gateways: Any) -> int:
    """Card holds that would lapse before their round closes are re-authorised, or flagged.

    Stripe authorisations last about seven days; a round may run longer (announcement, soft-close
    extensions). A hold the gateway cannot renew keeps its status and is flagged in its
    instructions for the operator, so the bidder can be asked for a new one.
    """
    rows = (
        await session.execute(
            select(Deposit, Auction.ends_at)
            .join(Auction, Auction.id == Deposit.auction_id)
            .where(
                Deposit.status == "held",
                Deposit.method == "stripe",
                Auction.status.in_(("scheduled", "open")),
            )
            .limit(200)
        )
    ).all()
    renewed = 0
    for deposit, ends_at in rows:
        gateway = gateways("stripe", session)
        if gateway is None or not deposit.provider_ref:
            continue
        try:
            hold = await gateway.get_hold(deposit.provider_ref)
            if not gateway.needs_reauthorization(hold, ends_at):
                continue
            fresh = await gateway.reauthorize_hold(
                deposit.provider_ref, idempotency_key=f"deposit-reauth:{deposit.id}:{deposit.provider_ref}"
            )
        except Exception as exc:
            log.warning("hold re-authorisation failed", deposit_id=str(deposit.id), error=str(exc)[:200])
            deposit.instructions = {**(deposit.instructions or {}), "flag": "hold_expires_before_close"}
            continue
        deposit.provider_ref = fresh.provider_ref
        deposit.expires_at = fresh.expires_at
        renewed += 1
    return renewed


async def confirmation(
    session: AsyncSession, auction_id: uuid.UUID, principal: Principal | None
) -> ConfirmationOut:
    """The sale confirmation (成交确认书): the winner's real identity, for the winner, the bank, operators."""
    auction = await get_auction(session, auction_id)
    listing = await session.get(Listing, auction.listing_id)
    assert listing is not None
    if auction.winner_user_id is None or auction.hammer_price is None or auction.closed_at is None:
        raise NotFound("not_found", "this round has no sale confirmation")
    allowed = principal is not None and (
        principal.is_operator
        or principal.user_id == auction.winner_user_id
        or (principal.org_id is not None and principal.org_id == listing.bank_org_id)
    )
    if not allowed:
        raise NotFound("not_found", "this round has no sale confirmation you may read")
    winner = await session.get(User, auction.winner_user_id)
    assert winner is not None
    registration = await session.scalar(
        select(Registration).where(Registration.auction_id == auction.id, Registration.user_id == winner.id)
    )
    return ConfirmationOut(
        auction_id=auction.id,
        listing_id=auction.listing_id,
        confirmation_no=auction.confirmation_no or "",
        hammer_price=auction.hammer_price,
        currency=auction.currency,
        deposit_applied=auction.deposit,
        balance_due=max(0, auction.hammer_price - auction.deposit),
        balance_due_at=auction.balance_due_at or auction.closed_at,
        balance_paid_at=auction.balance_paid_at,
        winner_bidder_code=registration.bidder_code if registration else "",
        winner_real_name=winner.real_name or winner.name,
        winner_email=winner.email,
        closed_at=auction.closed_at,
    )


async def record_balance_paid(session: AsyncSession, auction_id: uuid.UUID) -> Auction:
    auction = await get_auction(session, auction_id)
    if auction.status != "sold":
        raise Conflict("not_sold", f"the round is {auction.status}")
    if auction.balance_paid_at is None:
        auction.balance_paid_at = utcnow()
        for deposit in await session.scalars(
            select(Deposit).where(Deposit.auction_id == auction.id, Deposit.status == "applied")
        ):
            deposit.status = "captured"
            deposit.settled_at = utcnow()
    return auction


async def submit(
    sequencer: Sequencer[LotCommand, Result], auction_id: uuid.UUID, command: LotCommand
) -> Result:
    """Run a command through the lot's sequencer; rejected commands raise their domain error."""
    return await sequencer.submit(str(auction_id), command)


async def due_lots(session: AsyncSession, now: datetime) -> Sequence[tuple[uuid.UUID, str]]:
    """Rounds whose start or end has passed: ``(id, "open" | "close")``."""
    to_close = await session.execute(
        select(Auction.id).where(Auction.status.in_(("scheduled", "open")), Auction.ends_at <= now).limit(100)
    )
    to_open = await session.execute(
        select(Auction.id)
        .where(Auction.status == "scheduled", Auction.starts_at <= now, Auction.ends_at > now)
        .limit(100)
    )
    return [(r[0], "close") for r in to_close] + [(r[0], "open") for r in to_open]
