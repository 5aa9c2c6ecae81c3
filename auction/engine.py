"""The auction state machine: ``decide(state, command, now)`` → new state and the events it emits.

Pure: no I/O, no clock (``now`` is the server's receipt time, passed in), no asyncio. A refused
command raises an :class:`~auction.errors.AuctionError` and builds nothing, so the caller's state is
untouched.

Invariants kept for every accepted command:
- statuses move only ``scheduled → open → sold | failed`` and ``sold → defaulted``; ``sold``,
  ``failed`` and ``defaulted`` are final (the API's generic ``closed`` is never produced: a closed
  round is always one of the two outcomes);
- nothing is accepted at or after ``ends_at`` except ``Close`` (and ``Default`` on a sold round);
- every accepted bid takes the lead, is on the grid ``starting_price + k × increment``, and never
  lowers the price: it is at least one increment above the current price, or equal to it when a
  pre-emption holder of strictly better rank (smaller number) than the leader matches it;
- ``ends_at`` only moves later in an auction: a bid accepted less than ``extension_seconds`` before
  the end moves it to ``now + extension_seconds`` and counts one extension (no cap). In a
  fixed-price sale the first bid, which must equal the price, replaces the sale's end by a
  countdown of ``max(sale_countdown, extension_seconds)`` from that bid (reported as an
  ``extended`` event with ``reason="sale_countdown"``, not counted as an extension); later bids
  follow the auction rules;
- a round that reaches its start is opened by the first command that arrives at or after it
  (``Opened`` comes first among that command's events), so the log always reads opened → … → closed.

Bid checks run in this order, and the first failure is the answer: round status and time
(``auction_closed``, ``auction_not_open``), who bids (``not_allowed_to_bid``), the deposit
(``deposit_required``), then the amount (``bad_amount``, ``already_leading``, ``bid_too_low``,
``fixed_price_only``, ``bad_increment``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from auction.chain import rfc3339
from auction.errors import BidRejected, CommandRejected, ScheduleRejected
from auction.rounds import RoundKind, RoundPlan
from auction.rules import RuleProfile

AuctionStatus = Literal["scheduled", "open", "sold", "failed", "defaulted"]
FINAL_STATUSES: frozenset[str] = frozenset({"sold", "failed", "defaulted"})


@dataclass(frozen=True)
class AuctionState:
    auction_id: str
    kind: RoundKind
    status: AuctionStatus
    starting_price: int
    increment: int
    deposit: int
    starts_at: datetime
    ends_at: datetime
    extension_seconds: int
    sale_countdown_seconds: int
    preemption: tuple[tuple[str, int], ...] = ()
    barred: frozenset[str] = frozenset()
    current_price: int | None = None
    leader_id: str | None = None
    leader_code: str | None = None
    leader_rank: int | None = None
    leader_at: datetime | None = None
    bids_count: int = 0
    extensions: int = 0

    def rank_of(self, user_id: str) -> int | None:
        """The user's pre-emption rank (1 is the highest priority), or ``None`` for no right."""
        for holder, rank in self.preemption:
            if holder == user_id:
                return rank
        return None


@dataclass(frozen=True)
class Open:
    pass


@dataclass(frozen=True)
class PlaceBid:
    """``excluded``: the caller found the user to be the listing bank, the pledgor or staff."""

    bidder_id: str
    bidder_code: str
    amount: int
    deposit_held: bool
    excluded: bool = False


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class Default:
    """The winner did not pay the balance by the deadline."""


Command = Open | PlaceBid | Close | Default


@dataclass(frozen=True)
class Opened:
    starts_at: datetime
    ends_at: datetime
    type: Literal["opened"] = field(default="opened", init=False)


@dataclass(frozen=True)
class BidPlaced:
    """``ends_at`` is the end after this bid, including any extension it caused."""

    amount: int
    bidder_id: str
    bidder_code: str
    at: datetime
    ends_at: datetime
    by_preemption: bool = False
    type: Literal["bid"] = field(default="bid", init=False)


@dataclass(frozen=True)
class Extended:
    ends_at: datetime
    extensions: int
    reason: Literal["soft_close", "sale_countdown"] = "soft_close"
    type: Literal["extended"] = field(default="extended", init=False)


@dataclass(frozen=True)
class Closed:
    outcome: Literal["sold", "failed"]
    price: int | None
    bidder_id: str | None
    bidder_code: str | None
    type: Literal["closed"] = field(default="closed", init=False)


@dataclass(frozen=True)
class Defaulted:
    bidder_id: str
    bidder_code: str
    forfeited_deposit: int
    type: Literal["defaulted"] = field(default="defaulted", init=False)


