"""Builders shared by the auction tests: a round at a fixed instant, bids, and a way to replay steps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from auction.engine import AuctionState, Command, Decision, Event, PlaceBid, decide, new_auction
from auction.rounds import RoundKind, RoundPlan
from auction.rules import SPC2016, RuleProfile

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
START = 1_000_000
INCREMENT = 10_000
DEPOSIT = 100_000
DURATION = timedelta(hours=24)
WINDOW = 300


def at(seconds: float) -> datetime:
    """An instant ``seconds`` after the round starts."""
    return T0 + timedelta(seconds=seconds)


END = T0 + DURATION
END_S = int(DURATION.total_seconds())


def make_round(
    *,
    kind: RoundKind = "auction",
    starting_price: int = START,
    increment: int = INCREMENT,
    deposit: int | None = None,
    duration: timedelta = DURATION,
    extension_seconds: int = WINDOW,
    profile: RuleProfile = SPC2016,
    preemption: Iterable[tuple[str, int]] = (),
    barred: Iterable[str] = (),
    sale_countdown_seconds: int | None = None,
) -> AuctionState:
    plan = RoundPlan(
        kind=kind,
        starting_price=starting_price,
        increment=increment,
        deposit=(starting_price if kind == "sale" else DEPOSIT) if deposit is None else deposit,
        starts_at=T0,
        ends_at=T0 + duration,
        extension_seconds=extension_seconds,
    )
    state = new_auction("a-1", plan, profile, preemption=preemption, barred=barred)
    if sale_countdown_seconds is not None:
        state = replace(state, sale_countdown_seconds=sale_countdown_seconds)
    return state


def bid(
    who: str, amount: int, *, deposit_held: bool = True, excluded: bool = False, code: str | None = None
) -> PlaceBid:
    return PlaceBid(
        bidder_id=who,
        bidder_code=code or f"#{who}",
        amount=amount,
        deposit_held=deposit_held,
        excluded=excluded,
    )


Step = tuple[float, Command]


def run(state: AuctionState, steps: Sequence[Step]) -> tuple[AuctionState, list[Decision]]:
    """Decide each step in order (every one must be accepted)."""
    decisions = []
    for seconds, command in steps:
        decision = decide(state, command, at(seconds))
        decisions.append(decision)
        state = decision.state
    return state, decisions


def types(events: Iterable[Event]) -> list[str]:
    return [event.type for event in events]
