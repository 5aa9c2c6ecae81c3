"""The one contract every payment gateway keeps: in memory, Stripe (through the real SDK and the fake
server) and offline bank transfer. Tests that only make sense for a card authorisation (a decline,
a lapse, a re-authorisation) run on ``card_harness``; the rest on all three."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.deposits import (
    DEFAULT_REAUTHORIZATION_MARGIN,
    Hold,
    PaymentError,
    idempotency_key_for,
)
from tests.deposits.conftest import Harness, new_deposit_id, open_held


async def test_a_deposit_becomes_held_with_its_amount_and_deposit_id(harness: Harness) -> None:
    deposit_id = new_deposit_id()
    opened = await harness.gateway.open_hold(
        deposit_id=deposit_id,
        amount=120_000_00,
        currency="CNY",
        payer_ref=harness.payer,
        idempotency_key=idempotency_key_for("deposit-hold", deposit_id),
    )
    assert opened.status == ("pending" if harness.name == "offline" else "held")
    held = await harness.make_held(opened)
    assert (held.status, held.amount, held.currency, held.deposit_id) == (
        "held",
        120_000_00,
        "CNY",
        deposit_id,
    )
    fetched = await harness.gateway.get_hold(held.provider_ref)
    assert (fetched.provider_ref, fetched.status) == (held.provider_ref, "held")


async def test_the_winners_deposit_is_captured_in_full(harness: Harness) -> None:
    held = await open_held(harness)
    captured = await harness.gateway.capture_hold(
        held.provider_ref, amount=None, idempotency_key="capture:w1"
    )
    assert (captured.status, captured.captured_amount) == ("captured", held.amount)
    assert (await harness.gateway.get_hold(held.provider_ref)).status == "captured"


async def test_a_partial_capture_takes_only_that_amount(harness: Harness) -> None:
    held = await open_held(harness, amount=100_000)
    captured = await harness.gateway.capture_hold(
        held.provider_ref, amount=60_000, idempotency_key="capture:p"
    )
    assert (captured.status, captured.captured_amount) == ("captured", 60_000)


@pytest.mark.parametrize("amount", [100_001, 0, -5], ids=["more-than-held", "zero", "negative"])
async def test_a_capture_outside_the_held_amount_is_bad_amount(harness: Harness, amount: int) -> None:
    held = await open_held(harness, amount=100_000)
    with pytest.raises(PaymentError) as caught:
        await harness.gateway.capture_hold(held.provider_ref, amount=amount, idempotency_key="capture:x")
    assert caught.value.code == "bad_amount"
    assert (await harness.gateway.get_hold(held.provider_ref)).status == "held"


async def test_a_losers_deposit_is_released(harness: Harness) -> None:
    held = await open_held(harness)
    released = await harness.gateway.release_hold(held.provider_ref, idempotency_key="release:l1")
    assert released.status == "released"
    assert (await harness.gateway.get_hold(held.provider_ref)).status == "released"


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [
        ("release", "capture", "bad_state"),
        ("capture", "release", "bad_state"),
    ],
    ids=["capture-after-release-refused", "release-after-capture-refused"],
)
async def test_a_final_hold_cannot_be_turned_into_the_other_final_state(
    harness: Harness, first: str, second: str, code: str
) -> None:
    held = await open_held(harness)
    await _do(harness, first, held, key=f"{first}:1")
    with pytest.raises(PaymentError) as caught:
        await _do(harness, second, held, key=f"{second}:1")
    assert caught.value.code == code
    assert (await harness.gateway.get_hold(held.provider_ref)).status == (
        "released" if first == "release" else "captured"
    )


@pytest.mark.parametrize("action", ["capture", "release"])
@pytest.mark.parametrize("second_key", ["same-key", "new-key"])
async def test_repeating_a_capture_or_release_returns_the_hold_unchanged(
    harness: Harness, action: str, second_key: str
) -> None:
    held = await open_held(harness)
    first = await _do(harness, action, held, key=f"{action}:1")
    again = await _do(harness, action, held, key=f"{action}:1" if second_key == "same-key" else f"{action}:2")
    assert (again.provider_ref, again.status, again.captured_amount) == (
        first.provider_ref,
        first.status,
        first.captured_amount,
    )


async def _do(harness: Harness, action: str, hold: Hold, *, key: str) -> Hold:
    if action == "capture":
        return await harness.gateway.capture_hold(hold.provider_ref, amount=None, idempotency_key=key)
    return await harness.gateway.release_hold(hold.provider_ref, idempotency_key=key)


@pytest.mark.parametrize("lost", [False, True], ids=["plain-retry", "retry-after-lost-response"])
async def test_opening_a_hold_again_with_the_same_key_creates_nothing_twice(
    harness: Harness, lost: bool
) -> None:
    deposit_id = new_deposit_id()
    key = idempotency_key_for("deposit-hold", deposit_id)
    terms: dict[str, Any] = {
        "deposit_id": deposit_id,
        "amount": 80_000_00,
        "currency": "CNY",
        "payer_ref": harness.payer,
    }
    first: Hold | None = None
    if lost:
        harness.lose_next_response()
        with pytest.raises(PaymentError) as caught:
            await harness.gateway.open_hold(**terms, idempotency_key=key)
        assert caught.value.code == "gateway_unavailable"
    else:
        first = await harness.gateway.open_hold(**terms, idempotency_key=key)
    retried = await harness.gateway.open_hold(**terms, idempotency_key=key)
    assert harness.creations("hold") == 1
    if first is not None:
        assert retried.provider_ref == first.provider_ref
    assert (retried.deposit_id, retried.amount) == (deposit_id, 80_000_00)


async def test_the_same_key_with_other_terms_is_refused(harness: Harness) -> None:
    deposit_id = new_deposit_id()
    key = idempotency_key_for("deposit-hold", deposit_id)
    await harness.gateway.open_hold(
        deposit_id=deposit_id, amount=1_000, currency="CNY", payer_ref=harness.payer, idempotency_key=key
    )
    with pytest.raises(PaymentError) as caught:
        await harness.gateway.open_hold(
            deposit_id=deposit_id, amount=2_000, currency="CNY", payer_ref=harness.payer, idempotency_key=key
        )
    assert caught.value.code == "idempotency_key_reused"
    assert harness.creations("hold") == 1


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (0, "CNY", "bad_amount"),
        (-1, "CNY", "bad_amount"),
        (100, "XXX", "bad_currency"),
        (100, "cny", "bad_currency"),
    ],
    ids=["zero", "negative", "unknown-currency", "lower-case-currency"],
)
async def test_a_hold_for_a_bad_amount_or_currency_is_refused_before_anything_is_sent(
    harness: Harness, amount: int, currency: str, code: str
) -> None:
    with pytest.raises(PaymentError) as caught:
        await harness.gateway.open_hold(
            deposit_id=new_deposit_id(),
            amount=amount,
            currency=currency,
            payer_ref=harness.payer,
            idempotency_key="k:1",
        )
    assert caught.value.code == code
    assert harness.creations("hold") == 0


async def test_an_unknown_reference_is_reported(harness: Harness) -> None:
    with pytest.raises(PaymentError) as caught:
        await harness.gateway.get_hold("pi_fake_does_not_exist")
    assert caught.value.code == "unknown_reference"


@pytest.mark.parametrize("lost", [False, True], ids=["plain-retry", "retry-after-timeout"])
async def test_a_payout_is_never_sent_twice(harness: Harness, lost: bool) -> None:
    payee = harness.payees[0]
    key = idempotency_key_for("payout", "settlement-1", payee)
    terms: dict[str, Any] = {
        "payout_id": "payout-1",
        "payee_ref": payee,
        "amount": 136_000_00,
        "currency": "CNY",
        "transfer_group": "settlement-1",
    }
    if lost:
        harness.lose_next_response()
        with pytest.raises(PaymentError) as caught:
            await harness.gateway.payout(**terms, idempotency_key=key)
        assert caught.value.code == "gateway_unavailable"
    else:
        await harness.gateway.payout(**terms, idempotency_key=key)
    retried = await harness.gateway.payout(**terms, idempotency_key=key)
    again = await harness.gateway.payout(**terms, idempotency_key=key)
    assert harness.creations("payout") == 1
    assert retried.provider_ref == again.provider_ref
    assert (retried.amount, retried.currency, retried.transfer_group) == (136_000_00, "CNY", "settlement-1")
    assert retried.status == ("instructed" if harness.name == "offline" else "paid")


async def test_each_party_of_a_settlement_is_paid_once_in_one_transfer_group(harness: Harness) -> None:
    payouts = [
        await harness.gateway.payout(
            payout_id=f"payout-{payee}",
            payee_ref=payee,
            amount=272_000_00,
            currency="CNY",
            transfer_group="settlement-7",
            idempotency_key=idempotency_key_for("payout", "settlement-7", payee),
        )
        for payee in harness.payees
    ]
    assert harness.creations("payout") == len(harness.payees)
    assert len({payout.provider_ref for payout in payouts}) == len(harness.payees)
    assert {payout.transfer_group for payout in payouts} == {"settlement-7"}


@pytest.mark.parametrize("amount", [0, -64_000_00], ids=["nothing-to-pay", "party-still-owes-the-bank"])
async def test_a_party_that_receives_nothing_or_owes_gets_no_payout(harness: Harness, amount: int) -> None:
    with pytest.raises(PaymentError) as caught:
        await harness.gateway.payout(
            payout_id="payout-owes",
            payee_ref=harness.payees[1],
            amount=amount,
            currency="CNY",
            transfer_group="settlement-8",
            idempotency_key="payout:settlement-8:guarantor",
        )
    assert caught.value.code == "bad_amount"
    assert harness.creations("payout") == 0


async def test_a_declined_card_is_payment_declined_and_a_retry_declines_again(card_harness: Harness) -> None:
    deposit_id = new_deposit_id()
    terms: dict[str, Any] = {
        "deposit_id": deposit_id,
        "amount": 50_000_00,
        "currency": "CNY",
        "payer_ref": card_harness.declining_payer,
        "idempotency_key": idempotency_key_for("deposit-hold", deposit_id),
    }
    for _ in range(2):
        with pytest.raises(PaymentError) as caught:
            await card_harness.gateway.open_hold(**terms)
        assert caught.value.code == "payment_declined"
        assert caught.value.provider_ref is not None
    assert card_harness.creations("hold") == 1
    assert caught.value.provider_ref is not None
    assert (await card_harness.gateway.get_hold(caught.value.provider_ref)).status == "failed"


async def test_a_hold_that_would_lapse_before_the_close_is_flagged(harness: Harness) -> None:
    held = await open_held(harness)
    margin = DEFAULT_REAUTHORIZATION_MARGIN
    if held.expires_at is None:
        assert harness.name == "offline"
        assert not harness.gateway.needs_reauthorization(held, held_close_far_away())
        return
    just_safe = held.expires_at - margin - timedelta(minutes=1)
    too_late = held.expires_at - margin + timedelta(minutes=1)
    assert not harness.gateway.needs_reauthorization(held, just_safe)
    assert harness.gateway.needs_reauthorization(held, too_late)
    assert harness.gateway.needs_reauthorization(held, held.expires_at + timedelta(days=3))


def held_close_far_away() -> datetime:
    return datetime(2099, 1, 1, tzinfo=UTC)


async def test_card_holds_last_about_seven_days(card_harness: Harness) -> None:
    held = await open_held(card_harness)
    assert held.expires_at is not None
    opened_around = held.expires_at - timedelta(days=7)
    close_in_five_days = opened_around + timedelta(days=5)
    close_in_ten_days = opened_around + timedelta(days=10)
    assert not card_harness.gateway.needs_reauthorization(held, close_in_five_days)
    assert card_harness.gateway.needs_reauthorization(held, close_in_ten_days)


async def test_reauthorisation_replaces_the_hold_and_releases_the_old_one(harness: Harness) -> None:
    held = await open_held(harness)
    key = idempotency_key_for("deposit-reauth", held.deposit_id, held.provider_ref)
    renewed = await harness.gateway.reauthorize_hold(held.provider_ref, idempotency_key=key)
    again = await harness.gateway.reauthorize_hold(held.provider_ref, idempotency_key=key)
    assert again.provider_ref == renewed.provider_ref
    assert (renewed.status, renewed.amount, renewed.deposit_id) == ("held", held.amount, held.deposit_id)
    if harness.name == "offline":
        assert renewed.provider_ref == held.provider_ref
        assert harness.creations("hold") == 1
        return
    assert renewed.provider_ref != held.provider_ref
    assert renewed.replaces == held.provider_ref
    assert harness.creations("hold") == 2
    assert (await harness.gateway.get_hold(held.provider_ref)).status == "released"
    assert (await harness.gateway.get_hold(renewed.provider_ref)).status == "held"


async def test_an_uncaptured_authorisation_lapses_and_can_be_authorised_again(card_harness: Harness) -> None:
    held = await open_held(card_harness)
    card_harness.advance(timedelta(days=8))
    lapsed = await card_harness.gateway.get_hold(held.provider_ref)
    assert lapsed.status == "released"
    with pytest.raises(PaymentError) as caught:
        await card_harness.gateway.capture_hold(
            held.provider_ref, amount=None, idempotency_key="capture:late"
        )
    assert caught.value.code == "bad_state"
    renewed = await card_harness.gateway.reauthorize_hold(held.provider_ref, idempotency_key="reauth:lapsed")
    assert (renewed.status, renewed.replaces) == ("held", held.provider_ref)


async def test_a_deposit_released_on_purpose_is_not_reauthorised(card_harness: Harness) -> None:
    held = await open_held(card_harness)
    await card_harness.gateway.release_hold(held.provider_ref, idempotency_key="release:loser")
    with pytest.raises(PaymentError) as caught:
        await card_harness.gateway.reauthorize_hold(held.provider_ref, idempotency_key="reauth:released")
    assert caught.value.code == "bad_state"
    assert card_harness.creations("hold") == 1


_ACTIONS = st.lists(
    st.tuples(st.sampled_from(["capture", "release"]), st.integers(min_value=0, max_value=2)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=_ACTIONS)
async def test_the_first_final_state_wins_whatever_follows(
    harness: Harness, actions: list[tuple[str, int]]
) -> None:
    held = await open_held(harness, amount=10_000)
    winner = actions[0][0]
    final = "captured" if winner == "capture" else "released"
    for action, key_number in actions:
        key = f"{action}:{held.provider_ref}:{key_number}"
        if action == winner:
            assert (await _do(harness, action, held, key=key)).status == final
        else:
            with pytest.raises(PaymentError) as caught:
                await _do(harness, action, held, key=key)
            assert caught.value.code == "bad_state"
    assert (await harness.gateway.get_hold(held.provider_ref)).status == (
        "captured" if winner == "capture" else "released"
    )
