"""Scheduling rules for a listing's rounds: which round may come next, at what price, when.

Invariants (checked by :func:`validate_round`, which raises :class:`ScheduleRejected` or returns
the :class:`RoundCheck` that applies):
- the first round is an auction starting at ≥ 70 % of the valuation (ceiling), no sooner than the
  first announcement period after the listing's approval;
- a later round follows a failed or defaulted round only (never one still scheduled or open, never
  one sold), starts no sooner than the later announcement period and no later than the relist
  window after that round closed, at ≥ 80 % (ceiling) of its starting price, so a resale at the same
  price is always allowed;
- after two failed auctions the next round is a fixed-price sale at the last failed auction's
  price, lasting at least the sale duration, with the full price as deposit; a failed sale ends
  the auction route, a defaulted sale is sold again at the same price;
- an auction's deposit is 5 %–20 % of its starting price (both ends exact), its increment is
  positive, it lasts at least the profile's minimum, and its soft-close window is at least the
  profile's minimum;
- a stalking-horse offer (``floor_price``) must itself clear the regulatory floor and becomes the
  round's floor; the starting price may equal it;
- every defaulter of an earlier round is barred from this one.

``closed_at`` of a defaulted round is the moment the default was recorded (the day the relist
clock starts), not the hammer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from auction.errors import ScheduleRejected
from auction.rules import RuleProfile, deposit_bounds, first_round_floor, later_round_floor

RoundKind = Literal["auction", "sale"]
RoundOutcome = Literal["scheduled", "open", "sold", "failed", "defaulted"]


@dataclass(frozen=True)
class RoundPlan:
    kind: RoundKind
    starting_price: int
    increment: int
    deposit: int
    starts_at: datetime
    ends_at: datetime
    extension_seconds: int | None = None
    floor_price: int | None = None


@dataclass(frozen=True)
class PriorRound:
    kind: RoundKind
    starting_price: int
    outcome: RoundOutcome
    closed_at: datetime | None
    defaulter_id: str | None = None


@dataclass(frozen=True)
class NextRound:
    """What the listing's history allows next, before looking at a plan."""

    round_number: int
    kind: RoundKind
    floor: int
    sale_price: int | None
    earliest_start: datetime
    latest_start: datetime | None
    barred: frozenset[str]


@dataclass(frozen=True)
class RoundCheck:
    """The rules that applied to an accepted plan; ``floor`` includes any stalking-horse offer."""

    round_number: int
    kind: RoundKind
    floor: int
    regulatory_floor: int
    min_deposit: int
    max_deposit: int
    extension_seconds: int
    earliest_start: datetime
    latest_start: datetime | None
    barred: frozenset[str]


def _require_aware(**moments: datetime | None) -> None:
    for name, moment in moments.items():
        if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
            raise ValueError(f"{name} is a naive datetime; only timezone-aware datetimes are allowed")


def _history_rule(
    profile: RuleProfile, valuation: int, prior_rounds: Sequence[PriorRound]
) -> tuple[RoundKind, int, int | None, PriorRound | None]:
    """The next round's kind, floor, fixed sale price (sales only) and the round it follows."""
    if isinstance(valuation, bool) or not isinstance(valuation, int) or valuation <= 0:
        raise ValueError(f"valuation must be a positive integer of minor units, got {valuation!r}")
    if not prior_rounds:
        return "auction", max(1, first_round_floor(profile, valuation)), None, None
    number = len(prior_rounds)
    last = prior_rounds[-1]
    if last.outcome in ("scheduled", "open"):
        raise ScheduleRejected("round_in_progress", f"round {number} is still {last.outcome}")
    if last.outcome == "sold":
        raise ScheduleRejected("already_sold", f"round {number} sold the lot")
    if last.kind == "sale" and last.outcome == "failed":
        raise ScheduleRejected(
            "no_more_rounds", "the fixed-price sale failed; the lot leaves the auction route"
        )
    failed_auctions = sum(1 for r in prior_rounds if r.kind == "auction" and r.outcome == "failed")
    if last.kind == "sale" or (last.outcome == "failed" and failed_auctions >= 2):
        return "sale", last.starting_price, last.starting_price, last
    return "auction", max(1, later_round_floor(profile, last.starting_price)), None, last


def next_round(
    profile: RuleProfile, valuation: int, prior_rounds: Sequence[PriorRound], approved_at: datetime
) -> NextRound:
    """The kind, floor and start window of the round after ``prior_rounds`` (oldest first)."""
    _require_aware(approved_at=approved_at)
    kind, floor, sale_price, previous = _history_rule(profile, valuation, prior_rounds)
    if previous is None:
        earliest_start, latest_start = approved_at + profile.first_announcement, None
    else:
        if previous.closed_at is None:
            raise ValueError(f"round {len(prior_rounds)} is {previous.outcome} but has no closed_at")
        _require_aware(closed_at=previous.closed_at)
        earliest_start = previous.closed_at + profile.later_announcement
        latest_start = previous.closed_at + profile.relist_within
    return NextRound(
        round_number=len(prior_rounds) + 1,
        kind=kind,
        floor=floor,
        sale_price=sale_price,
        earliest_start=earliest_start,
        latest_start=latest_start,
        barred=frozenset(
            r.defaulter_id for r in prior_rounds if r.outcome == "defaulted" and r.defaulter_id is not None
        ),
    )


