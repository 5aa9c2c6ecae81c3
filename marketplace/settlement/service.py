"""Settling a real disposal: the statement, its ledger transaction, payouts and payables.

Invariants:
- a listing is settled only when it is sold, its price has arrived (the winning round's balance
  paid, or the approved acquisition's payment recorded) and the registry confirmed the transfer
  (``not_ready`` names what is missing); the statement comes from the pure calculator with the
  terms fixed before disposal, the forfeited deposits of every round, and the exchange's
  commission and premium (:class:`SettlementPolicy`, none by default);
- settlements are cumulative: each computes the statement of every income of the listing so far
  (licence royalties, then the sale) and moves only the difference from the previous one, so
  licence income repays the loan first and nothing is ever distributed twice;
- each settlement posts one balanced ledger transaction in the same database transaction that
  records it, moves the listing to ``settled`` (the disposal) and orders its payouts; the same
  listing, kind and sequence settle once (row lock, then a unique constraint as the backstop);
- money leaves escrow only as a payout: one per role with something to receive, never for a
  negative ``receives`` (that is a payable: the party owes the bank, or the bank owes a party
  what escrow cannot pay), each sent at most once (row lock, state, the gateway's idempotency
  key ``payout:<settlement id>:<role>``) and posted to the ledger when sent.
Services never commit; the settle route commits the settlement before it sends the payouts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import msgspec
import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace import ledger
from marketplace.accounts.security import Principal
from marketplace.auctions.models import Auction, Deposit
from marketplace.db import utcnow
from marketplace.deps import require
from marketplace.errors import Conflict
from marketplace.ledger.service import (
    Leg,
    costs_account,
    escrow_account,
    in_kind_account,
    party_account,
    pledgor_account,
    revenue_account,
)
from marketplace.listings.models import Listing
from marketplace.listings.service import get_listing, transition
from marketplace.money import allocate
from marketplace.offers.models import Offer, RoyaltyPayment
from marketplace.offers.schemas import RoyaltyIn
from marketplace.offers.service import LICENCES, get_offer
from marketplace.registry.service import transfer_confirmed
from marketplace.settings import Settings
from marketplace.settlement.calculator import BANK, Advance, Case, Cost, Party, Statement, compute_statement
from marketplace.settlement.models import (
    Settlement,
    SettlementPayable,
    SettlementPayout,
    payout_id_for,
    settlement_id_for,
)
from marketplace.settlement.premium import PremiumSchedule, buyer_premium

log = structlog.get_logger("marketplace.settlement")

PLEDGOR: Final = "pledgor"
DISPOSAL: Final = "disposal"
ROYALTY: Final = "royalty"
OFFER_ROUTES: Final = ("acquisition", "equity")

GatewayFactory = Callable[[str, AsyncSession], Any]


@dataclass(frozen=True, slots=True)
class SettlementPolicy:
    """The exchange's settlement settings: commission and buyer premium (none by default).

    Read from ``Settings.extra``: ``settlement_commission_bp``, ``settlement_premium_bp``,
    ``settlement_premium_schedule`` (``flat`` or ``court_tiered``) and
    ``settlement_payout_method`` (the gateway that pays the parties, ``offline`` by default).
    """

    commission_bp: int = 0
    premium_bp: int = 0
    premium_schedule: PremiumSchedule = "flat"
    payout_method: str = "offline"

    @classmethod
    def from_settings(cls, settings: Settings) -> SettlementPolicy:
        extra = settings.extra or {}
        schedule = extra.get("settlement_premium_schedule", "flat")
        return cls(
            commission_bp=int(extra.get("settlement_commission_bp", "0")),
            premium_bp=int(extra.get("settlement_premium_bp", "0")),
            premium_schedule="court_tiered" if schedule == "court_tiered" else "flat",
            payout_method=extra.get("settlement_payout_method", "offline"),
        )


# --- the pure part: what a settlement moves -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totals:
    """What a cumulative statement has distributed: into escrow, to the exchange, to costs,
    to the pledgor, and to each party (``receives``)."""

    gross_in: int
    revenue: int
    costs_paid: int
    surplus: int
    receives: Mapping[str, int] = field(default_factory=dict)


def totals_of(statement: Statement) -> Totals:
    """Commission is paid before costs when the proceeds cannot cover both (the shortfall stays owed)."""
    gross = statement.hammer + statement.forfeited_deposits
    commission_paid = min(statement.commission, gross)
    costs_paid = min(statement.costs_total, gross - commission_paid)
    return Totals(
        gross_in=gross + statement.premium,
        revenue=statement.premium + commission_paid,
        costs_paid=costs_paid,
        surplus=statement.surplus_to_pledgor,
        receives={line.role: line.receives for line in statement.lines},
    )


@dataclass(frozen=True, slots=True)
class Payable:
    debtor: str
    creditor: str
    amount: int


@dataclass(frozen=True, slots=True)
class Distribution:
    """One settlement's movement: the difference between two cumulative totals, and how the
    parties' part is paid — ``cash`` out of escrow, the rest as ``payables`` between parties."""

    gross_in: int
    revenue: int
    costs_paid: int
    surplus: int
    receives: Mapping[str, int]
    cash: Mapping[str, int]
    payables: tuple[Payable, ...]

    @property
    def recovered(self) -> int:
        return sum(self.receives.values())


