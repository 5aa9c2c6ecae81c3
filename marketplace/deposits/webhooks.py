"""Stripe webhooks: verified, de-duplicated by event id, and never allowed to move a deposit backwards.

Invariants this module keeps:

- :func:`parse_event` accepts a delivery only if the SDK's signature check passes
  (``Stripe-Signature: t=…,v1=…``, HMAC-SHA256 with the endpoint secret, timestamp within
  ``tolerance`` seconds); anything else is ``invalid_signature``. A correctly signed body that is
  not a Stripe event is ``invalid_payload``.
- :func:`handle` applies an event only the first time its id is seen. With a database-backed
  :class:`SeenEvents` (an insert on a unique event id), call it inside the transaction that applies
  the event, so a failed apply forgets the id with the rollback and the redelivery is applied.
- Statuses only move forward. Hold statuses are ranked
  ``pending`` = 0 < ``requires_action`` = ``failed`` = 1 < ``held`` = 2 < ``captured`` = ``released`` = 3;
  payout statuses ``pending`` = ``instructed`` = 0 < ``paid`` = 1 < ``failed`` (reversed) = 2.
  :func:`is_stale` is true for an event whose status ranks below the current one, for any event
  that would change a final status (the first of ``captured``/``released`` wins; a disagreement is
  for reconciliation through ``get_hold``, not for a webhook), and for events that carry no status.
  So a late or out-of-order ``payment_intent.amount_capturable_updated`` (``held``) after
  ``captured`` or ``released`` changes nothing.
- An event names the provider object (``object_id``); after a re-authorisation, events about the
  replaced intent (``reason`` ``duplicate``) are for an object the deposit no longer points at, and
  the caller ignores them. A lapsed authorisation arrives as ``released`` with ``reason``
  ``automatic``: the deposit is no longer secured and must be flagged, not treated as a refund.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import stripe

from marketplace.deposits.gateway import FINAL_HOLD_STATUSES, HoldStatus, PaymentError, PayoutStatus
from marketplace.deposits.stripe_gateway import hold_from_intent, payout_status_for

EventKind = Literal["hold", "payout", "other"]

HOLD_STATUS_RANK: Mapping[str, int] = {
    "pending": 0,
    "requires_action": 1,
    "failed": 1,
    "held": 2,
    "captured": 3,
    "released": 3,
}
PAYOUT_STATUS_RANK: Mapping[str, int] = {"pending": 0, "instructed": 0, "paid": 1, "failed": 2}


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """One provider notification, reduced to what the deposit and payout services act on."""

    id: str
    type: str
    object_id: str
    status: HoldStatus | PayoutStatus | None
    created: datetime
    kind: EventKind = "other"
    domain_id: str | None = None
    reason: str | None = None


def event_from_stripe(event: Mapping[str, Any]) -> GatewayEvent:
    """A Stripe event (a plain mapping) as a :class:`GatewayEvent`; unknown kinds carry no status."""
    try:
        event_type = str(event["type"])
        obj: Mapping[str, Any] = event["data"]["object"]
        object_id = str(obj["id"])
        created = datetime.fromtimestamp(int(event["created"]), UTC)
        event_id = str(event["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PaymentError("invalid_payload", f"not a Stripe event: {exc}") from exc
    metadata = obj.get("metadata") or {}
    if obj.get("object") == "payment_intent":
        try:
            hold = hold_from_intent(obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise PaymentError("invalid_payload", f"not a PaymentIntent: {exc}") from exc
        error = obj.get("last_payment_error") or {}
        return GatewayEvent(
            id=event_id,
            type=event_type,
            object_id=object_id,
            status=hold.status,
            created=created,
            kind="hold",
            domain_id=hold.deposit_id or None,
            reason=obj.get("cancellation_reason") or error.get("code") or None,
        )
    if obj.get("object") == "transfer":
        return GatewayEvent(
            id=event_id,
            type=event_type,
            object_id=object_id,
            status=payout_status_for(obj),
            created=created,
            kind="payout",
            domain_id=metadata.get("payout_id") or None,
        )
    return GatewayEvent(id=event_id, type=event_type, object_id=object_id, status=None, created=created)


def parse_event(
    payload: bytes, signature_header: str | None, secret: str, *, tolerance: int = 300
) -> GatewayEvent:
    """Verify a delivery with the SDK (``stripe.Webhook.construct_event``) and parse it."""
    try:
        stripe.Webhook.construct_event(payload, signature_header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise PaymentError("invalid_signature", str(exc.user_message or "bad signature")) from exc
    except ValueError as exc:
        raise PaymentError("invalid_payload", "the signed body is not a Stripe event") from exc
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise PaymentError("invalid_payload", "the signed body is not a Stripe event")
    return event_from_stripe(data)


class SeenEvents(Protocol):
    """Remembers event ids; ``first_time`` is true exactly once per id."""

    async def first_time(self, event_id: str) -> bool: ...


class MemorySeenEvents:
    def __init__(self) -> None:
        self._seen: set[str] = set()

    async def first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        return True


async def handle(
    event: GatewayEvent, seen: SeenEvents, apply: Callable[[GatewayEvent], Awaitable[None]]
) -> bool:
    """Apply ``event`` if its id is new; true if it was applied."""
    if not await seen.first_time(event.id):
        return False
    await apply(event)
    return True


def is_stale(event: GatewayEvent, current_status: str) -> bool:
    """Whether applying ``event`` to an object now in ``current_status`` would move it backwards."""
    if event.status is None:
        return True
    ranks: Mapping[str, int] = HOLD_STATUS_RANK if event.kind == "hold" else PAYOUT_STATUS_RANK
    if current_status not in ranks or event.status not in ranks:
        raise ValueError(f"cannot order {event.status!r} against {current_status!r}")
    if event.kind == "hold" and current_status in FINAL_HOLD_STATUSES:
        return event.status != current_status
    return ranks[event.status] < ranks[current_status]