def min_starting_price(profile: RuleProfile, valuation: int, prior_rounds: Sequence[PriorRound]) -> int:
    """The lowest starting price the next round may have (a sale: its one allowed price)."""
    return _history_rule(profile, valuation, prior_rounds)[1]


def validate_round(
    profile: RuleProfile,
    valuation: int,
    prior_rounds: Sequence[PriorRound],
    plan: RoundPlan,
    now: datetime,
    approved_at: datetime,
) -> RoundCheck:
    """Check ``plan`` as the next round after ``prior_rounds`` (oldest first); raise or say what applied."""
    _require_aware(now=now, starts_at=plan.starts_at, ends_at=plan.ends_at)
    upcoming = next_round(profile, valuation, prior_rounds, approved_at)

    if plan.kind != upcoming.kind:
        if plan.kind == "sale":
            raise ScheduleRejected(
                "sale_not_allowed", "a fixed-price sale comes only after two failed auctions"
            )
        raise ScheduleRejected(
            "sale_required", f"the next round is a fixed-price sale at {upcoming.sale_price}"
        )

    for name, value in (("starting_price", plan.starting_price), ("deposit", plan.deposit)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer of minor units, got {value!r}")

    regulatory_floor = upcoming.floor
    floor = regulatory_floor
    if upcoming.sale_price is not None:
        if plan.floor_price is not None:
            raise ScheduleRejected("bad_stalking_horse", "a fixed-price sale takes no stalking-horse offer")
        if plan.starting_price != upcoming.sale_price:
            raise ScheduleRejected(
                "bad_sale_price", f"the sale price must be {upcoming.sale_price}, not {plan.starting_price}"
            )
        min_deposit = max_deposit = plan.starting_price
    else:
        if plan.floor_price is not None:
            if (
                isinstance(plan.floor_price, bool)
                or not isinstance(plan.floor_price, int)
                or plan.floor_price <= 0
            ):
                raise ScheduleRejected(
                    "bad_stalking_horse", "a stalking-horse offer must be a positive amount"
                )
            if plan.floor_price < regulatory_floor:
                raise ScheduleRejected(
                    "price_below_floor",
                    f"the stalking-horse offer {plan.floor_price} is below the floor {regulatory_floor}",
                )
            floor = plan.floor_price
        if plan.starting_price < floor:
            raise ScheduleRejected(
                "price_below_floor", f"starting price {plan.starting_price} is below the floor {floor}"
            )
        min_deposit, max_deposit = deposit_bounds(profile, plan.starting_price)

    if not min_deposit <= plan.deposit <= max_deposit:
        raise ScheduleRejected(
            "bad_deposit", f"deposit {plan.deposit} is outside [{min_deposit}, {max_deposit}]"
        )
    if isinstance(plan.increment, bool) or not isinstance(plan.increment, int) or plan.increment <= 0:
        raise ScheduleRejected(
            "bad_increment", f"increment must be a positive integer, got {plan.increment!r}"
        )

    if plan.ends_at <= plan.starts_at:
        raise ScheduleRejected("bad_window", "the round must end after it starts")
    if plan.starts_at < now:
        raise ScheduleRejected("bad_window", "the round may not start in the past")
    min_duration = profile.sale_duration if plan.kind == "sale" else profile.min_duration
    if plan.ends_at - plan.starts_at < min_duration:
        raise ScheduleRejected("too_short", f"the round must last at least {min_duration}")

    extension_seconds = (
        profile.default_extension_seconds if plan.extension_seconds is None else plan.extension_seconds
    )
    if (
        isinstance(extension_seconds, bool)
        or not isinstance(extension_seconds, int)
        or extension_seconds < profile.min_extension_seconds
    ):
        raise ScheduleRejected(
            "bad_extension",
            f"the soft-close window must be at least {profile.min_extension_seconds} seconds",
        )

    if plan.starts_at < upcoming.earliest_start:
        raise ScheduleRejected(
            "announcement_too_short", f"the round may start no sooner than {upcoming.earliest_start}"
        )
    if upcoming.latest_start is not None and plan.starts_at > upcoming.latest_start:
        raise ScheduleRejected("relist_too_late", f"the round must start by {upcoming.latest_start}")

    return RoundCheck(
        round_number=upcoming.round_number,
        kind=upcoming.kind,
        floor=floor,
        regulatory_floor=regulatory_floor,
        min_deposit=min_deposit,
        max_deposit=max_deposit,
        extension_seconds=extension_seconds,
        earliest_start=upcoming.earliest_start,
        latest_start=upcoming.latest_start,
        barred=upcoming.barred,
    )
