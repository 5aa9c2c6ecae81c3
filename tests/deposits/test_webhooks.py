"""Stripe webhooks: the SDK's signature check, de-duplication by event id, and statuses that never
move backwards whatever order (or how many times) the deliveries arrive in."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.deposits import (
    GatewayEvent,
    MemorySeenEvents,
    PaymentError,
    StripeGateway,
    handle,
    is_stale,
    parse_event,
)
from marketplace.deposits.webhooks import event_from_stripe
from tests.deposits.conftest import STRIPE_TEST_KEY, WEBHOOK_SECRET, new_deposit_id
from tests.fakes.stripe_server import Served, sign_payload


async def _held_intent(gateway: StripeGateway) -> str:
    deposit_id = new_deposit_id()
    hold = await gateway.open_hold(
        deposit_id=deposit_id,
        amount=30_000_00,
        currency="CNY",
        payer_ref="pm_card_visa",
        idempotency_key=f"deposit-hold:{deposit_id}",
    )
    return hold.provider_ref


async def test_a_correctly_signed_delivery_is_parsed(
    stripe_gateway: StripeGateway, fake_stripe: Served
) -> None:
    intent_id = await _held_intent(stripe_gateway)
    payload = fake_stripe.fake.event_payload(intent_id, "payment_intent.amount_capturable_updated")
    event = parse_event(payload, sign_payload(payload, WEBHOOK_SECRET), WEBHOOK_SECRET)
    assert (event.type, event.object_id, event.status, event.kind) == (
        "payment_intent.amount_capturable_updated",
        intent_id,
        "held",
        "hold",
    )
    assert event.domain_id == fake_stripe.fake.intent(intent_id)["metadata"]["deposit_id"]
    assert event.created.tzinfo is not None
    assert stripe_gateway.parse_webhook(payload, sign_payload(payload, WEBHOOK_SECRET)) == event


def _tampered(payload: bytes) -> tuple[bytes, str]:
    header = sign_payload(payload, WEBHOOK_SECRET)
    return payload.replace(b'"livemode": false', b'"livemode": true'), header


def _wrong_secret(payload: bytes) -> tuple[bytes, str]:
    return payload, sign_payload(payload, "whsec_someone_else")


def _too_old(payload: bytes) -> tuple[bytes, str]:
    return payload, sign_payload(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 301 - 60)


def _no_header(payload: bytes) -> tuple[bytes, str]:
    return payload, ""


def _garbled_header(payload: bytes) -> tuple[bytes, str]:
    return payload, "v1=,t=nonsense"


def _other_scheme(payload: bytes) -> tuple[bytes, str]:
    return payload, sign_payload(payload, WEBHOOK_SECRET).replace("v1=", "v0=")


@pytest.mark.parametrize(
    "forge",
    [_tampered, _wrong_secret, _too_old, _no_header, _garbled_header, _other_scheme],
    ids=["tampered-payload", "wrong-secret", "too-old", "no-header", "garbled-header", "v0-scheme-only"],
)
async def test_a_delivery_that_fails_the_signature_check_is_refused(
    stripe_gateway: StripeGateway, fake_stripe: Served, forge: Callable[[bytes], tuple[bytes, str]]
) -> None:
    intent_id = await _held_intent(stripe_gateway)
    payload, header = forge(fake_stripe.fake.event_payload(intent_id, "payment_intent.succeeded"))
    with pytest.raises(PaymentError) as caught:
        parse_event(payload, header, WEBHOOK_SECRET)
    assert caught.value.code == "invalid_signature"


def test_the_test_signer_agrees_with_the_sdks_own_signer() -> None:
    payload = b'{"id": "evt_1", "object": "event"}'
    expected = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), WEBHOOK_SECRET, timestamp=1_700_000_000
    )
    assert sign_payload(payload, WEBHOOK_SECRET, timestamp=1_700_000_000) == expected


@pytest.mark.parametrize(
    "payload",
    [b"not json", b'{"object": "event", "id": "evt_1"}', b'{"object": "list"}'],
    ids=["not-json", "event-without-data", "not-an-event"],
)
def test_a_signed_body_that_is_not_a_stripe_event_is_invalid_payload(payload: bytes) -> None:
    with pytest.raises(PaymentError) as caught:
        parse_event(payload, sign_payload(payload, WEBHOOK_SECRET), WEBHOOK_SECRET)
    assert caught.value.code == "invalid_payload"


async def test_a_gateway_without_a_webhook_secret_accepts_no_delivery() -> None:
    gateway = StripeGateway(STRIPE_TEST_KEY, api_base="http://127.0.0.1:9")
    payload = b'{"id": "evt_1"}'
    try:
        with pytest.raises(PaymentError) as caught:
            gateway.parse_webhook(payload, sign_payload(payload, WEBHOOK_SECRET))
    finally:
        await gateway.aclose()
    assert caught.value.code == "invalid_signature"


async def test_the_same_event_delivered_twice_is_applied_once(
    stripe_gateway: StripeGateway, fake_stripe: Served
) -> None:
    intent_id = await _held_intent(stripe_gateway)
    payload = fake_stripe.fake.event_payload(intent_id, "payment_intent.amount_capturable_updated")
    applied: list[str] = []

    async def apply(event: GatewayEvent) -> None:
        applied.append(event.id)

    seen = MemorySeenEvents()
    outcomes = [
        await handle(parse_event(payload, sign_payload(payload, WEBHOOK_SECRET), WEBHOOK_SECRET), seen, apply)
        for _ in range(2)
    ]
    assert outcomes == [True, False]
    assert applied == [json.loads(payload)["id"]]


async def test_a_failed_apply_propagates_its_error() -> None:
    async def apply(event: GatewayEvent) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        await handle(_event("evt_1", "held"), MemorySeenEvents(), apply)


class Deposit:
    """What the service does with an event: move the status forward, never back."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.changes = 0

    async def apply(self, event: GatewayEvent) -> None:
        if event.status is not None and not is_stale(event, self.status) and event.status != self.status:
            self.status = event.status
            self.changes += 1


