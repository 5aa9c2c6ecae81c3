"""The pure rules shared by every gateway: idempotency keys from domain ids, the re-authorisation
flag, amounts, transfer references and the storable form of holds and payouts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.deposits import (
    Hold,
    PaymentError,
    Payout,
    decode_hold,
    decode_payout,
    encode_record,
    expires_before_close,
    idempotency_key_for,
)
from marketplace.deposits.gateway import check_amount
from marketplace.deposits.offline import transfer_reference

domain_id = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_characters=":",
        exclude_categories=("Cc", "Cf", "Cn", "Co", "Cs", "Zs", "Zl", "Zp"),
    ),
    min_size=1,
    max_size=20,
)


@pytest.mark.parametrize(
    ("parts", "key"),
    [
        (("deposit-hold", "3f2a"), "deposit-hold:3f2a"),
        (("payout", "settlement-1", "guarantor"), "payout:settlement-1:guarantor"),
        (("capture", 42), "capture:42"),
    ],
    ids=["deposit-hold", "payout-per-party", "integer-id"],
)
def test_keys_read_like_the_operation(parts: tuple[str, ...], key: str) -> None:
    assert idempotency_key_for(*parts) == key


@pytest.mark.parametrize(
    "parts",
    [
        ("deposit-hold",),
        ("", "x"),
        ("payout", "a:b"),
        ("payout", ""),
        ("payout", " x"),
        ("payout", "x" * 300),
    ],
    ids=["no-domain-id", "empty-kind", "colon-in-id", "empty-id", "padded-id", "too-long"],
)
def test_keys_that_could_collide_or_be_refused_are_refused(parts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        idempotency_key_for(*parts)


@settings(max_examples=300, deadline=None)
@given(first=st.lists(domain_id, min_size=2, max_size=4), second=st.lists(domain_id, min_size=2, max_size=4))
def test_different_operations_never_share_a_key(first: list[str], second: list[str]) -> None:
    first_key = idempotency_key_for(*first)
    assert first_key == idempotency_key_for(*first)
    assert (first_key == idempotency_key_for(*second)) == (first == second)


@settings(max_examples=200, deadline=None)
@given(deposit=domain_id)
def test_transfer_references_are_ten_base32_characters_of_the_id(deposit: str) -> None:
    reference = transfer_reference("DEP", deposit)
    assert re.fullmatch(r"DEP-[A-Z2-7]{10}", reference)
    assert reference == transfer_reference("DEP", deposit)
    assert transfer_reference("PAY", deposit) != reference


EXPIRES = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _held(expires_at: datetime | None = EXPIRES, status: str = "held") -> Hold:
    return Hold("pi_1", "dep-1", status, 100, "CNY", expires_at=expires_at)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hold", "close_at", "flagged"),
    [
        (_held(), EXPIRES - timedelta(days=2), False),
        (_held(), EXPIRES - timedelta(days=1), False),
        (_held(), EXPIRES - timedelta(days=1) + timedelta(seconds=1), True),
        (_held(), EXPIRES + timedelta(days=3), True),
        (_held(expires_at=None), EXPIRES + timedelta(days=300), False),
        (_held(status="captured"), EXPIRES + timedelta(days=3), False),
        (_held(status="released"), EXPIRES + timedelta(days=3), False),
    ],
    ids=[
        "two-days-to-spare",
        "exactly-the-margin",
        "a-second-inside-the-margin",
        "lapses-before-the-close",
        "bank-transfer-never-lapses",
        "already-captured",
        "already-released",
    ],
)
def test_a_held_deposit_is_flagged_when_it_lapses_within_a_day_of_the_close(
    hold: Hold, close_at: datetime, flagged: bool
) -> None:
    assert expires_before_close(hold, close_at) is flagged


def test_the_close_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expires_before_close(_held(), datetime(2026, 12, 1, 12, 0))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (0, "CNY", "bad_amount"),
        (-1, "CNY", "bad_amount"),
        (True, "CNY", "bad_amount"),
        (1.5, "CNY", "bad_amount"),
        (1, "RMB", "bad_currency"),
    ],
    ids=["zero", "negative", "bool", "float", "rmb-is-not-iso"],
)
def test_amounts_are_positive_integers_in_a_known_currency(amount: object, currency: str, code: str) -> None:
    with pytest.raises(PaymentError) as caught:
        check_amount(amount, currency)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_a_payment_error_code_outside_the_list_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown payment error code"):
        PaymentError("oops")


def test_a_payment_error_is_a_domain_error_with_code_and_detail() -> None:
    from marketplace.errors import DomainError

    error = PaymentError("payment_declined", "Your card was declined.", provider_ref="pi_1")
    assert isinstance(error, DomainError)
    assert (error.code, error.detail, error.extra) == (
        "payment_declined",
        "Your card was declined.",
        {"provider_ref": "pi_1"},
    )


instruction_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10))
holds = st.builds(
    Hold,
    provider_ref=st.text(min_size=1, max_size=12),
    deposit_id=st.text(max_size=12),
    status=st.sampled_from(["pending", "held", "released", "captured", "failed", "requires_action"]),
    amount=st.integers(min_value=1, max_value=10**15),
    currency=st.sampled_from(["CNY", "USD"]),
    payer_ref=st.text(max_size=12),
    instructions=st.dictionaries(st.text(max_size=8), instruction_values, max_size=4),
    expires_at=st.none() | st.datetimes(timezones=st.just(UTC)),
    captured_amount=st.integers(min_value=0, max_value=10**15),
    replaces=st.none() | st.text(min_size=1, max_size=12),
)
payouts = st.builds(
    Payout,
    provider_ref=st.text(min_size=1, max_size=12),
    payout_id=st.text(max_size=12),
    status=st.sampled_from(["instructed", "paid", "pending", "failed"]),
    payee_ref=st.text(max_size=12),
    amount=st.integers(min_value=1, max_value=10**15),
    currency=st.sampled_from(["CNY", "USD"]),
    transfer_group=st.text(max_size=12),
    instructions=st.dictionaries(st.text(max_size=8), instruction_values, max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(hold=holds, payout=payouts)
def test_holds_and_payouts_survive_being_stored_as_json(hold: Hold, payout: Payout) -> None:
    assert decode_hold(encode_record(hold)) == hold
    assert decode_payout(encode_record(payout)) == payout
