"""Stripe as a payment gateway: a manual-capture PaymentIntent per deposit, a Transfer per payout.

Invariants this module keeps:

- It talks to Stripe only through the real ``stripe`` SDK (``StripeClient``), asynchronously through
  the SDK's own ``HTTPXClient`` (no threads); ``api_base`` overrides the ``api`` base address, which
  is how tests point it at the local fake server. Call :meth:`StripeGateway.aclose` when done.
- A deposit is one PaymentIntent with ``capture_method=manual`` and ``metadata.deposit_id``;
  ``requires_capture`` is ``held``. Every POST carries the caller's idempotency key, so the SDK's
  own network retries and the caller's retries after a timeout create nothing twice.
- A capture of an already captured intent, or a cancel of an already cancelled one, answers with the
  intent as it is (Stripe says ``payment_intent_unexpected_state``; the gateway looks before it
  calls that an error); anything else in the wrong state is ``bad_state``.
- A hold's ``expires_at`` is the charge's ``capture_before`` when Stripe reports it, else the
  intent's creation plus ``hold_lifetime`` (7 days, the card networks' window for online payments).
- Re-authorising creates a new intent for the same payment method (key from the caller, metadata
  ``replaces``), and only once it is held cancels the old one with ``cancellation_reason=duplicate``.
  An intent that lapsed (``automatic``) or was replaced (``duplicate``) may be re-authorised; one
  released on purpose or captured may not.
- Payouts are Transfers to the payee's connected account in the settlement's ``transfer_group``.
- Stripe errors become :class:`PaymentError`: declines ``payment_declined``; network, rate-limit and
  5xx errors ``gateway_unavailable``; a key reused with other arguments ``idempotency_key_reused``;
  a missing object ``unknown_reference``; the rest ``gateway_rejected`` (a configuration bug).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import stripe

from marketplace.deposits.gateway import (
    DEFAULT_REAUTHORIZATION_MARGIN,
    Hold,
    HoldStatus,
    PaymentError,
    Payout,
    PayoutStatus,
    check_amount,
    expires_before_close,
)

if TYPE_CHECKING:
    from marketplace.deposits.webhooks import GatewayEvent

CARD_AUTHORIZATION_LIFETIME = timedelta(days=7)
TEST_CARD = "pm_card_visa"
EXPAND = ["latest_charge"]
RENEWABLE_CANCELLATIONS = frozenset({"automatic", "duplicate"})

T = TypeVar("T")

_INTENT_STATUS: Mapping[str, HoldStatus] = {
    "requires_payment_method": "requires_action",
    "requires_confirmation": "requires_action",
    "requires_action": "requires_action",
    "processing": "pending",
    "requires_capture": "held",
    "succeeded": "captured",
    "canceled": "released",
}


_INVALID_REQUEST_CODES: Mapping[str, str] = {
    "resource_missing": "unknown_reference",
    "payment_intent_unexpected_state": "bad_state",
    "amount_too_large": "bad_amount",
    "amount_too_small": "bad_amount",
}


def hold_status_for(intent_status: str, *, has_payment_error: bool = False) -> HoldStatus:
    """A PaymentIntent status as a hold status; a declined attempt awaiting a new card is ``failed``."""
    if intent_status == "requires_payment_method" and has_payment_error:
        return "failed"
    try:
        return _INTENT_STATUS[intent_status]
    except KeyError:
        raise PaymentError("invalid_payload", f"unknown PaymentIntent status {intent_status!r}") from None


def payout_status_for(transfer: Mapping[str, Any]) -> PayoutStatus:
    return "failed" if transfer.get("reversed") else "paid"


def _aware(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _capture_before(intent: Mapping[str, Any]) -> int | None:
    charge = intent.get("latest_charge")
    if not isinstance(charge, Mapping):
        return None
    details = charge.get("payment_method_details") or {}
    card = details.get("card") or {}
    value = card.get("capture_before")
    return value if isinstance(value, int) else None


def hold_from_intent(
    intent: Mapping[str, Any], *, hold_lifetime: timedelta = CARD_AUTHORIZATION_LIFETIME
) -> Hold:
    """A PaymentIntent (as a plain mapping, from the API or a webhook) as a :class:`Hold`."""
    status = hold_status_for(str(intent["status"]), has_payment_error=bool(intent.get("last_payment_error")))
    metadata = intent.get("metadata") or {}
    expires_at = None
    if status == "held":
        capture_before = _capture_before(intent)
        expires_at = (
            _aware(capture_before)
            if capture_before is not None
            else _aware(int(intent["created"])) + hold_lifetime
        )
    instructions: dict[str, str | int | bool | None] = {"method": "card", "payment_intent": str(intent["id"])}
    if intent.get("client_secret"):
        instructions["client_secret"] = str(intent["client_secret"])
    return Hold(
        provider_ref=str(intent["id"]),
        deposit_id=str(metadata.get("deposit_id", "")),
        status=status,
        amount=int(intent["amount"]),
        currency=str(intent["currency"]).upper(),
        payer_ref=str(metadata.get("payer_ref", "")),
        instructions=instructions,
        expires_at=expires_at,
        captured_amount=int(intent.get("amount_received") or 0) if status == "captured" else 0,
        replaces=metadata.get("replaces") or None,
    )


def payout_from_transfer(transfer: Mapping[str, Any], *, payee_ref: str) -> Payout:
    metadata = transfer.get("metadata") or {}
    return Payout(
        provider_ref=str(transfer["id"]),
        payout_id=str(metadata.get("payout_id", "")),
        status=payout_status_for(transfer),
        payee_ref=str(metadata.get("payee_ref", payee_ref)),
        amount=int(transfer["amount"]),
        currency=str(transfer["currency"]).upper(),
        transfer_group=str(transfer.get("transfer_group") or ""),
        instructions={
            "method": "stripe_transfer",
            "transfer": str(transfer["id"]),
            "destination": str(transfer.get("destination") or ""),
        },
    )


def _declined_intent(exc: stripe.CardError) -> str | None:
    body = exc.json_body
    if not isinstance(body, dict):
        return None
    intent = (body.get("error") or {}).get("payment_intent")
    return str(intent["id"]) if isinstance(intent, dict) and "id" in intent else None


def payment_error_from(exc: stripe.StripeError, *, provider_ref: str | None = None) -> PaymentError:
    """The :class:`PaymentError` for an error the SDK raised."""
    detail = exc.user_message or type(exc).__name__

    def error(code: str) -> PaymentError:
        return PaymentError(code, detail, provider_ref=provider_ref)

    if isinstance(exc, stripe.CardError):
        return PaymentError("payment_declined", detail, provider_ref=_declined_intent(exc) or provider_ref)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return error("gateway_unavailable")
    if isinstance(exc, stripe.IdempotencyError):
        return error("idempotency_key_reused")
    if isinstance(exc, stripe.InvalidRequestError):
        return error(_INVALID_REQUEST_CODES.get(exc.code or "", "gateway_rejected"))
    if exc.http_status is None or exc.http_status >= 500:
        return error("gateway_unavailable")
    return error("gateway_rejected")


class _HTTPXClient(stripe.HTTPXClient):
    """The SDK's async httpx client, sending the form body as ``content=`` (httpx ≥ 0.28 deprecates
    ``data=`` for a pre-encoded body, which the SDK passes)."""

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any
    ) -> list[Any]:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)  # type: ignore[no-untyped-call]
        body = kwargs.pop("data", None)
        if isinstance(body, str | bytes):
            kwargs["content"] = body
        return [args, kwargs]


async def _call(request: Awaitable[T], *, provider_ref: str | None = None) -> T:
    try:
        return await request
    except stripe.StripeError as exc:
        raise payment_error_from(exc, provider_ref=provider_ref) from exc


class StripeGateway:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        connected_accounts: Mapping[str, str] | None = None,
        webhook_secret: str | None = None,
        max_network_retries: int = 2,
        timeout_seconds: float = 30.0,
        hold_lifetime: timedelta = CARD_AUTHORIZATION_LIFETIME,
        reauthorization_margin: timedelta = DEFAULT_REAUTHORIZATION_MARGIN,
    ) -> None:
        self._http = _HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )
        self._test_mode = api_key.startswith(("sk_test_", "rk_test_"))
        self._connected = dict(connected_accounts or {})
        self._webhook_secret = webhook_secret
        self._hold_lifetime = hold_lifetime
        self._margin = reauthorization_margin

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    def _hold(self, intent: stripe.PaymentIntent) -> Hold:
        return hold_from_intent(intent.to_dict(), hold_lifetime=self._hold_lifetime)

    def _payment_method_for(self, payer_ref: str) -> str | None:
        if payer_ref.startswith("pm_"):
            return payer_ref
        return TEST_CARD if self._test_mode else None

    async def open_hold(
        self, *, deposit_id: str, amount: int, currency: str, payer_ref: str, idempotency_key: str
    ) -> Hold:
        check_amount(amount, currency)
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "capture_method": "manual",
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "description": f"Auction deposit {deposit_id}",
            "metadata": {"deposit_id": deposit_id, "payer_ref": payer_ref},
            "expand": EXPAND,
        }
        payment_method = self._payment_method_for(payer_ref)
        if payment_method is not None:
            params["payment_method"] = payment_method
            params["confirm"] = True
        intent = await _call(
            self._client.v1.payment_intents.create_async(params, {"idempotency_key": idempotency_key})
        )
        return self._hold(intent)

    async def _retrieve(self, provider_ref: str) -> stripe.PaymentIntent:
        return await _call(
            self._client.v1.payment_intents.retrieve_async(provider_ref, {"expand": EXPAND}),
            provider_ref=provider_ref,
        )

    async def get_hold(self, provider_ref: str) -> Hold:
        return self._hold(await self._retrieve(provider_ref))

    async def _unless_already(self, error: PaymentError, provider_ref: str, status: HoldStatus) -> Hold:
        """After ``payment_intent_unexpected_state``: the hold if it is already ``status``, else the error."""
        if error.code != "bad_state":
            raise error
        current = await self.get_hold(provider_ref)
        if current.status != status:
            raise PaymentError(
                "bad_state", f"cannot make a {current.status} hold {status}", provider_ref=provider_ref
            ) from error
        return current

    async def capture_hold(self, provider_ref: str, *, amount: int | None, idempotency_key: str) -> Hold:
        params: stripe.params.PaymentIntentCaptureParams = {"expand": EXPAND}
        if amount is not None:
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise PaymentError("bad_amount", f"capture amount must be positive, not {amount!r}")
            params["amount_to_capture"] = amount
        try:
            intent = await _call(
                self._client.v1.payment_intents.capture_async(
                    provider_ref, params, {"idempotency_key": idempotency_key}
                ),
                provider_ref=provider_ref,
            )
        except PaymentError as error:
            return await self._unless_already(error, provider_ref, "captured")
        return self._hold(intent)

    async def release_hold(self, provider_ref: str, *, idempotency_key: str) -> Hold:
        try:
            intent = await _call(
                self._client.v1.payment_intents.cancel_async(
                    provider_ref, {"expand": EXPAND}, {"idempotency_key": idempotency_key}
                ),
                provider_ref=provider_ref,
            )
        except PaymentError as error:
            return await self._unless_already(error, provider_ref, "released")
        return self._hold(intent)

    async def reauthorize_hold(self, provider_ref: str, *, idempotency_key: str) -> Hold:
        old = await self._retrieve(provider_ref)
        renewable = old.status == "requires_capture" or (
            old.status == "canceled" and old.cancellation_reason in RENEWABLE_CANCELLATIONS
        )
        if not renewable:
            raise PaymentError(
                "bad_state", f"cannot re-authorise a {old.status} intent", provider_ref=provider_ref
            )
        payment_method = old.payment_method if isinstance(old.payment_method, str) else None
        if old.payment_method is not None and not isinstance(old.payment_method, str):
            payment_method = old.payment_method.id
        if payment_method is None:
            raise PaymentError(
                "bad_state", "the intent has no payment method to re-authorise", provider_ref=provider_ref
            )
        metadata = {key: str(value) for key, value in old.metadata.to_dict().items()}
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": old.amount,
            "currency": old.currency,
            "capture_method": "manual",
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "payment_method": payment_method,
            "confirm": True,
            "description": f"Auction deposit {metadata.get('deposit_id', '')} (re-authorised)",
            "metadata": {**metadata, "replaces": old.id},
            "expand": EXPAND,
        }
        customer = old.customer if isinstance(old.customer, str) else getattr(old.customer, "id", None)
        if customer:
            params["customer"] = customer
            params["off_session"] = True
        new = self._hold(
            await _call(
                self._client.v1.payment_intents.create_async(params, {"idempotency_key": idempotency_key})
            )
        )
        if new.status == "held" and old.status == "requires_capture":
            await _call(
                self._client.v1.payment_intents.cancel_async(
                    old.id,
                    {"cancellation_reason": "duplicate"},
                    {"idempotency_key": f"{idempotency_key}:cancel-replaced"},
                ),
                provider_ref=old.id,
            )
        return replace(new, replaces=old.id)

    def needs_reauthorization(self, hold: Hold, close_at: datetime) -> bool:
        return expires_before_close(hold, close_at, self._margin)

    async def payout(
        self,
        *,
        payout_id: str,
        payee_ref: str,
        amount: int,
        currency: str,
        transfer_group: str,
        idempotency_key: str,
    ) -> Payout:
        check_amount(amount, currency)
        destination = self._connected.get(payee_ref) or (payee_ref if payee_ref.startswith("acct_") else None)
        if destination is None:
            raise PaymentError("unknown_payee", f"{payee_ref!r} has no connected Stripe account")
        params: stripe.params.TransferCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "destination": destination,
            "transfer_group": transfer_group,
            "metadata": {"payout_id": payout_id, "payee_ref": payee_ref},
        }
        transfer = await _call(
            self._client.v1.transfers.create_async(params, {"idempotency_key": idempotency_key})
        )
        return payout_from_transfer(transfer.to_dict(), payee_ref=payee_ref)

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> GatewayEvent:
        """Verify and parse a webhook delivery with this account's endpoint secret."""
        from marketplace.deposits.webhooks import parse_event

        if not self._webhook_secret:
            raise PaymentError("invalid_signature", "no webhook secret is configured")
        return parse_event(payload, signature_header, self._webhook_secret)