async def test_a_late_requires_capture_event_after_the_capture_changes_nothing(
    stripe_gateway: StripeGateway, fake_stripe: Served
) -> None:
    intent_id = await _held_intent(stripe_gateway)
    early = fake_stripe.fake.event_payload(intent_id, "payment_intent.amount_capturable_updated")
    await stripe_gateway.capture_hold(intent_id, amount=None, idempotency_key="capture:winner")
    succeeded = fake_stripe.fake.event_payload(intent_id, "payment_intent.succeeded")
    deposit, seen = Deposit("held"), MemorySeenEvents()
    for payload in (succeeded, early, succeeded):
        await handle(
            parse_event(payload, sign_payload(payload, WEBHOOK_SECRET), WEBHOOK_SECRET), seen, deposit.apply
        )
    assert (deposit.status, deposit.changes) == ("captured", 1)


async def test_a_lapsed_authorisation_arrives_as_released_for_reason_automatic(
    stripe_gateway: StripeGateway, fake_stripe: Served
) -> None:
    intent_id = await _held_intent(stripe_gateway)
    fake_stripe.fake.advance(8 * 24 * 3600)
    payload = fake_stripe.fake.event_payload(intent_id, "payment_intent.canceled")
    event = parse_event(
        payload, sign_payload(payload, WEBHOOK_SECRET, timestamp=int(time.time())), WEBHOOK_SECRET
    )
    assert (event.status, event.reason) == ("released", "automatic")


async def test_transfer_events_are_payouts(stripe_gateway: StripeGateway, fake_stripe: Served) -> None:
    payout = await stripe_gateway.payout(
        payout_id="payout-9",
        payee_ref="pool",
        amount=272_000_00,
        currency="CNY",
        transfer_group="settlement-9",
        idempotency_key="payout:settlement-9:pool",
    )
    created = fake_stripe.fake.event_payload(payout.provider_ref, "transfer.created")
    fake_stripe.fake.reverse_transfer(payout.provider_ref)
    reversed_ = fake_stripe.fake.event_payload(payout.provider_ref, "transfer.reversed")
    events = [
        parse_event(body, sign_payload(body, WEBHOOK_SECRET), WEBHOOK_SECRET) for body in (created, reversed_)
    ]
    assert [(event.kind, event.status, event.domain_id) for event in events] == [
        ("payout", "paid", "payout-9"),
        ("payout", "failed", "payout-9"),
    ]
    assert is_stale(events[0], "failed")
    assert not is_stale(events[1], "paid")


