"""Scheduling rules for rounds: floors, deposits, durations, announcements, relisting and sales."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.errors import ScheduleRejected
from auction.rounds import PriorRound, RoundPlan, min_starting_price, next_round, validate_round
from auction.rules import (
    PROFILES,
    SANDBOX,
    SPC2016,
    RuleProfile,
    deposit_bounds,
    first_round_floor,
    get_profile,
    later_round_floor,
)

APPROVED = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
FIRST_START = APPROVED + timedelta(days=30)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
VALUATION = 1_000_001  # 70 % is 700 000.7 → floor 700 001


def auction_plan(
    starting_price: int,
    starts_at: datetime,
    *,
    deposit: int | None = None,
    increment: int = 1_000,
    duration: timedelta = DAY,
    **extra: Any,
) -> RoundPlan:
    return RoundPlan(
        kind="auction",
        starting_price=starting_price,
        increment=increment,
        deposit=starting_price // 10 if deposit is None else deposit,
        starts_at=starts_at,
        ends_at=starts_at + duration,
        **extra,
    )


def sale_plan(price: int, starts_at: datetime, *, deposit: int | None = None, **extra: Any) -> RoundPlan:
    return RoundPlan(
        kind="sale",
        starting_price=price,
        increment=1_000,
        deposit=price if deposit is None else deposit,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(days=60),
        **extra,
    )


FIRST_CLOSE = FIRST_START + DAY
FAILED_ONCE = (PriorRound("auction", 800_000, "failed", FIRST_CLOSE),)
SECOND_START = FIRST_CLOSE + timedelta(days=15)
SECOND_CLOSE = SECOND_START + DAY
FAILED_TWICE = (*FAILED_ONCE, PriorRound("auction", 640_000, "failed", SECOND_CLOSE))
DEFAULTED = (PriorRound("auction", 800_000, "defaulted", FIRST_CLOSE, defaulter_id="mallory"),)
SALE_START = SECOND_CLOSE + timedelta(days=15)


@dataclass(frozen=True)
class Case:
    id: str
    plan: RoundPlan
    prior: tuple[PriorRound, ...] = ()
    code: str | None = None
    profile: RuleProfile = SPC2016
    now: datetime = APPROVED
    expect: dict[str, Any] = field(default_factory=dict)


CASES = [
    # first round floor: ceil(70 % of the valuation)
    Case("first round at the exact floor", auction_plan(700_001, FIRST_START), expect={"floor": 700_001}),
    Case("first round one fen under the floor", auction_plan(700_000, FIRST_START), code="price_below_floor"),
    # later round floor: ceil(80 % of the previous starting price)
    Case(
        "second round at the exact 20 % cut",
        auction_plan(800_003, SECOND_START),
        (PriorRound("auction", 1_000_003, "failed", FIRST_CLOSE),),
        expect={"floor": 800_003, "round_number": 2},
    ),
    Case(
        "second round cut one fen more than 20 %",
        auction_plan(800_002, SECOND_START),
        (PriorRound("auction", 1_000_003, "failed", FIRST_CLOSE),),
        code="price_below_floor",
    ),
    Case(
        "a second round may go below 70 % of the valuation",
        auction_plan(640_000, SECOND_START),
        FAILED_ONCE,
        expect={"floor": 640_000},
    ),
    # deposits: 5 %–20 % of the starting price, both ends exact
    Case(
        "deposit at exactly 5 %",
        auction_plan(1_000_000, FIRST_START, deposit=50_000),
        expect={"min_deposit": 50_000},
    ),
    Case(
        "deposit one fen under 5 %", auction_plan(1_000_000, FIRST_START, deposit=49_999), code="bad_deposit"
    ),
    Case(
        "deposit at exactly 20 %",
        auction_plan(1_000_000, FIRST_START, deposit=200_000),
        expect={"max_deposit": 200_000},
    ),
    Case(
        "deposit one fen over 20 %", auction_plan(1_000_000, FIRST_START, deposit=200_001), code="bad_deposit"
    ),
    Case(
        "5 % rounds up and 20 % rounds down",
        auction_plan(1_000_001, FIRST_START, deposit=50_001),
        expect={"min_deposit": 50_001, "max_deposit": 200_000},
    ),
    Case(
        "5 % of an odd price rounded down is refused",
        auction_plan(1_000_001, FIRST_START, deposit=50_000),
        code="bad_deposit",
    ),
    # increment, window, duration, soft close
    Case("a zero increment", auction_plan(800_000, FIRST_START, increment=0), code="bad_increment"),
    Case("ends when it starts", auction_plan(800_000, FIRST_START, duration=timedelta(0)), code="bad_window"),
    Case(
        "starts in the past",
        auction_plan(800_000, FIRST_START),
        now=FIRST_START + SECOND,
        code="bad_window",
    ),
    Case("lasts exactly 24 hours", auction_plan(800_000, FIRST_START, duration=DAY)),
    Case(
        "one second short of 24 hours",
        auction_plan(800_000, FIRST_START, duration=DAY - SECOND),
        code="too_short",
    ),
    Case(
        "sandbox: exactly its minimum duration",
        auction_plan(800_000, APPROVED, duration=SANDBOX.min_duration),
        profile=SANDBOX,
        expect={"extension_seconds": 300},
    ),
    Case(
        "sandbox: a microsecond short of its minimum",
        auction_plan(800_000, APPROVED, duration=SANDBOX.min_duration - timedelta(microseconds=1)),
        profile=SANDBOX,
        code="too_short",
    ),
    Case(
        "sandbox: a one-second soft close",
        auction_plan(800_000, APPROVED, duration=SANDBOX.min_duration, extension_seconds=1),
        profile=SANDBOX,
        expect={"extension_seconds": 1},
    ),
    Case(
        "spc2016: a soft close under five minutes",
        auction_plan(800_000, FIRST_START, extension_seconds=299),
        code="bad_extension",
    ),
    Case("spc2016: a longer soft close", auction_plan(800_000, FIRST_START, extension_seconds=600)),
    # announcements
    Case("first round exactly 30 days after approval", auction_plan(800_000, FIRST_START)),
    Case(
        "first round one second too soon",
        auction_plan(800_000, FIRST_START - SECOND),
        code="announcement_too_short",
    ),
    Case("sandbox: first round at approval", auction_plan(800_000, APPROVED), profile=SANDBOX),
    Case("second round exactly 15 days after the failure", auction_plan(640_000, SECOND_START), FAILED_ONCE),
    Case(
        "second round one second too soon",
        auction_plan(640_000, SECOND_START - SECOND),
        FAILED_ONCE,
        code="announcement_too_short",
    ),
    # the 30-day relist window (for the start of the next round)
    Case(
        "second round starts on the 30th day",
        auction_plan(640_000, FIRST_CLOSE + timedelta(days=30)),
        FAILED_ONCE,
        expect={"latest_start": FIRST_CLOSE + timedelta(days=30)},
    ),
    Case(
        "second round starts one second after the window",
        auction_plan(640_000, FIRST_CLOSE + timedelta(days=30) + SECOND),
        FAILED_ONCE,
        code="relist_too_late",
    ),
    # fixed-price sale after two failed auctions
    Case(
        "sale after two failures at the second round's price",
        sale_plan(640_000, SALE_START),
        FAILED_TWICE,
        expect={
            "kind": "sale",
            "floor": 640_000,
            "min_deposit": 640_000,
            "max_deposit": 640_000,
            "round_number": 3,
        },
    ),
    Case("sale at another price", sale_plan(639_000, SALE_START), FAILED_TWICE, code="bad_sale_price"),
    Case(
        "sale at the first round's price", sale_plan(800_000, SALE_START), FAILED_TWICE, code="bad_sale_price"
    ),
    Case(
        "sale without full prepayment",
        sale_plan(640_000, SALE_START, deposit=128_000),
        code="bad_deposit",
        prior=FAILED_TWICE,
    ),
    Case(
        "sale shorter than 60 days",
        replace(sale_plan(640_000, SALE_START), ends_at=SALE_START + timedelta(days=60) - SECOND),
        FAILED_TWICE,
        code="too_short",
    ),
    Case(
        "a third auction after two failures",
        auction_plan(640_000, SALE_START),
        FAILED_TWICE,
        code="sale_required",
    ),
    Case("sale after one failure", sale_plan(800_000, SECOND_START), FAILED_ONCE, code="sale_not_allowed"),
    Case("sale as the first round", sale_plan(800_000, FIRST_START), code="sale_not_allowed"),
    Case(
        "a stalking horse on a sale",
        sale_plan(640_000, SALE_START, floor_price=640_000),
        FAILED_TWICE,
        code="bad_stalking_horse",
    ),
    Case(
        "sale after a failure, a default and another failure, at the last failed price",
        sale_plan(512_000, SALE_START),
        (
            *FAILED_ONCE,
            PriorRound("auction", 640_000, "defaulted", SECOND_CLOSE - DAY, defaulter_id="mallory"),
            PriorRound("auction", 512_000, "failed", SECOND_CLOSE),
        ),
        expect={"barred": frozenset({"mallory"})},
    ),
    # resale after a winner's default
    Case(
        "resale after a default at the same price, defaulter barred",
        auction_plan(800_000, SECOND_START),
        DEFAULTED,
        expect={"barred": frozenset({"mallory"}), "floor": 640_000},
    ),
    Case("resale after a default cut by exactly 20 %", auction_plan(640_000, SECOND_START), DEFAULTED),
    Case(
        "resale after a default cut by more than 20 %",
        auction_plan(639_999, SECOND_START),
        DEFAULTED,
        code="price_below_floor",
    ),
    Case(
        "defaulters of every earlier round stay barred",
        auction_plan(512_000, SECOND_CLOSE + timedelta(days=15)),
        (*DEFAULTED, PriorRound("auction", 640_000, "defaulted", SECOND_CLOSE, defaulter_id="trent")),
        expect={"barred": frozenset({"mallory", "trent"})},
    ),
    Case(
        "a defaulted sale is sold again at the same price",
        sale_plan(640_000, SALE_START + timedelta(days=75)),
        (
            *FAILED_TWICE,
            PriorRound("sale", 640_000, "defaulted", SALE_START + timedelta(days=60), defaulter_id="eve"),
        ),
        expect={"kind": "sale", "barred": frozenset({"eve"})},
    ),
    # no next round
    Case(
        "after a sale",
        auction_plan(640_000, SECOND_START),
        (PriorRound("auction", 800_000, "sold", FIRST_CLOSE),),
        code="already_sold",
    ),
    Case(
        "while a round is open",
        auction_plan(640_000, SECOND_START),
        (PriorRound("auction", 800_000, "open", None),),
        code="round_in_progress",
    ),
    Case(
        "after a failed sale",
        auction_plan(512_000, SALE_START + timedelta(days=75)),
        (*FAILED_TWICE, PriorRound("sale", 640_000, "failed", SALE_START + timedelta(days=60))),
        code="no_more_rounds",
    ),
    # stalking horse
    Case(
        "starting at a stalking-horse offer above the floor",
        auction_plan(900_000, FIRST_START, floor_price=900_000),
        expect={"floor": 900_000, "regulatory_floor": 700_001},
    ),
    Case(
        "starting under the stalking-horse offer",
        auction_plan(899_000, FIRST_START, floor_price=900_000),
        code="price_below_floor",
    ),
    Case(
        "a stalking-horse offer under the regulatory floor",
        auction_plan(700_001, FIRST_START, floor_price=700_000),
        code="price_below_floor",
    ),
    Case(
        "a zero stalking-horse offer",
        auction_plan(800_000, FIRST_START, floor_price=0),
        code="bad_stalking_horse",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_round_rules(case: Case) -> None:
    def check() -> Any:
        return validate_round(case.profile, VALUATION, case.prior, case.plan, case.now, APPROVED)

    if case.code is not None:
        with pytest.raises(ScheduleRejected) as refused:
            check()
        assert refused.value.code == case.code
        assert refused.value.detail
        return
    result = check()
    for name, value in case.expect.items():
        assert getattr(result, name) == value, name


@pytest.mark.parametrize(
    ("prior", "expected"),
    [
        pytest.param((), 700_001, id="first-round"),
        pytest.param(FAILED_ONCE, 640_000, id="after-a-failure"),
        pytest.param(DEFAULTED, 640_000, id="after-a-default"),
        pytest.param(FAILED_TWICE, 640_000, id="the-sale-price"),
    ],
)
def test_min_starting_price(prior: tuple[PriorRound, ...], expected: int) -> None:
    assert min_starting_price(SPC2016, VALUATION, prior) == expected


def test_next_round_reports_the_start_window() -> None:
    upcoming = next_round(SPC2016, VALUATION, FAILED_ONCE, APPROVED)
    assert (upcoming.earliest_start, upcoming.latest_start) == (
        FIRST_CLOSE + timedelta(days=15),
        FIRST_CLOSE + timedelta(days=30),
    )


@pytest.mark.parametrize("valuation", [0, -1, True])
def test_a_valuation_must_be_a_positive_integer(valuation: int) -> None:
    with pytest.raises(ValueError, match="valuation"):
        min_starting_price(SPC2016, valuation, ())


def test_profiles() -> None:
    assert get_profile("spc2016") is SPC2016
    assert get_profile("sandbox") is SANDBOX
    assert set(PROFILES) == {"spc2016", "sandbox"}
    with pytest.raises(ValueError, match="unknown"):
        get_profile("lenient")


def test_the_sandbox_keeps_every_price_rule() -> None:
    price_rules = [f.name for f in fields(RuleProfile) if f.name.endswith("_bp")]
    assert len(price_rules) == 4
    for name in price_rules:
        assert getattr(SANDBOX, name) == getattr(SPC2016, name), name
    assert SANDBOX.min_duration < SPC2016.min_duration


amounts = st.integers(min_value=1, max_value=10**15)


@settings(max_examples=300, deadline=None)
@given(valuation=amounts)
def test_the_first_floor_is_the_ceiling_of_70_percent(valuation: int) -> None:
    floor = first_round_floor(SPC2016, valuation)
    assert floor * 10_000 >= valuation * 7_000 > (floor - 1) * 10_000


@settings(max_examples=300, deadline=None)
@given(previous=amounts)
def test_the_later_floor_is_the_ceiling_of_80_percent(previous: int) -> None:
    floor = later_round_floor(SPC2016, previous)
    assert floor * 10_000 >= previous * 8_000 > (floor - 1) * 10_000
    assert floor <= previous


@settings(max_examples=300, deadline=None)
@given(price=amounts)
def test_deposit_bounds_are_exact(price: int) -> None:
    low, high = deposit_bounds(SPC2016, price)
    assert low * 10_000 >= price * 500 > (low - 1) * 10_000
    assert high * 10_000 <= price * 2_000 < (high + 1) * 10_000