def cash_plan(receives: Sequence[tuple[str, int]]) -> tuple[dict[str, int], tuple[Payable, ...]]:
    """Pay ``Σ receives`` out of escrow so that every role ends with exactly its ``receives``.

    Non-bank parties with something to receive are paid first; the bank takes what is left. A
    party with a negative ``receives`` owes the bank. When escrow cannot pay the non-bank parties
    in full (their advances exceed what their ratios let them keep), escrow is split among them by
    largest remainder and the bank owes each the rest.
    """
    recovered = sum(amount for _, amount in receives)
    positives = [(role, amount) for role, amount in receives if role != BANK and amount > 0]
    owing = tuple(Payable(role, BANK, -amount) for role, amount in receives if role != BANK and amount < 0)
    wanted = sum(amount for _, amount in positives)
    cash: dict[str, int] = {}
    if wanted <= recovered:
        cash.update(positives)
        cash[BANK] = recovered - wanted
        return cash, owing
    parts = (
        allocate(recovered, [amount for _, amount in positives]) if recovered > 0 else [0] * len(positives)
    )
    owed_by_bank: list[Payable] = []
    for (role, amount), part in zip(positives, parts, strict=True):
        cash[role] = part
        if amount > part:
            owed_by_bank.append(Payable(BANK, role, amount - part))
    cash[BANK] = 0
    return cash, owing + tuple(owed_by_bank)


def distribution(previous: Totals | None, current: Totals, roles: Sequence[str]) -> Distribution:
    before = previous or Totals(0, 0, 0, 0, {})
    receives = [(role, current.receives.get(role, 0) - before.receives.get(role, 0)) for role in roles]
    cash, payables = cash_plan(receives)
    return Distribution(
        gross_in=current.gross_in - before.gross_in,
        revenue=current.revenue - before.revenue,
        costs_paid=current.costs_paid - before.costs_paid,
        surplus=current.surplus - before.surplus,
        receives=dict(receives),
        cash={role: cash.get(role, 0) for role in roles},
        payables=payables,
    )


def settlement_legs(
    moved: Distribution,
    *,
    source: str,
    currency: str,
    listing_id: uuid.UUID,
    org_of: Mapping[str, uuid.UUID],
) -> list[Leg]:
    """The ledger legs of one settlement: escrow (or the in-kind account) in, every recipient out.

    Each party's account is credited with exactly its ``receives``: its cash and the payables
    owed to it, less the payables it owes.
    """
    legs = [
        Leg(source, moved.gross_in),
        Leg(revenue_account(currency), -moved.revenue),
        Leg(costs_account(listing_id, currency), -moved.costs_paid),
        Leg(pledgor_account(listing_id, currency), -moved.surplus),
    ]
    legs.extend(Leg(party_account(org_of[role], currency), -amount) for role, amount in moved.cash.items())
    for payable in moved.payables:
        legs.append(Leg(party_account(org_of[payable.debtor], currency), payable.amount))
        legs.append(Leg(party_account(org_of[payable.creditor], currency), -payable.amount))
    return legs


def distribution_json(moved: Distribution) -> dict[str, Any]:
    return {
        "gross_in": moved.gross_in,
        "revenue": moved.revenue,
        "costs_paid": moved.costs_paid,
        "surplus": moved.surplus,
        "receives": dict(moved.receives),
        "cash": dict(moved.cash),
        "payables": [
            {"debtor": p.debtor, "creditor": p.creditor, "amount": p.amount} for p in moved.payables
        ],
    }