def _event(
    event_id: str, status: str | None, kind: str = "hold", type_: str = "payment_intent.x"
) -> GatewayEvent:
    return GatewayEvent(
        id=event_id,
        type=type_,
        object_id="pi_1",
        status=status,  # type: ignore[arg-type]
        created=datetime(2026, 11, 22, tzinfo=UTC),
        kind=kind,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("event_status", "current", "stale"),
    [
        ("held", "captured", True),
        ("held", "released", True),
        ("requires_action", "held", True),
        ("failed", "held", True),
        ("pending", "requires_action", True),
        ("released", "captured", True),
        ("captured", "released", True),
        ("captured", "captured", False),
        ("held", "held", False),
        ("held", "pending", False),
        ("held", "requires_action", False),
        ("captured", "held", False),
        ("released", "held", False),
        ("released", "pending", False),
        ("requires_action", "failed", False),
        ("failed", "requires_action", False),
    ],
    ids=lambda value: str(value),
)
def test_hold_statuses_only_move_forward(event_status: str, current: str, stale: bool) -> None:
    assert is_stale(_event("evt", event_status), current) is stale


@pytest.mark.parametrize(
    ("event_status", "current", "stale"),
    [
        ("paid", "pending", False),
        ("paid", "instructed", False),
        ("failed", "paid", False),
        ("paid", "failed", True),
        ("pending", "paid", True),
    ],
    ids=lambda value: str(value),
)
def test_payout_statuses_only_move_forward(event_status: str, current: str, stale: bool) -> None:
    assert is_stale(_event("evt", event_status, kind="payout"), current) is stale


def test_an_event_without_a_status_is_always_stale() -> None:
    assert is_stale(_event("evt", None, kind="other"), "held")


def test_an_unknown_current_status_is_a_bug() -> None:
    with pytest.raises(ValueError, match="cannot order"):
        is_stale(_event("evt", "held"), "refunded")


LIFECYCLE = [("evt_action", "requires_action"), ("evt_held", "held"), ("evt_captured", "captured")]


@settings(max_examples=200, deadline=None)
@given(deliveries=st.lists(st.sampled_from(LIFECYCLE), min_size=1, max_size=10))
async def test_any_order_and_any_repetition_ends_in_the_furthest_status(
    deliveries: list[tuple[str, str]],
) -> None:
    deposit, seen = Deposit("pending"), MemorySeenEvents()
    for event_id, status in deliveries:
        await handle(_event(event_id, status), seen, deposit.apply)
    rank = {"requires_action": 1, "held": 2, "captured": 3}
    furthest = max((status for _, status in deliveries), key=rank.__getitem__)
    assert deposit.status == furthest
    assert deposit.changes <= len({event_id for event_id, _ in deliveries})


def test_a_stripe_event_of_another_kind_carries_no_status() -> None:
    event = event_from_stripe(
        {
            "id": "evt_c",
            "type": "customer.created",
            "created": 1_700_000_000,
            "data": {"object": {"id": "cus_1"}},
        }
    )
    assert (event.kind, event.status, event.object_id) == ("other", None, "cus_1")


def test_a_declined_attempt_is_failed_with_the_decline_code_as_reason() -> None:
    event = event_from_stripe(
        {
            "id": "evt_f",
            "type": "payment_intent.payment_failed",
            "created": 1_700_000_000,
            "data": {
                "object": {
                    "id": "pi_1",
                    "object": "payment_intent",
                    "status": "requires_payment_method",
                    "amount": 100,
                    "currency": "cny",
                    "created": 1_700_000_000,
                    "metadata": {"deposit_id": "dep-1"},
                    "last_payment_error": {"code": "card_declined"},
                }
            },
        }
    )
    assert (event.status, event.reason, event.domain_id) == ("failed", "card_declined", "dep-1")
