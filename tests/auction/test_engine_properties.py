"""Properties of the auction engine over generated command sequences (a Hypothesis state machine).

Each step sends one command at the machine's clock, which only moves forward. Every answer is
checked against the rules: a small model says which bids must be accepted, and accepted commands
must keep the invariants (the price never falls, one close at most, nothing after the end, soft
close, pre-emption ties, the increment grid), while refused ones leave the state as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from auction.engine import (
    FINAL_STATUSES,
    AuctionState,
    BidPlaced,
    Close,
    Closed,
    Command,
    Decision,
    Default,
    Defaulted,
    Event,
    Extended,
    Open,
    Opened,
    PlaceBid,
    decide,
)
from auction.errors import AuctionError
from auction.rules import SANDBOX
from tests.auction.factories import START, T0, make_round


@dataclass(frozen=True)
class Bidder:
    user_id: str
    rank: int | None = None
    deposit_held: bool = True
    excluded: bool = False
    barred: bool = False


BIDDERS = (
    Bidder("alice"),
    Bidder("bob"),
    Bidder("carol"),
    Bidder("h1", rank=1),
    Bidder("h1b", rank=1),
    Bidder("h2", rank=2),
    Bidder("nodeposit", deposit_held=False),
    Bidder("bank", excluded=True),
    Bidder("mallory", barred=True),
)
HOLDERS = tuple((b.user_id, b.rank) for b in BIDDERS if b.rank is not None)
AMOUNTS = (
    "start",
    "start-1",
    "start+1",
    "current",
    "current+increment",
    "current+increment-1",
    "current+increment+1",
    "current+3increments",
    "current-increment",
    "zero",
)


def amount_for(choice: str, state: AuctionState) -> int:
    current = state.starting_price if state.current_price is None else state.current_price
    increment = state.increment
    return {
        "start": state.starting_price,
        "start-1": state.starting_price - 1,
        "start+1": state.starting_price + 1,
        "current": current,
        "current+increment": current + increment,
        "current+increment-1": current + increment - 1,
        "current+increment+1": current + increment + 1,
        "current+3increments": current + 3 * increment,
        "current-increment": current - increment,
        "zero": 0,
    }[choice]


def model_bid_refusal(state: AuctionState, bidder: Bidder, amount: int, now: datetime) -> str | None:
    """The rules read plainly: ``None`` when the bid must be accepted, else the reason.

    ``"amount"`` stands for any of the amount codes.
    """
    if state.status in FINAL_STATUSES or now >= state.ends_at:
        return "auction_closed"
    if now < state.starts_at:
        return "auction_not_open"
    if bidder.excluded or bidder.barred:
        return "not_allowed_to_bid"
    if not bidder.deposit_held:
        return "deposit_required"
    if amount <= 0:
        return "bad_amount"
    if bidder.user_id == state.leader_id:
        return "already_leading"
    on_grid = (amount - state.starting_price) % state.increment == 0
    if state.current_price is None:
        fits = amount == state.starting_price if state.kind == "sale" else amount >= state.starting_price
    else:
        may_match = bidder.rank is not None and (state.leader_rank is None or bidder.rank < state.leader_rank)
        fits = amount >= state.current_price + state.increment or (
            may_match and amount == state.current_price
        )
    return None if on_grid and fits else "amount"


LIKELY_AMOUNTS = (*AMOUNTS, "current", "current", "current+increment", "current+increment")
AMOUNT_CODES = {"bid_too_low", "bad_increment", "fixed_price_only"}


class AuctionMachine(RuleBasedStateMachine):
    state: AuctionState
    initial: AuctionState
    now: datetime
    events: list[Event]
    accepted: list[tuple[Command, datetime]]

    @initialize(
        kind=st.sampled_from(["auction", "sale"]),
        increment=st.sampled_from([1, 7, 10_000]),
        window=st.sampled_from([1, 60, 300]),
        countdown=st.sampled_from([30, 600]),
        early=st.booleans(),
    )
    def schedule(self, kind: str, increment: int, window: int, countdown: int, early: bool) -> None:
        self.state = make_round(
            kind="sale" if kind == "sale" else "auction",
            increment=increment,
            duration=timedelta(hours=1),
            extension_seconds=window,
            profile=SANDBOX,
            preemption=HOLDERS,
            barred=["mallory"],
            sale_countdown_seconds=countdown,
        )
        self.initial = self.state
        self.now = T0 - timedelta(seconds=1) if early else T0
        self.events = []
        self.accepted = []

    @rule(
        seconds=st.sampled_from([0, 1, 10, 60, 240, 299, 300, 301, 900]),
        microseconds=st.sampled_from([0, 1, 500_000]),
    )
    def wait(self, seconds: int, microseconds: int) -> None:
        self.now += timedelta(seconds=seconds, microseconds=microseconds)

    @rule(offset=st.integers(min_value=-301, max_value=3))
    def approach_the_end(self, offset: int) -> None:
        self.now = max(self.now, self.state.ends_at + timedelta(seconds=offset))

    @precondition(lambda self: self.state.status not in FINAL_STATUSES or len(self.events) % 3 == 0)
    @rule(bidder=st.sampled_from(BIDDERS), choice=st.sampled_from(LIKELY_AMOUNTS))
    def place_bid(self, bidder: Bidder, choice: str) -> None:
        amount = amount_for(choice, self.state)
        before = self.state
        command = PlaceBid(bidder.user_id, f"#{bidder.user_id}", amount, bidder.deposit_held, bidder.excluded)
        expected = model_bid_refusal(before, bidder, amount, self.now)
        outcome = self.send(command)
        if isinstance(outcome, AuctionError):
            assert expected is not None, f"a valid bid was refused: {outcome.code}"
            assert outcome.code in AMOUNT_CODES if expected == "amount" else outcome.code == expected
            return
        assert expected is None, f"an invalid bid ({expected}) was accepted"
        self.check_accepted_bid(before, bidder, amount, outcome)

    @precondition(lambda self: self.state.status == "scheduled" or len(self.accepted) % 4 == 0)
    @rule()
    def open(self) -> None:
        before = self.state
        outcome = self.send(Open())
        must_open = before.status == "scheduled" and self.now >= before.starts_at
        assert isinstance(outcome, Decision) == must_open
        if isinstance(outcome, Decision):
            assert outcome.events == (Opened(before.starts_at, before.ends_at),)

    @precondition(lambda self: self.now >= self.state.ends_at - timedelta(seconds=60))
    @rule()
    def close(self) -> None:
        before = self.state
        outcome = self.send(Close())
        due = before.status not in FINAL_STATUSES and self.now >= before.ends_at
        assert isinstance(outcome, Decision) == due, "a due close must succeed and only a due one"
        if isinstance(outcome, Decision):
            closed = outcome.events[-1]
            assert isinstance(closed, Closed)
            assert (closed.outcome == "sold") == (before.leader_id is not None)
            assert closed.price == before.current_price
            assert closed.bidder_id == before.leader_id

    @precondition(lambda self: self.state.status in FINAL_STATUSES)
    @rule()
    def default(self) -> None:
        before = self.state
        outcome = self.send(Default())
        assert isinstance(outcome, Decision) == (before.status == "sold")
        if isinstance(outcome, Decision):
            assert outcome.events == (
                Defaulted(str(before.leader_id), str(before.leader_code), before.deposit),
            )

    def send(self, command: Command) -> Decision | AuctionError:
        before = self.state
        fingerprint = hash(before)
        try:
            decision = decide(before, command, self.now)
        except AuctionError as refusal:
            return self.check_refusal(before, fingerprint, command, refusal)
        self.state = decision.state
        self.events.extend(decision.events)
        self.accepted.append((command, self.now))
        return decision

    def check_refusal(
        self, before: AuctionState, fingerprint: int, command: Command, refusal: AuctionError
    ) -> AuctionError:
        assert self.state is before
        assert hash(before) == fingerprint
        with pytest.raises(AuctionError) as again:
            decide(before, command, self.now)
        assert again.value.code == refusal.code
        return refusal

    def check_accepted_bid(
        self, before: AuctionState, bidder: Bidder, amount: int, decision: Decision
    ) -> None:
        after, events = decision.state, list(decision.events)
        assert before.status not in FINAL_STATUSES
        assert before.starts_at <= self.now < before.ends_at
        if before.status == "scheduled":
            assert isinstance(events.pop(0), Opened)
        placed = events.pop(0)
        assert isinstance(placed, BidPlaced)
        assert placed.amount == amount == after.current_price
        assert (amount - before.starting_price) % before.increment == 0
        assert after.leader_id == bidder.user_id
        assert after.leader_rank == bidder.rank
        if before.current_price is not None:
            assert amount >= before.current_price
            if amount == before.current_price:
                assert bidder.rank is not None
                assert before.leader_rank is None or bidder.rank < before.leader_rank
                assert placed.by_preemption
        window = timedelta(seconds=before.extension_seconds)
        if before.kind == "sale" and before.current_price is None:
            assert amount == before.starting_price
            countdown = max(timedelta(seconds=before.sale_countdown_seconds), window)
            assert events == [Extended(self.now + countdown, before.extensions, reason="sale_countdown")]
            assert after.ends_at == self.now + countdown
            return
        if before.ends_at - self.now < window:
            assert events == [Extended(self.now + window, before.extensions + 1, reason="soft_close")]
            assert after.ends_at == self.now + window
        else:
            assert events == []
            assert after.ends_at == before.ends_at
        assert after.ends_at >= before.ends_at
        assert placed.ends_at == after.ends_at

    @invariant()
    def at_most_one_close_and_nothing_after_it(self) -> None:
        closes = [i for i, event in enumerate(self.events) if isinstance(event, Closed)]
        assert len(closes) <= 1
        if closes:
            assert not any(isinstance(event, BidPlaced) for event in self.events[closes[0] :])
            assert self.state.status in FINAL_STATUSES

    @invariant()
    def counters_match_the_events(self) -> None:
        bids = [event for event in self.events if isinstance(event, BidPlaced)]
        assert self.state.bids_count == len(bids)
        soft_closes = [e for e in self.events if isinstance(e, Extended) and e.reason == "soft_close"]
        assert self.state.extensions == len(soft_closes)
        amounts = [bid.amount for bid in bids]
        assert amounts == sorted(amounts)
        assert all((a - START) % self.state.increment == 0 for a in amounts)

    @invariant()
    def the_winner_is_the_last_bidder(self) -> None:
        bids = [event for event in self.events if isinstance(event, BidPlaced)]
        if bids:
            assert self.state.leader_id == bids[-1].bidder_id
            assert self.state.current_price == bids[-1].amount
        else:
            assert self.state.leader_id is None
            assert self.state.status in ("scheduled", "open", "failed")

    def teardown(self) -> None:
        if not hasattr(self, "initial"):
            return
        replayed, events = self.initial, list[Event]()
        for command, now in self.accepted:
            decision = decide(replayed, command, now)
            replayed = decision.state
            events.extend(decision.events)
        assert replayed == self.state, "refused commands must leave no trace"
        assert events == self.events


AuctionMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_auction_machine = AuctionMachine.TestCase
