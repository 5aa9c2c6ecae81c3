"""The auction state machine, rule by rule, as tables of scenarios."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from auction.engine import (
    AuctionState,
    BidPlaced,
    Close,
    Closed,
    Default,
    Defaulted,
    Extended,
    Open,
    Opened,
    decide,
    event_payload,
    new_auction,
    public_view,
)
from auction.errors import AuctionError, BidRejected, CommandRejected, ScheduleRejected
from auction.rounds import RoundPlan
from auction.rules import SANDBOX, SPC2016
from tests.auction.factories import (
    DEPOSIT,
    END,
    END_S,
    INCREMENT,
    START,
    T0,
    WINDOW,
    Step,
    at,
    bid,
    make_round,
    run,
    types,
)

HOLDERS = (("h1", 1), ("h1b", 1), ("h2", 2))


@dataclass(frozen=True)
class Refused:
    id: str
    steps: tuple[Step, ...]
    last: Step
    code: str
    family: type[AuctionError]
    round_kwargs: dict[str, Any] = field(default_factory=dict)


REFUSALS = [
    Refused("bid before the start", (), (-1, bid("alice", START)), "auction_not_open", BidRejected),
    Refused(
        "an excluded user before the start hears about the time first",
        (),
        (-1, bid("bank", START, excluded=True)),
        "auction_not_open",
        BidRejected,
    ),
    Refused(
        "bid at exactly ends_at, no close sent",
        (),
        (END_S, bid("alice", START)),
        "auction_closed",
        BidRejected,
    ),
    Refused("bid after ends_at", (), (END_S + 60, bid("alice", START)), "auction_closed", BidRejected),
    Refused(
        "bid on a sold auction",
        ((10, bid("alice", START)), (END_S, Close())),
        (END_S, bid("bob", START + INCREMENT)),
        "auction_closed",
        BidRejected,
    ),
    Refused(
        "bid on a failed auction",
        ((END_S, Close()),),
        (END_S, bid("bob", START)),
        "auction_closed",
        BidRejected,
    ),
    Refused(
        "the listing bank", (), (10, bid("bank", START, excluded=True)), "not_allowed_to_bid", BidRejected
    ),
    Refused(
        "a defaulter of an earlier round",
        (),
        (10, bid("mallory", START)),
        "not_allowed_to_bid",
        BidRejected,
        {"barred": ["mallory"]},
    ),
    Refused(
        "an excluded user without deposit hears who may bid first",
        (),
        (10, bid("bank", START, excluded=True, deposit_held=False)),
        "not_allowed_to_bid",
        BidRejected,
    ),
    Refused(
        "no deposit held", (), (10, bid("alice", START, deposit_held=False)), "deposit_required", BidRejected
    ),
    Refused(
        "no deposit and a low amount hears about the deposit first",
        (),
        (10, bid("alice", 1, deposit_held=False)),
        "deposit_required",
        BidRejected,
    ),
    Refused("a zero amount", (), (10, bid("alice", 0)), "bad_amount", BidRejected),
    Refused("a negative amount", (), (10, bid("alice", -START)), "bad_amount", BidRejected),
    Refused("a boolean amount", (), (10, bid("alice", True)), "bad_amount", BidRejected),
    Refused(
        "the leader outbidding itself",
        ((10, bid("alice", START)),),
        (20, bid("alice", START + INCREMENT)),
        "already_leading",
        BidRejected,
    ),
    Refused(
        "first bid under the starting price",
        (),
        (10, bid("alice", START - INCREMENT)),
        "bid_too_low",
        BidRejected,
    ),
    Refused("first bid off the grid", (), (10, bid("alice", START + 1)), "bad_increment", BidRejected),
    Refused(
        "a later bid equal to the current price",
        ((10, bid("alice", START)),),
        (20, bid("bob", START)),
        "bid_too_low",
        BidRejected,
    ),
    Refused(
        "a later bid one unit short of an increment",
        ((10, bid("alice", START)),),
        (20, bid("bob", START + INCREMENT - 1)),
        "bid_too_low",
        BidRejected,
    ),
    Refused(
        "a later bid above the minimum but off the grid",
        ((10, bid("alice", START)),),
        (20, bid("bob", START + INCREMENT + 1)),
        "bad_increment",
        BidRejected,
    ),
    Refused(
        "a holder matching an equal-ranked holder: the earlier bid keeps the lead",
        ((10, bid("h1", START)),),
        (20, bid("h1b", START)),
        "bid_too_low",
        BidRejected,
        {"preemption": HOLDERS},
    ),
    Refused(
        "a holder matching a better-ranked holder",
        ((10, bid("h1", START)),),
        (20, bid("h2", START)),
        "bid_too_low",
        BidRejected,
        {"preemption": HOLDERS},
    ),
    Refused(
        "a holder bidding below the current price",
        ((10, bid("alice", START + INCREMENT)),),
        (20, bid("h1", START)),
        "bid_too_low",
        BidRejected,
        {"preemption": HOLDERS},
    ),
    Refused(
        "a holder bidding between the current price and one increment above",
        ((10, bid("alice", START)),),
        (20, bid("h1", START + INCREMENT // 2)),
        "bid_too_low",
        BidRejected,
        {"preemption": HOLDERS},
    ),
    Refused(
        "a sale's first bid above the price",
        (),
        (10, bid("alice", START + INCREMENT)),
        "fixed_price_only",
        BidRejected,
        {"kind": "sale"},
    ),
    Refused(
        "a sale's first bid below the price",
        (),
        (10, bid("alice", START - INCREMENT)),
        "bid_too_low",
        BidRejected,
        {"kind": "sale"},
    ),
    Refused(
        "a sale's bid at the price during the countdown",
        ((10, bid("alice", START)),),
        (20, bid("bob", START)),
        "bid_too_low",
        BidRejected,
        {"kind": "sale"},
    ),
    Refused(
        "a bid at the end of a sale's countdown",
        ((10, bid("alice", START)),),
        (10 + 24 * 3600, bid("bob", START + INCREMENT)),
        "auction_closed",
        BidRejected,
        {"kind": "sale", "duration": timedelta(days=60)},
    ),
    Refused("open before the start", (), (-1, Open()), "auction_not_open", CommandRejected),
    Refused("open twice", ((0, Open()),), (1, Open()), "already_open", CommandRejected),
    Refused("open after the close", ((END_S, Close()),), (END_S, Open()), "already_closed", CommandRejected),
    Refused(
        "close before the end", ((10, bid("alice", START)),), (END_S - 1, Close()), "not_due", CommandRejected
    ),
    Refused("close one microsecond early", (), (END_S - 1e-6, Close()), "not_due", CommandRejected),
    Refused(
        "close at the original end after an extension",
        ((END_S - 1, bid("alice", START)),),
        (END_S, Close()),
        "not_due",
        CommandRejected,
    ),
    Refused("close twice", ((END_S, Close()),), (END_S + 1, Close()), "already_closed", CommandRejected),
    Refused(
        "default on a failed auction",
        ((END_S, Close()),),
        (END_S + 1, Default()),
        "not_sold",
        CommandRejected,
    ),
    Refused(
        "default on an open auction",
        ((10, bid("alice", START)),),
        (20, Default()),
        "not_sold",
        CommandRejected,
    ),
    Refused(
        "default twice",
        ((10, bid("alice", START)), (END_S, Close()), (END_S + 1, Default())),
        (END_S + 2, Default()),
        "already_defaulted",
        CommandRejected,
    ),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[case.id for case in REFUSALS])
def test_refusals(case: Refused) -> None:
    state, _ = run(make_round(**case.round_kwargs), case.steps)
    before = state
    seconds, command = case.last
    with pytest.raises(case.family) as refused:
        decide(state, command, at(seconds))
    assert refused.value.code == case.code
    assert refused.value.detail
    assert state == before


@dataclass(frozen=True)
class Accepted:
    id: str
    steps: tuple[Step, ...]
    events: list[str]
    expect: dict[str, Any]
    round_kwargs: dict[str, Any] = field(default_factory=dict)


ACCEPTED = [
    Accepted(
        "the first bid at the start opens the round",
        ((0, bid("alice", START)),),
        ["opened", "bid"],
        {"status": "open", "current_price": START, "leader_id": "alice", "bids_count": 1, "ends_at": END},
    ),
    Accepted("open exactly at the start", ((0, Open()),), ["opened"], {"status": "open"}),
    Accepted(
        "a later bid of one increment takes the lead",
        ((10, bid("alice", START)), (20, bid("bob", START + INCREMENT))),
        ["bid"],
        {"current_price": START + INCREMENT, "leader_code": "#bob", "leader_at": at(20), "bids_count": 2},
    ),
    Accepted(
        "a jump of several increments is on the grid",
        ((10, bid("alice", START)), (20, bid("bob", START + 7 * INCREMENT))),
        ["bid"],
        {"current_price": START + 7 * INCREMENT},
    ),
    Accepted(
        "one bidder at the starting price wins",
        ((10, bid("alice", START)), (END_S, Close())),
        ["closed"],
        {"status": "sold", "current_price": START, "leader_id": "alice"},
    ),
    Accepted(
        "no bids by the end fails",
        ((0, Open()), (END_S, Close())),
        ["closed"],
        {"status": "failed", "current_price": None, "leader_id": None},
    ),
    Accepted(
        "a round nobody opened is opened then failed at the close",
        ((END_S + 5, Close()),),
        ["opened", "closed"],
        {"status": "failed"},
    ),
    Accepted(
        "a bid exactly one window before the end does not extend",
        ((END_S - WINDOW, bid("alice", START)),),
        ["opened", "bid"],
        {"ends_at": END, "extensions": 0},
    ),
    Accepted(
        "a bid one second inside the window extends to a window after it",
        ((END_S - WINDOW + 1, bid("alice", START)),),
        ["opened", "bid", "extended"],
        {"ends_at": at(END_S + 1), "extensions": 1},
    ),
    Accepted(
        "a bid in the last microsecond extends",
        ((END_S - 1e-6, bid("alice", START)),),
        ["opened", "bid", "extended"],
        {"ends_at": at(END_S - 1e-6 + WINDOW), "extensions": 1},
    ),
    Accepted(
        "extensions have no cap",
        (
            (END_S - 1, bid("alice", START)),
            (END_S + WINDOW - 2, bid("bob", START + INCREMENT)),
            (END_S + 2 * WINDOW - 3, bid("alice", START + 2 * INCREMENT)),
            (END_S + 3 * WINDOW - 4, bid("bob", START + 3 * INCREMENT)),
        ),
        ["bid", "extended"],
        {"extensions": 4, "ends_at": at(END_S + 4 * WINDOW - 4)},
    ),
    Accepted(
        "a bid at the original end after an extension is accepted",
        ((END_S - 1, bid("alice", START)), (END_S, bid("bob", START + INCREMENT))),
        ["bid", "extended"],
        {"leader_id": "bob", "extensions": 2},
    ),
    Accepted(
        "close at the extended end sells to the last leader",
        ((END_S - 1, bid("alice", START)), (END_S - 1 + WINDOW, Close())),
        ["closed"],
        {"status": "sold", "leader_id": "alice", "extensions": 1},
    ),
    Accepted(
        "a pre-emption holder matching the top bid takes the lead",
        ((10, bid("alice", START + INCREMENT)), (20, bid("h2", START + INCREMENT))),
        ["bid"],
        {"leader_id": "h2", "leader_rank": 2, "current_price": START + INCREMENT, "bids_count": 2},
        {"preemption": HOLDERS},
    ),
    Accepted(
        "a better-ranked holder overtakes a worse-ranked holder at the same price",
        ((10, bid("h2", START)), (20, bid("h1", START))),
        ["bid"],
        {"leader_id": "h1", "leader_rank": 1, "current_price": START},
        {"preemption": HOLDERS},
    ),
    Accepted(
        "a holder bidding above the current price follows the normal rules",
        ((10, bid("alice", START)), (20, bid("h2", START + 2 * INCREMENT))),
        ["bid"],
        {"leader_id": "h2", "current_price": START + 2 * INCREMENT},
        {"preemption": HOLDERS},
    ),
    Accepted(
        "after a holder's match, an outsider must beat the price by an increment",
        ((10, bid("alice", START)), (20, bid("h1", START)), (30, bid("alice", START + INCREMENT))),
        ["bid"],
        {"leader_id": "alice", "leader_rank": None, "current_price": START + INCREMENT},
        {"preemption": HOLDERS},
    ),
    Accepted(
        "a holder's match in the last window extends",
        ((10, bid("alice", START)), (END_S - 1, bid("h1", START))),
        ["bid", "extended"],
        {"leader_id": "h1", "extensions": 1},
        {"preemption": HOLDERS},
    ),
    Accepted(
        "a winner's default forfeits the deposit",
        ((10, bid("alice", START)), (END_S, Close()), (END_S + 10 * 86400, Default())),
        ["defaulted"],
        {"status": "defaulted", "leader_id": "alice"},
    ),
    Accepted(
        "a sale's first bid at the price starts the countdown",
        ((3600, bid("alice", START)),),
        ["opened", "bid", "extended"],
        {"ends_at": at(3600 + 24 * 3600), "extensions": 0, "current_price": START},
        {"kind": "sale", "duration": timedelta(days=60)},
    ),
    Accepted(
        "a sale's countdown may run past the sale period",
        ((60 * 86400 - 60, bid("alice", START)),),
        ["opened", "bid", "extended"],
        {"ends_at": at(60 * 86400 - 60 + 24 * 3600), "extensions": 0},
        {"kind": "sale", "duration": timedelta(days=60)},
    ),
    Accepted(
        "a sale's countdown is never shorter than the soft-close window",
        ((10, bid("alice", START)),),
        ["opened", "bid", "extended"],
        {"ends_at": at(10 + WINDOW)},
        {
            "kind": "sale",
            "sale_countdown_seconds": 60,
            "duration": timedelta(seconds=120),
            "profile": SANDBOX,
        },
    ),
    Accepted(
        "bids during a sale's countdown rise by increments",
        ((10, bid("alice", START)), (20, bid("bob", START + INCREMENT))),
        ["bid"],
        {"leader_id": "bob", "ends_at": at(10 + 24 * 3600)},
        {"kind": "sale", "duration": timedelta(days=60)},
    ),
    Accepted(
        "a sale's countdown has the same soft close",
        ((10, bid("alice", START)), (10 + 24 * 3600 - 1, bid("bob", START + INCREMENT))),
        ["bid", "extended"],
        {"ends_at": at(10 + 24 * 3600 - 1 + WINDOW), "extensions": 1},
        {"kind": "sale", "duration": timedelta(days=60)},
    ),
    Accepted(
        "a sale sells to the countdown's leader",
        ((10, bid("alice", START)), (10 + 24 * 3600, Close())),
        ["closed"],
        {"status": "sold", "leader_id": "alice", "current_price": START},
        {"kind": "sale", "duration": timedelta(days=60)},
    ),
    Accepted(
        "a sale with no bid by the end fails",
        ((60 * 86400, Close()),),
        ["opened", "closed"],
        {"status": "failed"},
        {"kind": "sale", "duration": timedelta(days=60)},
    ),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=[case.id for case in ACCEPTED])
def test_accepted(case: Accepted) -> None:
    state, decisions = run(make_round(**case.round_kwargs), case.steps)
    assert types(decisions[-1].events) == case.events
    for name, value in case.expect.items():
        assert getattr(state, name) == value, name


def test_a_bid_event_carries_the_end_after_its_extension() -> None:
    _, decisions = run(make_round(), [(END_S - 10, bid("alice", START))])
    opened, placed, extended = decisions[-1].events
    assert opened == Opened(T0, END)
    assert placed == BidPlaced(START, "alice", "#alice", at(END_S - 10), at(END_S - 10 + WINDOW))
    assert extended == Extended(at(END_S - 10 + WINDOW), 1, reason="soft_close")


def test_a_holder_match_is_marked_in_its_event() -> None:
    _, decisions = run(make_round(preemption=HOLDERS), [(10, bid("alice", START)), (20, bid("h1", START))])
    (placed,) = decisions[-1].events
    assert isinstance(placed, BidPlaced)
    assert placed.by_preemption


def test_close_and_default_name_the_winner() -> None:
    _, decisions = run(
        make_round(), [(10, bid("alice", START, code="B-07")), (END_S, Close()), (END_S + 1, Default())]
    )
    assert decisions[1].events == (Closed("sold", START, "alice", "B-07"),)
    assert decisions[2].events == (Defaulted("alice", "B-07", forfeited_deposit=DEPOSIT),)


def test_a_sale_default_forfeits_the_prepaid_price() -> None:
    state, decisions = run(
        make_round(kind="sale", duration=timedelta(days=60)),
        [(10, bid("alice", START)), (10 + 86400, Close()), (20 + 86400, Default())],
    )
    assert decisions[-1].events == (Defaulted("alice", "#alice", forfeited_deposit=START),)
    assert state.status == "defaulted"


PAYLOADS = [
    pytest.param(
        Opened(T0, END),
        {"type": "opened", "starts_at": "2026-06-01T08:00:00Z", "ends_at": "2026-06-02T08:00:00Z"},
        id="opened",
    ),
    pytest.param(
        BidPlaced(START, "user-1", "B-07", at(1.5), END),
        {
            "type": "bid",
            "amount": START,
            "bidder_code": "B-07",
            "at": "2026-06-01T08:00:01.500000Z",
            "ends_at": "2026-06-02T08:00:00Z",
            "by_preemption": False,
        },
        id="bid",
    ),
    pytest.param(
        Extended(END, 3),
        {"type": "extended", "ends_at": "2026-06-02T08:00:00Z", "extensions": 3, "reason": "soft_close"},
        id="extended",
    ),
    pytest.param(
        Closed("sold", START, "user-1", "B-07"),
        {"type": "closed", "outcome": "sold", "price": START, "bidder_code": "B-07"},
        id="closed-sold",
    ),
    pytest.param(
        Closed("failed", None, None, None),
        {"type": "closed", "outcome": "failed", "price": None, "bidder_code": None},
        id="closed-failed",
    ),
    pytest.param(
        Defaulted("user-1", "B-07", DEPOSIT),
        {"type": "defaulted", "bidder_code": "B-07", "forfeited_deposit": DEPOSIT},
        id="defaulted",
    ),
]


@pytest.mark.parametrize(("event", "payload"), PAYLOADS)
def test_event_payloads_show_codes_and_utc_times(event: Any, payload: dict[str, Any]) -> None:
    assert event_payload(event) == payload
    assert "user-1" not in json.dumps(event_payload(event))


def test_public_view_shows_the_leader_by_code_only() -> None:
    state, _ = run(make_round(), [(10, bid("alice", START, code="B-07"))])
    view = public_view(state)
    assert view["leader_code"] == "B-07"
    assert view["current_price"] == START
    assert view["ends_at"] == "2026-06-02T08:00:00Z"
    assert "alice" not in json.dumps(view)


@pytest.mark.parametrize(
    "preemption",
    [pytest.param((("h1", 0),), id="rank-zero"), pytest.param((("h1", 1), ("h1", 2)), id="listed-twice")],
)
def test_bad_preemption_lists_are_refused(preemption: tuple[tuple[str, int], ...]) -> None:
    with pytest.raises(ScheduleRejected) as refused:
        make_round(preemption=preemption)
    assert refused.value.code == "bad_preemption"


def test_a_round_must_end_after_it_starts() -> None:
    with pytest.raises(ScheduleRejected) as refused:
        make_round(duration=timedelta(0))
    assert refused.value.code == "bad_window"


def test_the_profile_supplies_the_default_window_and_countdown() -> None:
    plan = RoundPlan("sale", START, INCREMENT, START, T0, T0 + timedelta(days=60))
    state = new_auction("a-9", plan, SPC2016)
    assert (state.extension_seconds, state.sale_countdown_seconds) == (300, 86400)
    assert state.status == "scheduled"
    assert isinstance(state, AuctionState)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        decide(make_round(), Open(), datetime(2026, 6, 1, 9, 0))  # noqa: DTZ001