def case_for(
    terms: Mapping[str, Any],
    *,
    currency: str,
    claim: int,
    hammer: int,
    forfeited_deposits: int,
    policy: SettlementPolicy,
    with_premium: bool,
) -> Case:
    """The calculator's case from a listing's fixed terms (costs include the arrears lines)."""
    return Case(
        currency=currency,
        hammer=hammer,
        forfeited_deposits=forfeited_deposits,
        commission_bp=policy.commission_bp,
        premium_bp=policy.premium_bp if with_premium else 0,
        premium_schedule=policy.premium_schedule if with_premium else "flat",
        costs=[Cost(kind=str(c["kind"]), amount=int(c["amount"])) for c in terms.get("costs") or ()],
        claim=claim,
        parties=[Party(role=str(p["role"]), ratio_bp=int(p["ratio_bp"])) for p in terms.get("parties") or ()],
        advances=[Advance(role=str(a["role"]), amount=int(a["amount"])) for a in terms.get("advances") or ()],
    )


def org_ids_of(terms: Mapping[str, Any]) -> dict[str, uuid.UUID]:
    return {str(p["role"]): uuid.UUID(str(p["org_id"])) for p in terms.get("parties") or ()}


# --- the database part -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disposal:
    """How a sold listing was disposed of, and what is still missing before it can be settled."""

    route: str | None
    hammer: int
    auction_id: uuid.UUID | None
    offer_id: uuid.UUID | None
    missing: tuple[str, ...]


async def disposal_of(session: AsyncSession, listing: Listing) -> Disposal:
    missing: list[str] = []
    if listing.status != "sold":
        missing.append("listing_sold")
    route: str | None = None
    hammer = 0
    auction_id: uuid.UUID | None = None
    offer_id: uuid.UUID | None = None
    offer = await session.scalar(
        select(Offer)
        .where(Offer.listing_id == listing.id, Offer.status == "approved", Offer.kind.in_(OFFER_ROUTES))
        .order_by(Offer.approved_at.desc())
        .limit(1)
    )
    if offer is not None:
        route, hammer, offer_id = offer.kind, offer.amount, offer.id
        if offer.paid_at is None:
            missing.append("payment_recorded")
    else:
        sold = await session.scalar(
            select(Auction)
            .where(Auction.listing_id == listing.id, Auction.status == "sold")
            .order_by(Auction.round_no.desc())
            .limit(1)
        )
        if sold is None or sold.hammer_price is None:
            missing.append("sale")
        else:
            route, hammer, auction_id = "auction", sold.hammer_price, sold.id
            if sold.balance_paid_at is None:
                missing.append("balance_paid")
    if not await transfer_confirmed(session, listing.id):
        missing.append("transfer_confirmed")
    return Disposal(route, hammer, auction_id, offer_id, tuple(missing))


async def forfeited_deposits(session: AsyncSession, listing_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Deposit.amount), 0))
        .join(Auction, Auction.id == Deposit.auction_id)
        .where(Auction.listing_id == listing_id, Deposit.status == "forfeited")
    )
    return int(total or 0)


async def settlements_of(session: AsyncSession, listing_id: uuid.UUID) -> list[Settlement]:
    rows = await session.scalars(
        select(Settlement).where(Settlement.listing_id == listing_id).order_by(Settlement.position)
    )
    return list(rows.all())


async def _existing(
    session: AsyncSession, listing_id: uuid.UUID, kind: str, sequence: int
) -> Settlement | None:
    settlement: Settlement | None = await session.scalar(
        select(Settlement)
        .where(Settlement.listing_id == listing_id, Settlement.kind == kind, Settlement.sequence == sequence)
        .execution_options(populate_existing=True)
    )
    return settlement


def source_account(route: str, listing_id: uuid.UUID, currency: str) -> str:
    return in_kind_account(listing_id, currency) if route == "equity" else escrow_account(currency)