Event = Opened | BidPlaced | Extended | Closed | Defaulted


@dataclass(frozen=True)
class Decision:
    state: AuctionState
    events: tuple[Event, ...]


def _require_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime; only timezone-aware datetimes are allowed")


def _preemption_pairs(
    preemption: Mapping[str, int] | Iterable[tuple[str, int]],
) -> tuple[tuple[str, int], ...]:
    pairs = list(preemption.items()) if isinstance(preemption, Mapping) else list(preemption)
    holders = [holder for holder, _ in pairs]
    if len(set(holders)) != len(holders):
        raise ScheduleRejected("bad_preemption", "a pre-emption holder is listed more than once")
    for holder, rank in pairs:
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ScheduleRejected("bad_preemption", f"holder {holder} has rank {rank!r}; ranks start at 1")
    return tuple(sorted(pairs))


def new_auction(
    auction_id: str,
    plan: RoundPlan,
    profile: RuleProfile,
    *,
    preemption: Mapping[str, int] | Iterable[tuple[str, int]] = (),
    barred: Iterable[str] = (),
) -> AuctionState:
    """A scheduled round from a plan that :func:`auction.rounds.validate_round` accepted."""
    _require_aware("starts_at", plan.starts_at)
    _require_aware("ends_at", plan.ends_at)
    if plan.ends_at <= plan.starts_at:
        raise ScheduleRejected("bad_window", "the round must end after it starts")
    return AuctionState(
        auction_id=auction_id,
        kind=plan.kind,
        status="scheduled",
        starting_price=plan.starting_price,
        increment=plan.increment,
        deposit=plan.deposit,
        starts_at=plan.starts_at,
        ends_at=plan.ends_at,
        extension_seconds=(
            profile.default_extension_seconds if plan.extension_seconds is None else plan.extension_seconds
        ),
        sale_countdown_seconds=int(profile.sale_countdown.total_seconds()),
        preemption=_preemption_pairs(preemption),
        barred=frozenset(barred),
    )


def decide(state: AuctionState, command: Command, now: datetime) -> Decision:
    _require_aware("now", now)
    match command:
        case Open():
            return _open(state, now)
        case PlaceBid():
            return _place_bid(state, command, now)
        case Close():
            return _close(state, now)
        case Default():
            return _default(state)
    raise TypeError(f"not an auction command: {command!r}")


def _open_if_due(state: AuctionState, now: datetime) -> Decision:
    if state.status == "scheduled" and now >= state.starts_at:
        return Decision(replace(state, status="open"), (Opened(state.starts_at, state.ends_at),))
    return Decision(state, ())


def _open(state: AuctionState, now: datetime) -> Decision:
    if state.status in FINAL_STATUSES:
        raise CommandRejected("already_closed", f"the auction is {state.status}")
    if state.status == "open":
        raise CommandRejected("already_open", "the auction is already open")
    if now < state.starts_at:
        raise CommandRejected("auction_not_open", f"the auction starts at {rfc3339(state.starts_at)}")
    return _open_if_due(state, now)


def _minimum_and_preemption(state: AuctionState, bidder_rank: int | None, amount: int) -> tuple[int, bool]:
    """The least acceptable amount for this bidder, and whether ``amount`` is a pre-emption match."""
    if state.current_price is None:
        return state.starting_price, False
    outranks_leader = bidder_rank is not None and (
        state.leader_rank is None or bidder_rank < state.leader_rank
    )
    if outranks_leader and amount == state.current_price:
        return state.current_price, True
    return state.current_price + state.increment, False


