"""Money, ratios and times as the pages show and read them: exact, integer-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontend.formatting import (
    FormValueError,
    format_bp,
    format_duration,
    format_money,
    format_plain_amount,
    iso_utc,
    local_input_value,
    parse_amount,
    parse_local_datetime,
    parse_percent,
)

AMOUNTS = st.integers(min_value=0, max_value=10**15)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        pytest.param(0, "CNY", "¥0.00", id="zero"),
        pytest.param(5, "CNY", "¥0.05", id="five-fen"),
        pytest.param(123456, "CNY", "¥1,234.56", id="thousands"),
        pytest.param(100_000_000, "CNY", "¥1,000,000.00", id="a-million-yuan"),
        pytest.param(-32_900_00, "CNY", "-¥32,900.00", id="negative-owes-the-bank"),
        pytest.param(1500, "JPY", "JP¥1,500", id="yen-has-no-minor-unit"),
        pytest.param(None, "CNY", "—", id="none"),
    ],
)
def test_money_is_shown_from_integer_fen(amount: int | None, currency: str, shown: str) -> None:
    assert format_money(amount, currency) == shown


@pytest.mark.parametrize(
    ("typed", "fen"),
    [
        pytest.param("1234.56", 123456, id="plain"),
        pytest.param("1,234.5", 123450, id="separators-one-decimal"),
        pytest.param("¥ 840,000", 84_000_000, id="symbol-and-spaces"),
        pytest.param("１２．５", 1250, id="full-width-input-method"),
        pytest.param("٣", None, id="other-digits-refused"),
        pytest.param("12.345", None, id="three-decimals"),
        pytest.param("-5", None, id="negative"),
        pytest.param("1e3", None, id="exponent"),
        pytest.param("", None, id="empty"),
        pytest.param("10000000000000.01", None, id="above-the-bound"),
    ],
)
def test_typed_yuan_become_fen_exactly_or_are_refused(typed: str, fen: int | None) -> None:
    if fen is None:
        with pytest.raises(FormValueError) as refused:
            parse_amount(typed)
        assert refused.value.code == "bad_amount"
    else:
        assert parse_amount(typed) == fen


@given(AMOUNTS)
@settings(max_examples=300, deadline=None)
def test_an_amount_survives_the_round_trip_through_a_form_field(amount: int) -> None:
    assert parse_amount(format_plain_amount(amount)) == amount
    assert parse_amount(format_money(amount)) == amount


@pytest.mark.parametrize(
    ("typed", "bp"),
    [
        pytest.param("20", 2000, id="whole"),
        pytest.param("33.33", 3333, id="two-decimals"),
        pytest.param("0.5 %", 50, id="with-sign"),
        pytest.param("100", 10_000, id="all"),
        pytest.param("100.01", None, id="above-100"),
        pytest.param("1.234", None, id="three-decimals"),
        pytest.param("abc", None, id="text"),
    ],
)
def test_percentages_become_basis_points(typed: str, bp: int | None) -> None:
    if bp is None:
        with pytest.raises(FormValueError):
            parse_percent(typed)
    else:
        assert parse_percent(typed) == bp


@given(st.integers(min_value=0, max_value=10_000))
@settings(max_examples=200, deadline=None)
def test_basis_points_round_trip_through_their_percentage(bp: int) -> None:
    assert parse_percent(format_bp(bp)) == bp


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        pytest.param(timedelta(hours=24), "1 d", id="a-day"),
        pytest.param(timedelta(hours=5), "5 h", id="hours"),
        pytest.param(timedelta(minutes=90), "90 min", id="minutes"),
        pytest.param(timedelta(seconds=2), "2 s", id="seconds"),
    ],
)
def test_durations_use_the_largest_exact_unit(delta: timedelta, shown: str) -> None:
    assert format_duration(delta) == shown


def test_a_datetime_local_value_is_china_time() -> None:
    moment = parse_local_datetime("2026-11-22T20:00:00")
    assert moment.astimezone(UTC) == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert local_input_value(moment) == "2026-11-22T20:00:00"
    assert iso_utc(moment) == "2026-11-22T12:00:00Z"
    with pytest.raises(FormValueError):
        parse_local_datetime("tomorrow")