async def _record(
    session: AsyncSession,
    listing: Listing,
    *,
    kind: str,
    route: str,
    income: int,
    auction_id: uuid.UUID | None,
    offer_id: uuid.UUID | None,
    policy: SettlementPolicy,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> Settlement:
    """Compute, record and post one settlement; returns the existing one if it is already there."""
    prior = await settlements_of(session, listing.id)
    sequence = 1 + sum(1 for s in prior if s.kind == kind)
    prior_income = sum(s.income for s in prior)
    with_premium = route == "auction"
    case = case_for(
        listing.settlement_terms,
        currency=listing.currency,
        claim=listing.claim,
        hammer=prior_income + income,
        forfeited_deposits=await forfeited_deposits(session, listing.id),
        policy=policy,
        with_premium=with_premium,
    )
    statement = compute_statement(case)
    if with_premium and prior_income:
        premium = buyer_premium(income, policy.premium_schedule, policy.premium_bp)
        statement = msgspec.structs.replace(statement, premium=premium, buyer_pays=income + premium)
    previous = msgspec.convert(prior[-1].statement, Statement) if prior else None
    roles = [line.role for line in statement.lines]
    moved = distribution(totals_of(previous) if previous else None, totals_of(statement), roles)
    settlement_id = settlement_id_for(listing.id, kind, sequence)
    settlement = Settlement(
        id=settlement_id,
        listing_id=listing.id,
        kind=kind,
        sequence=sequence,
        position=len(prior) + 1,
        route=route,
        auction_id=auction_id,
        offer_id=offer_id,
        currency=listing.currency,
        income=income,
        case=msgspec.to_builtins(case),
        statement=msgspec.to_builtins(statement),
        distribution=distribution_json(moved),
        settled_by=actor_id,
        settled_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(settlement)
            await session.flush()
    except IntegrityError:
        existing = await _existing(session, listing.id, kind, sequence)
        if existing is None:
            raise
        return existing

    org_of = org_ids_of(listing.settlement_terms)
    source = source_account(route, listing.id, listing.currency)
    legs = settlement_legs(
        moved, source=source, currency=listing.currency, listing_id=listing.id, org_of=org_of
    )
    if any(leg.amount for leg in legs):
        transaction = await ledger.post(
            session,
            legs,
            memo=f"{kind} settlement {sequence} of listing {listing.id} ({route})",
            ref=f"settlement:{settlement_id}",
        )
        settlement.ledger_transaction_id = transaction.id
    await _order_payouts(session, settlement, listing, moved, org_of, policy, source)
    for payable in moved.payables:
        session.add(
            SettlementPayable(
                settlement_id=settlement_id,
                debtor_role=payable.debtor,
                debtor_org_id=org_of.get(payable.debtor),
                creditor_role=payable.creditor,
                creditor_org_id=org_of.get(payable.creditor),
                amount=payable.amount,
                currency=listing.currency,
                status="open",
                created_at=now,
            )
        )
    await session.flush()
    return settlement


async def _order_payouts(
    session: AsyncSession,
    settlement: Settlement,
    listing: Listing,
    moved: Distribution,
    org_of: Mapping[str, uuid.UUID],
    policy: SettlementPolicy,
    source: str,
) -> None:
    in_kind = settlement.route == "equity"
    recipients: list[tuple[str, uuid.UUID | None, int]] = [
        (role, org_of[role], amount) for role, amount in moved.cash.items() if amount > 0
    ]
    if moved.surplus > 0:
        recipients.append((PLEDGOR, None, moved.surplus))
    for role, org_id, amount in recipients:
        payout = SettlementPayout(
            id=payout_id_for(settlement.id, role),
            settlement_id=settlement.id,
            role=role,
            org_id=org_id,
            payee_ref=f"org:{org_id}" if org_id is not None else f"pledgor:{listing.id}",
            amount=amount,
            currency=listing.currency,
            method="in_kind" if in_kind else policy.payout_method,
            state="in_kind" if in_kind else "queued",
            idempotency_key=f"payout:{settlement.id}:{role}",
            transfer_group=f"settlement:{settlement.id}",
            instructions={},
            attempts=0,
            created_at=settlement.settled_at,
        )
        session.add(payout)
        if in_kind:
            await session.flush()
            await _post_payout(session, payout, listing.id, source, settlement.settled_at)


def payee_account(payout: SettlementPayout, listing_id: uuid.UUID) -> str:
    if payout.org_id is None:
        return pledgor_account(listing_id, payout.currency)
    return party_account(payout.org_id, payout.currency)


async def _post_payout(
    session: AsyncSession, payout: SettlementPayout, listing_id: uuid.UUID, source: str, now: datetime
) -> None:
    transaction = await ledger.post(
        session,
        [Leg(payee_account(payout, listing_id), payout.amount), Leg(source, -payout.amount)],
        memo=f"payout to {payout.role} ({payout.payee_ref}) of {payout.transfer_group}",
        ref=f"payout:{payout.id}",
    )
    payout.ledger_transaction_id = transaction.id
    payout.sent_at = now


async def settle_listing(
    session: AsyncSession,
    principal: Principal | None,
    listing_id: uuid.UUID,
    policy: SettlementPolicy,
    *,
    now: datetime | None = None,
) -> Settlement:
    """Settle a sold listing once (operator); a repeated call returns the first settlement."""
    caller = require(principal, "operator")
    now = now or utcnow()
    listing = await get_listing(session, listing_id, caller, lock=True)
    existing = await _existing(session, listing.id, DISPOSAL, 1)
    if existing is not None:
        return existing
    disposal = await disposal_of(session, listing)
    if disposal.missing or disposal.route is None:
        raise Conflict(
            "not_ready",
            f"the listing cannot be settled yet; missing: {', '.join(disposal.missing)}",
            missing=list(disposal.missing),
        )
    settlement = await _record(
        session,
        listing,
        kind=DISPOSAL,
        route=disposal.route,
        income=disposal.hammer,
        auction_id=disposal.auction_id,
        offer_id=disposal.offer_id,
        policy=policy,
        actor_id=caller.user_id,
        now=now,
    )
    if listing.status != "settled":
        await transition(session, listing, "settled", caller.user_id, f"settlement {settlement.id}")
    return settlement


async def record_royalty(
    session: AsyncSession,
    principal: Principal | None,
    offer_id: uuid.UUID,
    data: RoyaltyIn,
    policy: SettlementPolicy,
    *,
    now: datetime | None = None,
) -> Settlement:
    """Licence income arrived (operator): it settles like proceeds, by the listing's ratios.

    Recorded once per offer and period: the same period with the same amount returns the first
    settlement, with another amount it is ``royalty_recorded``.
    """
    caller = require(principal, "operator")
    now = now or utcnow()
    offer, _ = await get_offer(session, offer_id, caller, lock=True)
    if offer.kind not in LICENCES or offer.status != "approved":
        raise Conflict("not_a_licence", "royalties are recorded under an approved licence contract")
    listing = await get_listing(session, offer.listing_id, caller, lock=True)
    recorded = await session.scalar(
        select(RoyaltyPayment).where(
            RoyaltyPayment.offer_id == offer.id, RoyaltyPayment.period == data.period
        )
    )
    if recorded is not None:
        settlement = await session.get(Settlement, recorded.settlement_id) if recorded.settlement_id else None
        if recorded.amount != data.amount or settlement is None:
            raise Conflict("royalty_recorded", f"the royalty for {data.period} is already recorded")
        return settlement
    if listing.status == "settled":
        raise Conflict(
            "already_settled", "the disposal is settled; the loan is no longer secured by this pledge"
        )
    payment = RoyaltyPayment(
        offer_id=offer.id,
        listing_id=listing.id,
        period=data.period,
        amount=data.amount,
        currency=listing.currency,
        recorded_by=caller.user_id,
        received_at=now,
    )
    session.add(payment)
    await session.flush()
    settlement = await _record(
        session,
        listing,
        kind=ROYALTY,
        route=ROYALTY,
        income=data.amount,
        auction_id=None,
        offer_id=offer.id,
        policy=policy,
        actor_id=caller.user_id,
        now=now,
    )
    payment.settlement_id = settlement.id
    await session.flush()
    return settlement


async def issue_payouts(
    session: AsyncSession, gateways: GatewayFactory, settlement_id: uuid.UUID, *, now: datetime | None = None
) -> list[SettlementPayout]:
    """Send the settlement's queued (or failed) payouts through the gateway, each at most once.

    Takes the payout rows' locks, so a concurrent call waits and then finds them sent; a failed
    send stays ``failed`` with its error and is retried by the next call with the same key.
    """
    now = now or utcnow()
    settlement = await session.get(Settlement, settlement_id)
    if settlement is None:
        return []
    rows = await session.scalars(
        select(SettlementPayout)
        .where(
            SettlementPayout.settlement_id == settlement_id, SettlementPayout.state.in_(("queued", "failed"))
        )
        .order_by(SettlementPayout.role)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    source = source_account(settlement.route, settlement.listing_id, settlement.currency)
    sent: list[SettlementPayout] = []
    for payout in rows.all():
        if payout.state not in ("queued", "failed"):
            continue
        payout.attempts += 1
        gateway = gateways(payout.method, session)
        if gateway is None:
            payout.state = "failed"
            payout.last_error = f"no {payout.method} gateway is configured"
            continue
        try:
            result = await gateway.payout(
                payout_id=str(payout.id),
                payee_ref=payout.payee_ref,
                amount=payout.amount,
                currency=payout.currency,
                transfer_group=payout.transfer_group,
                idempotency_key=payout.idempotency_key,
            )
        except Exception as exc:
            log.warning("payout failed; will retry", payout_id=str(payout.id), error=str(exc)[:200])
            payout.state = "failed"
            payout.last_error = f"{getattr(exc, 'code', type(exc).__name__)}: {getattr(exc, 'detail', exc)}"[
                :1000
            ]
            continue
        payout.state = "sent"
        payout.provider_ref = result.provider_ref
        payout.provider_status = result.status
        payout.instructions = dict(result.instructions)
        payout.last_error = None
        await _post_payout(session, payout, settlement.listing_id, source, now)
        sent.append(payout)
    await session.flush()
    return sent
