"""What only the Stripe gateway does: the requests the SDK sends, its own retries, Stripe's errors
and the mapping of Stripe objects, against the fake server and as pure tables."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import stripe

from marketplace.deposits import PaymentError, StripeGateway, idempotency_key_for
from marketplace.deposits.stripe_gateway import hold_from_intent, hold_status_for, payment_error_from
from tests.deposits.conftest import CONNECTED_ACCOUNTS, STRIPE_TEST_KEY, new_deposit_id
from tests.fakes.stripe_server import Served


@pytest.fixture
async def retrying_gateway(fake_stripe: Served) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(
        STRIPE_TEST_KEY,
        api_base=fake_stripe.base_url,
        connected_accounts=CONNECTED_ACCOUNTS,
        max_network_retries=2,
    )
    yield gateway
    await gateway.aclose()


async def _open(gateway: StripeGateway, payer: str = "pm_card_visa") -> tuple[str, str]:
    deposit_id = new_deposit_id()
    hold = await gateway.open_hold(
        deposit_id=deposit_id,
        amount=45_000_00,
        currency="CNY",
        payer_ref=payer,
        idempotency_key=idempotency_key_for("deposit-hold", deposit_id),
    )
    return deposit_id, hold.provider_ref


async def test_a_hold_is_a_confirmed_manual_capture_intent_keyed_by_the_deposit(
    stripe_gateway: StripeGateway, fake_stripe: Served
) -> None:
    deposit_id, intent_id = await _open(stripe_gateway)
    intent = fake_stripe.fake.intent(intent_id)
    assert (intent["capture_method"], intent["currency"], intent["amount"], intent["status"]) == (
        "manual",
        "cny",
        45_000_00,
        "requires_capture",
    )
    assert intent["metadata"] == {"deposit_id": deposit_id, "payer_ref": "pm_card_visa"}
    assert ("POST", "/v1/payment_intents", f"deposit-hold:{deposit_id}") in fake_stripe.fake.requests


async def test_the_sdks_own_retry_after_a_lost_answer_pays_once(
    retrying_gateway: StripeGateway, fake_stripe: Served
) -> None:
    fake_stripe.fake.drop_next_response("/v1/transfers")
    payout = await retrying_gateway.payout(
        payout_id="payout-g",
        payee_ref="guarantor",
        amount=272_000_00,
        currency="CNY",
        transfer_group="settlement-2",
        idempotency_key="payout:settlement-2:guarantor",
    )
    assert payout.status == "paid"
    assert fake_stripe.fake.counts["transfers.create"] == 1
    sent = [request for request in fake_stripe.fake.requests if request[1] == "/v1/transfers"]
    assert sent == [("POST", "/v1/transfers", "payout:settlement-2:guarantor")] * 2


@pytest.mark.parametrize(
    ("retries", "outcome"), [(0, "gateway_unavailable"), (2, "held")], ids=["no-retry", "sdk-retry"]
)
async def test_a_server_error_is_unavailable_unless_the_sdk_retries_it(
    fake_stripe: Served, retries: int, outcome: str
) -> None:
    gateway = StripeGateway(STRIPE_TEST_KEY, api_base=fake_stripe.base_url, max_network_retries=retries)
    fake_stripe.fake.fail_next(500, "/v1/payment_intents")
    try:
        result: str
        try:
            _, intent_id = await _open(gateway)
            result = (await gateway.get_hold(intent_id)).status
        except PaymentError as error:
            result = error.code
    finally:
        await gateway.aclose()
    assert result == outcome
    assert fake_stripe.fake.counts["payment_intents.create"] == (0 if retries == 0 else 1)


async def test_an_unreachable_stripe_is_gateway_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = StripeGateway(STRIPE_TEST_KEY, api_base=f"http://127.0.0.1:{port}", max_network_retries=0)
    try:
        with pytest.raises(PaymentError) as caught:
            await _open(gateway)
    finally:
        await gateway.aclose()
    assert caught.value.code == "gateway_unavailable"


async def test_a_bad_api_key_is_gateway_rejected(fake_stripe: Served) -> None:
    gateway = StripeGateway("pk_test_publishable", api_base=fake_stripe.base_url, max_network_retries=0)
    try:
        with pytest.raises(PaymentError) as caught:
            await _open(gateway)
    finally:
        await gateway.aclose()
    assert caught.value.code == "gateway_rejected"


async def test_in_live_mode_without_a_card_the_buyer_confirms_with_the_client_secret(
    fake_stripe: Served,
) -> None:
    gateway = StripeGateway("sk_live_fake", api_base=fake_stripe.base_url, max_network_retries=0)
    try:
        deposit_id = new_deposit_id()
        hold = await gateway.open_hold(
            deposit_id=deposit_id,
            amount=10_000,
            currency="CNY",
            payer_ref="buyer-7",
            idempotency_key=deposit_id,
        )
        with pytest.raises(PaymentError) as caught:
            await gateway.capture_hold(hold.provider_ref, amount=None, idempotency_key="capture:live")
    finally:
        await gateway.aclose()
    assert hold.status == "requires_action"
    assert str(hold.instructions["client_secret"]).startswith(f"{hold.provider_ref}_secret_")
    assert caught.value.code == "bad_state"


async def test_a_payee_without_a_connected_account_is_refused_before_any_request(
    stripe_gateway: StripeGateway, fake_stripe: Served
) -> None:
    with pytest.raises(PaymentError) as caught:
        await stripe_gateway.payout(
            payout_id="payout-p",
            payee_ref="pledgor",
            amount=1_000,
            currency="CNY",
            transfer_group="settlement-3",
            idempotency_key="payout:settlement-3:pledgor",
        )
    assert caught.value.code == "unknown_payee"
    assert fake_stripe.fake.requests == []


@pytest.mark.parametrize(
    ("payee", "destination"),
    [("bank", "acct_bank0001"), ("acct_direct0001", "acct_direct0001")],
    ids=["mapped-party", "account-id"],
)
async def test_a_transfer_goes_to_the_payees_connected_account_in_the_settlements_group(
    stripe_gateway: StripeGateway, fake_stripe: Served, payee: str, destination: str
) -> None:
    payout = await stripe_gateway.payout(
        payout_id="payout-b",
        payee_ref=payee,
        amount=136_000_00,
        currency="CNY",
        transfer_group="settlement-4",
        idempotency_key=f"payout:settlement-4:{payee}",
    )
    transfer = fake_stripe.fake.transfers[payout.provider_ref]
    assert (transfer["destination"], transfer["transfer_group"], transfer["currency"]) == (
        destination,
        "settlement-4",
        "cny",
    )
    assert (payout.payout_id, payout.payee_ref, payout.instructions["destination"]) == (
        "payout-b",
        payee,
        destination,
    )


async def test_reauthorisation_survives_a_lost_answer_to_the_cancel_of_the_old_intent(
    stripe_gateway: StripeGateway, fake_stripe: Served
) -> None:
    _, old_id = await _open(stripe_gateway)
    fake_stripe.fake.drop_next_response(f"/v1/payment_intents/{old_id}/cancel")
    key = f"deposit-reauth:{old_id}"
    with pytest.raises(PaymentError) as caught:
        await stripe_gateway.reauthorize_hold(old_id, idempotency_key=key)
    assert caught.value.code == "gateway_unavailable"
    renewed = await stripe_gateway.reauthorize_hold(old_id, idempotency_key=key)
    old = fake_stripe.fake.intent(old_id)
    assert (old["status"], old["cancellation_reason"]) == ("canceled", "duplicate")
    assert (renewed.status, renewed.replaces) == ("held", old_id)
    assert fake_stripe.fake.intent(renewed.provider_ref)["metadata"]["replaces"] == old_id
    assert fake_stripe.fake.counts["payment_intents.create"] == 2


async def test_the_expiry_is_the_charges_capture_before(
    stripe_gateway: StripeGateway, fake_stripe: Served
) -> None:
    fake_stripe.fake.authorization_window = 4 * 24 * 3600 + 18 * 3600
    _, intent_id = await _open(stripe_gateway)
    hold = await stripe_gateway.get_hold(intent_id)
    intent = fake_stripe.fake.intent(intent_id)
    assert hold.expires_at == datetime.fromtimestamp(intent["created"], UTC) + timedelta(days=4, hours=18)


@pytest.mark.parametrize(
    ("intent_status", "has_error", "hold_status"),
    [
        ("requires_payment_method", False, "requires_action"),
        ("requires_payment_method", True, "failed"),
        ("requires_confirmation", False, "requires_action"),
        ("requires_action", False, "requires_action"),
        ("processing", False, "pending"),
        ("requires_capture", False, "held"),
        ("succeeded", False, "captured"),
        ("canceled", False, "released"),
    ],
    ids=lambda value: str(value),
)
def test_intent_statuses_map_to_hold_statuses(intent_status: str, has_error: bool, hold_status: str) -> None:
    assert hold_status_for(intent_status, has_payment_error=has_error) == hold_status


def test_an_unknown_intent_status_is_invalid_payload() -> None:
    with pytest.raises(PaymentError) as caught:
        hold_status_for("requires_magic")
    assert caught.value.code == "invalid_payload"


def _intent(**changes: object) -> dict[str, object]:
    intent: dict[str, object] = {
        "id": "pi_1",
        "status": "requires_capture",
        "amount": 500,
        "currency": "cny",
        "created": 1_700_000_000,
        "metadata": {"deposit_id": "dep-1", "payer_ref": "pm_x"},
        "latest_charge": "ch_1",
        "client_secret": "pi_1_secret_x",
    }
    return intent | changes


@pytest.mark.parametrize(
    ("intent", "expires_at"),
    [
        (_intent(), datetime.fromtimestamp(1_700_000_000, UTC) + timedelta(days=7)),
        (
            _intent(latest_charge={"payment_method_details": {"card": {"capture_before": 1_700_400_000}}}),
            datetime.fromtimestamp(1_700_400_000, UTC),
        ),
        (
            _intent(latest_charge={"payment_method_details": None}),
            datetime.fromtimestamp(1_700_000_000, UTC) + timedelta(days=7),
        ),
        (_intent(status="succeeded", amount_received=300), None),
    ],
    ids=["created-plus-seven-days", "capture-before", "charge-without-card", "captured-has-no-expiry"],
)
def test_a_hold_expires_when_the_charge_says_or_seven_days_after_creation(
    intent: dict[str, object], expires_at: datetime | None
) -> None:
    assert hold_from_intent(intent).expires_at == expires_at


def test_a_captured_intent_reports_the_amount_received() -> None:
    hold = hold_from_intent(_intent(status="succeeded", amount_received=300))
    assert (hold.status, hold.captured_amount, hold.currency, hold.deposit_id) == (
        "captured",
        300,
        "CNY",
        "dep-1",
    )


def _card_error() -> stripe.StripeError:
    body = {"error": {"type": "card_error", "code": "card_declined", "payment_intent": {"id": "pi_declined"}}}
    return stripe.CardError("Your card was declined.", None, "card_declined", json_body=body, http_status=402)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_card_error(), "payment_declined"),
        (stripe.APIConnectionError("network"), "gateway_unavailable"),
        (stripe.RateLimitError("slow down", http_status=429), "gateway_unavailable"),
        (stripe.APIError("boom", http_status=500), "gateway_unavailable"),
        (stripe.IdempotencyError("other params", http_status=400), "idempotency_key_reused"),
        (
            stripe.InvalidRequestError("missing", "intent", code="resource_missing", http_status=404),
            "unknown_reference",
        ),
        (
            stripe.InvalidRequestError(
                "state", None, code="payment_intent_unexpected_state", http_status=400
            ),
            "bad_state",
        ),
        (
            stripe.InvalidRequestError("too much", None, code="amount_too_large", http_status=400),
            "bad_amount",
        ),
        (
            stripe.InvalidRequestError("bad param", "x", code="parameter_unknown", http_status=400),
            "gateway_rejected",
        ),
        (stripe.AuthenticationError("bad key", http_status=401), "gateway_rejected"),
        (stripe.PermissionError("no", http_status=403), "gateway_rejected"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_stripe_errors_map_to_payment_errors(error: stripe.StripeError, code: str) -> None:
    assert payment_error_from(error).code == code


def test_a_decline_names_the_declined_intent() -> None:
    assert payment_error_from(_card_error()).provider_ref == "pi_declined"