def _place_bid(state: AuctionState, bid: PlaceBid, now: datetime) -> Decision:
    if state.status in FINAL_STATUSES:
        raise BidRejected("auction_closed", f"the auction is {state.status}")
    if now < state.starts_at:
        raise BidRejected("auction_not_open", f"the auction starts at {rfc3339(state.starts_at)}")
    if now >= state.ends_at:
        raise BidRejected("auction_closed", f"the auction ended at {rfc3339(state.ends_at)}")
    opening = _open_if_due(state, now)
    state = opening.state

    if bid.excluded or bid.bidder_id in state.barred:
        raise BidRejected("not_allowed_to_bid", "this user may not bid in this auction")
    if not bid.deposit_held:
        raise BidRejected("deposit_required", "the deposit must be held before bidding")

    amount = bid.amount
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise BidRejected("bad_amount", f"{amount!r} is not a positive integer amount")
    if bid.bidder_id == state.leader_id:
        raise BidRejected("already_leading", "the leader may not outbid itself")
    bidder_rank = state.rank_of(bid.bidder_id)
    minimum, by_preemption = _minimum_and_preemption(state, bidder_rank, amount)
    if amount < minimum:
        raise BidRejected("bid_too_low", f"the lowest acceptable bid is {minimum}")
    if state.kind == "sale" and state.current_price is None and amount != state.starting_price:
        raise BidRejected(
            "fixed_price_only", f"the first bid must equal the sale price {state.starting_price}"
        )
    if (amount - state.starting_price) % state.increment != 0:
        raise BidRejected(
            "bad_increment",
            f"bids are {state.starting_price} plus a whole number of increments of {state.increment}",
        )

    ends_at, extensions = state.ends_at, state.extensions
    extended: tuple[Event, ...] = ()
    window = timedelta(seconds=state.extension_seconds)
    if state.kind == "sale" and state.current_price is None:
        ends_at = now + max(timedelta(seconds=state.sale_countdown_seconds), window)
        extended = (Extended(ends_at, extensions, reason="sale_countdown"),)
    elif state.ends_at - now < window:
        ends_at, extensions = now + window, extensions + 1
        extended = (Extended(ends_at, extensions, reason="soft_close"),)

    placed = BidPlaced(
        amount=amount,
        bidder_id=bid.bidder_id,
        bidder_code=bid.bidder_code,
        at=now,
        ends_at=ends_at,
        by_preemption=by_preemption,
    )
    new_state = replace(
        state,
        current_price=amount,
        leader_id=bid.bidder_id,
        leader_code=bid.bidder_code,
        leader_rank=bidder_rank,
        leader_at=now,
        bids_count=state.bids_count + 1,
        ends_at=ends_at,
        extensions=extensions,
    )
    return Decision(new_state, (*opening.events, placed, *extended))


def _close(state: AuctionState, now: datetime) -> Decision:
    if state.status in FINAL_STATUSES:
        raise CommandRejected("already_closed", f"the auction is already {state.status}")
    if now < state.ends_at:
        raise CommandRejected("not_due", f"the auction ends at {rfc3339(state.ends_at)}")
    opening = _open_if_due(state, now)
    state = opening.state
    if state.leader_id is None:
        closed = Closed("failed", None, None, None)
        return Decision(replace(state, status="failed"), (*opening.events, closed))
    closed = Closed("sold", state.current_price, state.leader_id, state.leader_code)
    return Decision(replace(state, status="sold"), (*opening.events, closed))


def _default(state: AuctionState) -> Decision:
    if state.status == "defaulted":
        raise CommandRejected("already_defaulted", "the winner's default is already recorded")
    if state.status != "sold" or state.leader_id is None or state.leader_code is None:
        raise CommandRejected("not_sold", f"the auction is {state.status}, not sold")
    defaulted = Defaulted(state.leader_id, state.leader_code, forfeited_deposit=state.deposit)
    return Decision(replace(state, status="defaulted"), (defaulted,))


def event_payload(event: Event) -> dict[str, Any]:
    """The public, JSON-ready form of an event: the live feed's fields and what the log hashes.

    Bidders appear by code only; user ids stay in the event objects for the service's own records.
    """
    match event:
        case Opened():
            return {
                "type": event.type,
                "starts_at": rfc3339(event.starts_at),
                "ends_at": rfc3339(event.ends_at),
            }
        case BidPlaced():
            return {
                "type": event.type,
                "amount": event.amount,
                "bidder_code": event.bidder_code,
                "at": rfc3339(event.at),
                "ends_at": rfc3339(event.ends_at),
                "by_preemption": event.by_preemption,
            }
        case Extended():
            return {
                "type": event.type,
                "ends_at": rfc3339(event.ends_at),
                "extensions": event.extensions,
                "reason": event.reason,
            }
        case Closed():
            return {
                "type": event.type,
                "outcome": event.outcome,
                "price": event.price,
                "bidder_code": event.bidder_code,
            }
        case Defaulted():
            return {
                "type": event.type,
                "bidder_code": event.bidder_code,
                "forfeited_deposit": event.forfeited_deposit,
            }
    raise TypeError(f"not an auction event: {event!r}")


def public_view(state: AuctionState) -> dict[str, Any]:
    """The state fields of ``GET /api/auctions/{id}`` (the service adds ids, ``seq``, server time)."""
    return {
        "kind": state.kind,
        "status": state.status,
        "starting_price": state.starting_price,
        "increment": state.increment,
        "deposit": state.deposit,
        "current_price": state.current_price,
        "leader_code": state.leader_code,
        "bids_count": state.bids_count,
        "starts_at": rfc3339(state.starts_at),
        "ends_at": rfc3339(state.ends_at),
        "extension_seconds": state.extension_seconds,
        "extensions": state.extensions,
    }
