"""A small fake of the Stripe API, for the real ``stripe`` SDK pointed at it through ``base_addresses``.

It implements exactly the endpoints the Stripe gateway uses — ``POST /v1/payment_intents``,
``GET /v1/payment_intents/{id}``, ``POST /v1/payment_intents/{id}/capture``,
``POST /v1/payment_intents/{id}/cancel`` and ``POST /v1/transfers`` — as Stripe documents them:

- bodies are form-encoded with Stripe's bracket syntax (``metadata[deposit_id]=…``,
  ``expand[0]=latest_charge``); answers are Stripe-shaped JSON objects, errors
  ``{"error": {"type", "code", "message", …}}`` with Stripe's statuses (402 ``card_declined`` for
  the test payment method ``pm_card_chargeDeclined``, 400 ``payment_intent_unexpected_state``, 404
  ``resource_missing``, 401 for a key that is not ``sk_…``);
- ``Idempotency-Key`` is honoured like Stripe's v1 API: once an endpoint has run, its status and body
  are saved and replayed for the same key and the same parameters; the same key with other
  parameters is a 400 ``idempotency_error`` (not saved); validation errors are not saved;
- an uncaptured authorisation lapses (``canceled``, ``cancellation_reason=automatic``) once the fake
  clock passes the charge's ``capture_before`` (``authorization_window`` after creation);
- ``counts`` records work actually done (a replay does not count), so a test can assert that a hold
  or a transfer was created exactly once; ``drop_next_response`` does the next request's work and
  then closes the connection without an answer — a timeout after the fact, as a client sees it.

:func:`serve` runs an ASGI app under uvicorn in a background thread on 127.0.0.1 and a free port;
:func:`sign_payload` signs a webhook body the way Stripe documents (``t=…,v1=HMAC-SHA256``),
independently of the SDK that verifies it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

JSON = dict[str, Any]
Scope = dict[str, Any]

DECLINING_PAYMENT_METHODS = frozenset({"pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"})
CANCELABLE = frozenset(
    {"requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"}
)
SEVEN_DAYS = 7 * 24 * 3600
API_VERSION = "2026-10-28.endive"

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):020d}"


class StripeFailure(Exception):
    """An error answer; ``saved`` is whether the idempotency layer keeps it (the endpoint ran)."""

    def __init__(self, status: int, error: JSON, *, saved: bool = True) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error
        self.saved = saved


def _invalid(code: str, message: str, *, param: str | None = None, saved: bool = True) -> StripeFailure:
    error: JSON = {"type": "invalid_request_error", "code": code, "message": message}
    if param is not None:
        error["param"] = param
    return StripeFailure(404 if code == "resource_missing" else 400, error, saved=saved)


def decode_form(encoded: str) -> JSON:
    """Stripe's form encoding back into nested dicts and lists (``a[b]=1``, ``c[0]=x``)."""
    root: JSON = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    decoded: JSON = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_listify(node[key]) for key in sorted(node, key=int)]
    return {key: _listify(value) for key, value in node.items()}


def _positive_int(params: JSON, name: str) -> int:
    raw = params.get(name)
    if raw is None:
        raise _invalid("parameter_missing", f"Missing required param: {name}.", param=name, saved=False)
    if not str(raw).isdigit() or int(raw) <= 0:
        raise _invalid(
            "parameter_invalid_integer", f"Invalid positive integer: {raw}", param=name, saved=False
        )
    return int(raw)


def _currency(params: JSON) -> str:
    currency = params.get("currency")
    if not currency:
        raise _invalid(
            "parameter_missing", "Missing required param: currency.", param="currency", saved=False
        )
    return str(currency).lower()


def _expanded(params: JSON) -> list[str]:
    expand = params.get("expand") or []
    return [str(item) for item in expand] if isinstance(expand, list) else [str(expand)]


