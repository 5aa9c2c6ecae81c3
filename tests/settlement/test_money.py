"""Money: integer minor units, one currency per amount, and exact allocation."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.money import (
    CURRENCIES,
    CurrencyMismatch,
    Money,
    UnknownCurrency,
    allocate,
    apply_bp,
    validate_currency,
)


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        pytest.param(100, [1, 1, 1], [34, 33, 33], id="100/3: 33.33 each, the leftover fen to the first"),
        pytest.param(2, [1, 1, 1], [1, 1, 0], id="2/3: two leftover fen to the first two"),
        pytest.param(1, [1, 1], [1, 0], id="tie 0.5/0.5 goes to the earliest index"),
        pytest.param(1, [1, 2], [0, 1], id="1 by 1:2: remainders 1/3 and 2/3, the larger wins"),
        pytest.param(7, [5000, 5000], [4, 3], id="7 by halves: 3.5/3.5, tie to the first"),
        pytest.param(0, [1, 2], [0, 0], id="zero total"),
        pytest.param(10, [0, 1], [0, 10], id="a zero weight gets nothing"),
        pytest.param(5, [1, 0, 1], [3, 0, 2], id="5 by 1:0:1: 2.5/0/2.5, tie skips the zero weight"),
        pytest.param(10, [3, 3, 4], [3, 3, 4], id="exact shares need no rounding"),
        pytest.param(100, [3334, 3333, 3333], [34, 33, 33], id="33.34/33.33/33.33: the .34 wins"),
        pytest.param(
            32_000_000, [2000, 4000, 4000], [6_400_000, 12_800_000, 12_800_000], id="domain example loss"
        ),
        pytest.param(
            45_679_012,
            [1000, 3000, 3000, 1000, 2000],
            [4_567_901, 13_703_704, 13_703_704, 4_567_901, 9_135_802],
            id="remainders .2/.6/.6/.2/.4: two leftover fen to the two .6",
        ),
        pytest.param(3, [1], [3], id="one weight takes all"),
    ],
)
def test_allocate_table(total: int, weights: list[int], parts: list[int]) -> None:
    assert allocate(total, weights) == parts


@pytest.mark.parametrize(
    ("total", "weights", "error"),
    [
        pytest.param(-1, [1], ValueError, id="negative total"),
        pytest.param(1, [1, -1, 1], ValueError, id="negative weight"),
        pytest.param(1, [0, 0], ValueError, id="weights sum to zero"),
        pytest.param(1, [], ValueError, id="no weights"),
        pytest.param(1.0, [1], TypeError, id="float total"),
        pytest.param(1, [0.5, 0.5], TypeError, id="float weights"),
        pytest.param(True, [1], TypeError, id="bool total"),
    ],
)
def test_allocate_rejects(total: object, weights: list[object], error: type[Exception]) -> None:
    with pytest.raises(error):
        allocate(total, weights)  # type: ignore[arg-type]


weights_strategy = st.lists(st.integers(0, 10_000), min_size=1, max_size=8).filter(lambda ws: sum(ws) > 0)


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 10**15), weights=weights_strategy)
def test_allocate_parts_sum_exactly_and_stay_within_one_of_the_exact_share(
    total: int, weights: list[int]
) -> None:
    parts = allocate(total, weights)
    weight_sum = sum(weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part * weight_sum - total * weight) < weight_sum
        if weight == 0:
            assert part == 0


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 10_000), weights=weights_strategy)
def test_allocate_favours_the_earlier_of_equal_weights_and_never_the_smaller_weight(
    total: int, weights: list[int]
) -> None:
    parts = allocate(total, weights)
    for i in range(len(weights)):
        for j in range(i + 1, len(weights)):
            if weights[i] == weights[j]:
                assert parts[i] in (parts[j], parts[j] + 1)
            if weights[i] > weights[j]:
                assert parts[i] >= parts[j]
            if weights[i] < weights[j]:
                assert parts[i] <= parts[j]


@pytest.mark.parametrize(
    ("amount", "bp", "result"),
    [
        pytest.param(100, 50, 1, id="100 x 0.5% = 0.5, half rounds up to 1"),
        pytest.param(99, 50, 0, id="99 x 0.5% = 0.495 rounds down"),
        pytest.param(149, 100, 1, id="149 x 1% = 1.49 rounds down"),
        pytest.param(150, 100, 2, id="150 x 1% = 1.5 rounds up"),
        pytest.param(12_345_678, 150, 185_185, id="12 345 678 x 1.5% = 185 185.17"),
        pytest.param(1_000_100, 50, 5_001, id="1 000 100 x 0.5% = 5 000.5 rounds up"),
        pytest.param(70_000_000, 0, 0, id="zero bp"),
        pytest.param(0, 500, 0, id="zero amount"),
        pytest.param(70_000_001, 10_000, 70_000_001, id="10 000 bp is the whole"),
    ],
)
def test_apply_bp_rounds_half_up(amount: int, bp: int, result: int) -> None:
    assert apply_bp(amount, bp) == result


@pytest.mark.parametrize(
    ("amount", "bp", "error"),
    [
        pytest.param(-100, 50, ValueError, id="negative amount"),
        pytest.param(100, -50, ValueError, id="negative bp"),
        pytest.param(100.0, 50, TypeError, id="float amount"),
        pytest.param(100, 0.5, TypeError, id="float bp"),
    ],
)
def test_apply_bp_rejects(amount: object, bp: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        apply_bp(amount, bp)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(0, 10**15), bp=st.integers(0, 10_000))
def test_apply_bp_is_the_nearest_fen_with_halves_up(amount: int, bp: int) -> None:
    result = apply_bp(amount, bp)
    exact_times_10000 = amount * bp
    assert -5_000 <= exact_times_10000 - result * 10_000 < 5_000


def test_money_adds_and_subtracts_in_one_currency() -> None:
    assert Money(150, "CNY") + Money(50, "CNY") == Money(200, "CNY")
    assert Money(150, "USD") - Money(200, "USD") == Money(-50, "USD")
    assert -Money(7, "EUR") == Money(-7, "EUR")
    assert Money.zero("JPY") == Money(0, "JPY")
    assert Money(5) == Money(5, "CNY")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(Money(1, "CNY"), Money(1, "USD"), id="CNY and USD"),
        pytest.param(Money(0, "HKD"), Money(0, "GBP"), id="even zero amounts"),
    ],
)
def test_money_refuses_to_mix_currencies(left: Money, right: Money) -> None:
    with pytest.raises(CurrencyMismatch) as added:
        _ = left + right
    assert added.value.code == "currency_mismatch"
    with pytest.raises(CurrencyMismatch):
        _ = left - right


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(1.0, id="float"),
        pytest.param(0.1, id="fractional float"),
        pytest.param(Decimal("1"), id="Decimal"),
        pytest.param(True, id="bool"),
        pytest.param("100", id="str"),
    ],
)
def test_money_has_no_floats_or_other_non_integers(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "CNY")  # type: ignore[arg-type]


def test_money_does_not_add_to_bare_numbers() -> None:
    with pytest.raises(TypeError):
        _ = Money(1, "CNY") + 1  # type: ignore[operator]


def test_money_is_frozen() -> None:
    money = Money(1, "CNY")
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount = 2  # type: ignore[misc]


def test_money_allocate_keeps_the_currency_and_the_total() -> None:
    assert Money(100, "USD").allocate([1, 1, 1]) == [Money(34, "USD"), Money(33, "USD"), Money(33, "USD")]


@pytest.mark.parametrize("code", sorted(CURRENCIES))
def test_accepted_currencies(code: str) -> None:
    assert validate_currency(code) == code
    assert Money(1, code).currency == code


def test_the_required_currencies_are_accepted() -> None:
    assert {"CNY", "USD", "EUR", "HKD", "JPY", "GBP"} <= CURRENCIES


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("cny", id="lower case"),
        pytest.param("XYZ", id="not ISO"),
        pytest.param("", id="empty"),
        pytest.param("CNYY", id="four letters"),
        pytest.param(156, id="numeric code"),
    ],
)
def test_unknown_currencies_are_refused(code: object) -> None:
    with pytest.raises(UnknownCurrency) as refused:
        validate_currency(code)
    assert refused.value.code == "bad_currency"
    with pytest.raises(UnknownCurrency):
        Money(1, code)  # type: ignore[arg-type]
