"""The operator's checklist agrees with the engine: it never shows a plan as passing that the
engine's ``validate_round`` refuses, and names the rule that fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.errors import ScheduleRejected
from auction.rounds import PriorRound, RoundPlan, validate_round
from auction.rules import SANDBOX, SPC2016
from frontend.pages.schedule_checks import PlanInput, read_plan, schedule_report

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
APPROVED = NOW - timedelta(days=31)
VALUATION = 120_000_000


def plan(**changes: object) -> PlanInput:
    values: dict[str, object] = {
        "kind": "auction",
        "starting_price": 84_000_000,
        "increment": 1_000_000,
        "deposit": 8_400_000,
        "starts_at": NOW + timedelta(hours=1),
        "ends_at": NOW + timedelta(hours=25),
        "extension_seconds": None,
    }
    values.update(changes)
    return PlanInput(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "failing", "verdict"),
    [
        pytest.param({}, set(), "ok", id="a-plan-that-passes"),
        pytest.param({"starting_price": 83_999_999}, {"floor"}, "price_below_floor", id="below-70-percent"),
        pytest.param({"deposit": 4_199_999}, {"deposit"}, "bad_deposit", id="deposit-under-5-percent"),
        pytest.param({"deposit": 16_800_001}, {"deposit"}, "bad_deposit", id="deposit-over-20-percent"),
        pytest.param({"ends_at": NOW + timedelta(hours=2)}, {"duration"}, "too_short", id="under-24-hours"),
        pytest.param({"kind": "sale"}, {"kind", "duration"}, "sale_not_allowed", id="sale-too-early"),
        pytest.param(
            {"starts_at": NOW - timedelta(minutes=1)}, {"future"}, "bad_window", id="starts-in-the-past"
        ),
        pytest.param({"extension_seconds": 60}, {"extension"}, "bad_extension", id="short-soft-close"),
    ],
)
def test_the_checklist_names_what_the_engine_refuses(
    changes: dict[str, object], failing: set[str], verdict: str
) -> None:
    report = schedule_report(SPC2016, VALUATION, [], APPROVED, plan(**changes), NOW)
    assert {check.key for check in report.checks if check.ok is False} == failing
    assert report.verdict == verdict


def test_missing_inputs_are_unknown_and_leave_no_verdict() -> None:
    report = schedule_report(SPC2016, VALUATION, [], APPROVED, plan(deposit=None, starts_at=None), NOW)
    unknown = {check.key for check in report.checks if check.ok is None}
    assert {"deposit", "future", "order", "duration", "window"} <= unknown
    assert report.verdict is None


def test_after_a_failed_round_the_floor_is_80_percent_of_its_price() -> None:
    failed = PriorRound(
        kind="auction", starting_price=84_000_000, outcome="failed", closed_at=NOW - timedelta(days=16)
    )
    report = schedule_report(
        SPC2016, VALUATION, [failed], APPROVED, plan(starting_price=67_200_000, deposit=6_720_000), NOW
    )
    assert report.upcoming is not None
    assert report.upcoming.round_number == 2
    assert report.upcoming.floor == 67_200_000
    assert report.verdict == "ok"


def test_a_round_in_progress_blocks_the_next() -> None:
    running = PriorRound(kind="auction", starting_price=84_000_000, outcome="open", closed_at=None)
    report = schedule_report(SPC2016, VALUATION, [running], APPROVED, plan(), NOW)
    assert report.upcoming is None
    assert report.verdict == "round_in_progress"


@given(
    price=st.integers(min_value=1, max_value=200_000_000),
    deposit=st.integers(min_value=1, max_value=50_000_000),
    increment=st.integers(min_value=-5, max_value=5_000_000),
    start_minutes=st.integers(min_value=-30, max_value=60 * 24 * 40),
    length_minutes=st.integers(min_value=-10, max_value=60 * 48),
)
@settings(max_examples=300, deadline=None)
def test_the_checklist_passes_exactly_the_plans_the_engine_accepts(
    price: int, deposit: int, increment: int, start_minutes: int, length_minutes: int
) -> None:
    starts = NOW + timedelta(minutes=start_minutes)
    candidate = plan(
        starting_price=price,
        deposit=deposit,
        increment=increment,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=length_minutes),
    )
    report = schedule_report(SPC2016, VALUATION, [], APPROVED, candidate, NOW)
    try:
        validate_round(
            SPC2016,
            VALUATION,
            [],
            RoundPlan("auction", price, increment, deposit, candidate.starts_at, candidate.ends_at),  # type: ignore[arg-type]
            NOW,
            APPROVED,
        )
        accepted = True
    except ScheduleRejected:
        accepted = False
    all_green = all(check.ok for check in report.checks)
    assert accepted == (report.verdict == "ok") == all_green


@pytest.mark.parametrize(
    ("form", "problems"),
    [
        pytest.param({"starting_price": "840,000", "starts_at": "2026-11-23T12:00"}, [], id="readable"),
        pytest.param({"starting_price": "84万"}, ["starting_price"], id="unreadable-amount"),
        pytest.param({"ends_at": "soon"}, ["ends_at"], id="unreadable-time"),
        pytest.param({"extension_seconds": "5m"}, ["extension_seconds"], id="unreadable-window"),
    ],
)
def test_read_plan_names_the_fields_it_cannot_read(form: dict[str, str], problems: list[str]) -> None:
    read, found = read_plan(form)
    assert found == problems
    if not problems:
        assert read.starting_price == 84_000_000
        assert read.starts_at == datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def test_sandbox_windows_are_seconds() -> None:
    short = plan(
        starts_at=NOW + timedelta(seconds=5), ends_at=NOW + timedelta(seconds=30), extension_seconds=5
    )
    assert schedule_report(SANDBOX, VALUATION, [], NOW, short, NOW).verdict == "ok"