class FakeStripe:
    """The fake API as a plain ASGI app; its state is shared with the test thread under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.intents: dict[str, JSON] = {}
            self.charges: dict[str, JSON] = {}
            self.transfers: dict[str, JSON] = {}
            self.counts: Counter[str] = Counter()
            self.requests: list[tuple[str, str, str | None]] = []
            self.authorization_window = SEVEN_DAYS
            self._offset = 0
            self._saved: dict[str, tuple[tuple[object, ...], int, bytes]] = {}
            self._drops: list[str] = []
            self._failures: list[tuple[str, int]] = []

    def now(self) -> int:
        return int(time.time()) + self._offset

    def advance(self, seconds: int) -> None:
        with self._lock:
            self._offset += seconds

    def drop_next_response(self, path_prefix: str = "/v1/") -> None:
        """Do the next matching request's work, then hang up without answering."""
        with self._lock:
            self._drops.append(path_prefix)

    def fail_next(self, status: int = 500, path_prefix: str = "/v1/") -> None:
        """Answer the next matching request with an API error before doing any work."""
        with self._lock:
            self._failures.append((path_prefix, status))

    def intent(self, intent_id: str) -> JSON:
        """The intent as the API would show it now (a copy)."""
        with self._lock:
            snapshot: JSON = json.loads(json.dumps(self._intent_view(self._intent(intent_id), [])))
            return snapshot

    def event_payload(
        self, object_id: str, event_type: str, *, event_id: str | None = None, created: int | None = None
    ) -> bytes:
        """A Stripe event carrying a snapshot of the object as it is now."""
        with self._lock:
            if object_id in self.transfers:
                obj = self.transfers[object_id]
            else:
                obj = self._intent_view(self._intent(object_id), [])
            event = {
                "id": event_id or _new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": created if created is not None else self.now(),
                "data": {"object": obj},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            }
            return json.dumps(event).encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        status, payload, drop = self._respond(
            scope["method"], scope["path"], scope["query_string"].decode(), body.decode(), headers
        )
        start = {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
        await send(start)
        if drop:
            return
        await send({"type": "http.response.body", "body": payload})

    def _respond(
        self, method: str, path: str, query: str, body: str, headers: dict[str, str]
    ) -> tuple[int, bytes, bool]:
        with self._lock:
            key = headers.get("idempotency-key") if method == "POST" else None
            self.requests.append((method, path, key))
            status, payload = self._answer(method, path, query, body, headers, key)
            drop = False
            for index, prefix in enumerate(self._drops):
                if path.startswith(prefix):
                    del self._drops[index]
                    drop = True
                    break
            return status, payload, drop

    def _answer(
        self, method: str, path: str, query: str, body: str, headers: dict[str, str], key: str | None
    ) -> tuple[int, bytes]:
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Bearer sk_"):
            error = {"type": "invalid_request_error", "message": "Invalid API Key provided"}
            return 401, json.dumps({"error": error}).encode()
        for index, (prefix, failure_status) in enumerate(self._failures):
            if path.startswith(prefix):
                del self._failures[index]
                error = {"type": "api_error", "message": "An unknown error occurred"}
                return failure_status, json.dumps({"error": error}).encode()
        params = decode_form(body if method == "POST" else query)
        fingerprint = (method, path, json.dumps(params, sort_keys=True))
        if key is not None and key in self._saved:
            first, status, payload = self._saved[key]
            if first != fingerprint:
                error = {
                    "type": "idempotency_error",
                    "message": (
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{key}' if you meant to execute a "
                        "different request."
                    ),
                }
                return 400, json.dumps({"error": error}).encode()
            return status, payload
        try:
            status, result = 200, self._route(method, path, params)
        except StripeFailure as failure:
            if not failure.saved:
                return failure.status, json.dumps({"error": failure.error}).encode()
            status, result = failure.status, {"error": failure.error}
        payload = json.dumps(result).encode()
        if key is not None:
            self._saved[key] = (fingerprint, status, payload)
        return status, payload

    def _route(self, method: str, path: str, params: JSON) -> JSON:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payment_intents"]:
            return self._create_intent(params)
        if len(parts) == 3 and parts[:2] == ["v1", "payment_intents"] and method == "GET":
            return self._intent_view(self._intent(parts[2]), _expanded(params))
        if len(parts) == 4 and parts[:2] == ["v1", "payment_intents"] and method == "POST":
            if parts[3] == "capture":
                return self._capture(parts[2], params)
            if parts[3] == "cancel":
                return self._cancel(parts[2], params)
        if method == "POST" and parts == ["v1", "transfers"]:
            return self._create_transfer(params)
        raise _invalid("url_invalid", f"Unrecognized request URL ({method}: {path}).", saved=False)

    def _intent(self, intent_id: str) -> JSON:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise _invalid("resource_missing", f"No such payment_intent: '{intent_id}'", param="intent")
        self._lapse(intent)
        return intent

    def _lapse(self, intent: JSON) -> None:
        if intent["status"] != "requires_capture":
            return
        charge = self.charges[intent["latest_charge"]]
        if self.now() >= charge["payment_method_details"]["card"]["capture_before"]:
            intent.update(
                status="canceled",
                cancellation_reason="automatic",
                canceled_at=self.now(),
                amount_capturable=0,
            )

    def _intent_view(self, intent: JSON, expand: list[str]) -> JSON:
        view = dict(intent)
        if "latest_charge" in expand and intent["latest_charge"] is not None:
            view["latest_charge"] = dict(self.charges[intent["latest_charge"]])
        return view

    def _create_intent(self, params: JSON) -> JSON:
        amount = _positive_int(params, "amount")
        currency = _currency(params)
        payment_method = params.get("payment_method")
        intent_id = _new_id("pi")
        intent: JSON = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "automatic_payment_methods": params.get("automatic_payment_methods"),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": params.get("capture_method", "automatic_async"),
            "client_secret": f"{intent_id}_secret_{next(_ids):012d}",
            "confirmation_method": "automatic",
            "created": self.now(),
            "currency": currency,
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "next_action": None,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
        }
        self.intents[intent_id] = intent
        self.counts["payment_intents.create"] += 1
        if params.get("confirm") == "true":
            self._confirm(intent)
        return self._intent_view(intent, _expanded(params))

    def _confirm(self, intent: JSON) -> None:
        payment_method = intent["payment_method"]
        if not payment_method:
            raise _invalid(
                "payment_intent_unexpected_state",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
            )
        declined = payment_method in DECLINING_PAYMENT_METHODS
        manual = intent["capture_method"] == "manual"
        charge_id = _new_id("ch")
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0 if manual or declined else intent["amount"],
            "captured": not (manual or declined),
            "created": self.now(),
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "payment_method": payment_method,
            "payment_method_details": {
                "type": "card",
                "card": {
                    "brand": "visa",
                    "last4": "0002" if declined else "4242",
                    "capture_before": self.now() + self.authorization_window
                    if manual and not declined
                    else None,
                },
            },
            "status": "failed" if declined else "succeeded",
        }
        intent["latest_charge"] = charge_id
        if declined:
            error: JSON = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
                "charge": charge_id,
            }
            intent.update(status="requires_payment_method", last_payment_error=dict(error))
            raise StripeFailure(402, {**error, "payment_intent": self._intent_view(intent, [])})
        if manual:
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])

    def _capture(self, intent_id: str, params: JSON) -> JSON:
        intent = self._intent(intent_id)
        if intent["status"] != "requires_capture":
            raise _invalid(
                "payment_intent_unexpected_state",
                f"This PaymentIntent could not be captured because it has a status of {intent['status']}. "
                "Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
            )
        amount = intent["amount_capturable"]
        if "amount_to_capture" in params:
            amount = _positive_int(params, "amount_to_capture")
            if amount > intent["amount_capturable"]:
                raise _invalid(
                    "amount_too_large",
                    "The amount to capture is greater than the amount capturable.",
                    param="amount_to_capture",
                )
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.charges[intent["latest_charge"]].update(captured=True, amount_captured=amount)
        self.counts["payment_intents.capture"] += 1
        return self._intent_view(intent, _expanded(params))

    def _cancel(self, intent_id: str, params: JSON) -> JSON:
        intent = self._intent(intent_id)
        if intent["status"] not in CANCELABLE:
            raise _invalid(
                "payment_intent_unexpected_state",
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
            )
        intent.update(
            status="canceled",
            cancellation_reason=params.get("cancellation_reason"),
            canceled_at=self.now(),
            amount_capturable=0,
        )
        self.counts["payment_intents.cancel"] += 1
        return self._intent_view(intent, _expanded(params))

    def _create_transfer(self, params: JSON) -> JSON:
        amount = _positive_int(params, "amount")
        currency = _currency(params)
        destination = str(params.get("destination") or "")
        if not destination.startswith("acct_"):
            raise _invalid("resource_missing", f"No such destination: '{destination}'", param="destination")
        transfer_id = _new_id("tr")
        transfer: JSON = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "created": self.now(),
            "currency": currency,
            "description": params.get("description"),
            "destination": destination,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": None,
            "transfer_group": params.get("transfer_group"),
        }
        self.transfers[transfer_id] = transfer
        self.counts["transfers.create"] += 1
        return dict(transfer)

    def reverse_transfer(self, transfer_id: str) -> None:
        """What a reversal in the dashboard would do (for ``transfer.reversed`` events)."""
        with self._lock:
            self.transfers[transfer_id].update(
                reversed=True, amount_reversed=self.transfers[transfer_id]["amount"]
            )


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload``: ``t=<unix time>,v1=<hex HMAC-SHA256>``."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={signed_at},v1={signature}"


@dataclass(frozen=True)
class Served:
    fake: FakeStripe
    base_url: str


@contextmanager
def serve(app: Any, *, startup_seconds: float = 10.0) -> Iterator[str]:
    """Run ``app`` under uvicorn in a daemon thread on 127.0.0.1 and a free port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", http="h11", ws="none", loop="asyncio", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="fake-stripe")
    thread.start()
    deadline = time.monotonic() + startup_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake Stripe server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@contextmanager
def running_fake_stripe() -> Iterator[Served]:
    fake = FakeStripe()
    with serve(fake) as base_url:
        yield Served(fake, base_url)
