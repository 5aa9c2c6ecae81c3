"""Server-drawn charts: integer geometry, one scale per chart, books that must balance."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontend.charts import HEIGHT, PAD_BOTTOM, WIDTH, Step, WaterfallMismatch, bars, waterfall


def test_the_worked_example_of_domain_md_draws_down_to_the_bank() -> None:
    steps = [
        Step("hammer", 70_000_000, "up"),
        Step("costs", 2_000_000, "down"),
        Step("net", 68_000_000, "total"),
        Step("recovered", 68_000_000, "total"),
        Step("guarantor", 27_200_000, "down"),
        Step("pool", 27_200_000, "down"),
        Step("bank", 13_600_000, "down"),
    ]
    drawn = waterfall(steps)
    base = HEIGHT - PAD_BOTTOM
    assert drawn[0].y + drawn[0].height == base
    assert drawn[2].y == drawn[1].y + drawn[1].height
    assert drawn[-1].y + drawn[-1].height == base
    assert all(bar.x >= 0 for bar in drawn)
    assert all(bar.x + bar.width <= WIDTH for bar in drawn)


def test_a_total_that_is_not_the_running_total_is_refused() -> None:
    with pytest.raises(WaterfallMismatch):
        waterfall([Step("hammer", 100, "up"), Step("net", 99, "total")])


@given(st.lists(st.integers(min_value=0, max_value=10**15), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_every_bar_fits_and_larger_values_stand_taller(values: list[int]) -> None:
    drawn = bars([(str(index), value) for index, value in enumerate(values)])
    base = HEIGHT - PAD_BOTTOM
    for bar in drawn:
        assert bar.y + bar.height == base
        assert bar.y >= 0
        assert bar.x >= 0
        assert bar.x + bar.width <= WIDTH
    for left, right in pairwise(drawn):
        if left.amount > right.amount:
            assert left.height >= right.height


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**12), st.sampled_from(["up", "down"])), max_size=8
    )
)
@settings(max_examples=200, deadline=None)
def test_a_waterfall_that_stays_above_zero_ends_at_its_running_total(moves: list[tuple[int, str]]) -> None:
    running = 0
    steps = []
    for amount, kind in moves:
        if kind == "down" and amount > running:
            continue
        running += amount if kind == "up" else -amount
        steps.append(Step("s", amount, kind))  # type: ignore[arg-type]
    steps.append(Step("total", running, "total"))
    drawn = waterfall(steps)
    assert drawn[-1].amount == running
    assert all(bar.height >= 1 and bar.y >= 0 for bar in drawn)
