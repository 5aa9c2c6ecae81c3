"""``POST /api/payments/stripe/webhook``: Stripe's notifications about deposits, applied once, forward only.

Invariants:
- a delivery is accepted only when its ``Stripe-Signature`` verifies against the configured
  endpoint secret (:func:`marketplace.deposits.webhooks.parse_event`); otherwise 400
  ``invalid_signature`` / ``invalid_payload`` and nothing is recorded. Without a secret the
  endpoint does not exist (404);
- each event id is applied at most once, on every node: the id is inserted into
  ``payment_events`` in the request's own transaction (:class:`DbSeenEvents`), so a redelivery,
  even a concurrent one on another node, finds it and changes nothing, while an apply that fails
  rolls the id back with it and Stripe's retry is applied;
- an event changes a deposit only forward (:func:`marketplace.deposits.webhooks.is_stale` against
  the deposit's status as the gateway sees it, under the deposit's row lock): a late or
  out-of-order event, or one about an object no deposit points at (a replaced authorisation), is
  acknowledged and ignored;
- a hold that Stripe released without the exchange asking (an authorisation that lapsed) marks
  the deposit ``lapsed``: it no longer secures a bid, and it is not a refund.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec
from litestar import Request, post
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.auctions.models import Deposit, PaymentEvent
from marketplace.db import utcnow
from marketplace.deposits.webhooks import GatewayEvent, handle, is_stale, parse_event
from marketplace.deps import Ctx, Db
from marketplace.errors import NotFound

Outcome = Literal["applied", "duplicate", "stale", "unknown_object", "ignored"]

DEPOSIT_AS_HOLD: Mapping[str, str] = {
    "pending": "pending",
    "requires_action": "requires_action",
    "failed": "failed",
    "held": "held",
    "applied": "held",
    "releasing": "held",
    "forfeited": "held",
    "released": "released",
    "lapsed": "released",
    "captured": "captured",
}
"""A deposit's status as the payment gateway sees its hold (``applied``, ``releasing`` and
``forfeited`` are still held money until the gateway captures or releases it)."""


class WebhookOut(msgspec.Struct):
    received: bool
    event_id: str
    outcome: str


class DbSeenEvents:
    """``SeenEvents`` over ``payment_events``, inside the caller's transaction."""

    def __init__(self, session: AsyncSession, event_type: str) -> None:
        self._session = session
        self._event_type = event_type

    async def first_time(self, event_id: str) -> bool:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(PaymentEvent).values(
                        event_id=event_id, type=self._event_type[:60], received_at=utcnow()
                    )
                )
        except IntegrityError:
            return False
        return True


def status_after(current: str, event: GatewayEvent) -> str | None:
    """The deposit's next status for a hold event, or ``None`` when the event changes nothing."""
    seen_as = DEPOSIT_AS_HOLD.get(current)
    if event.kind != "hold" or seen_as is None or event.status == seen_as or is_stale(event, seen_as):
        return None
    if event.status == "held":
        return "held"
    if event.status == "failed":
        return "failed"
    if event.status == "captured":
        return "forfeited" if current == "forfeited" else "captured"
    if event.status == "released":
        if current in ("releasing", "pending", "failed", "requires_action"):
            return "released"
        return "lapsed" if event.reason == "automatic" else "released"
    return None


async def apply_deposit_event(session: AsyncSession, event: GatewayEvent) -> Outcome:
    """Move the deposit the event is about, if the event moves it forward."""
    if event.kind != "hold":
        return "ignored"
    deposit = await session.scalar(
        select(Deposit).where(Deposit.provider_ref == event.object_id).with_for_update()
    )
    if deposit is None:
        return "unknown_object"
    new_status = status_after(deposit.status, event)
    if new_status is None or new_status == deposit.status:
        return "stale"
    now = utcnow()
    deposit.status = new_status
    if new_status == "held":
        deposit.held_at = now
    elif new_status in ("captured", "released", "lapsed", "forfeited"):
        deposit.settled_at = deposit.settled_at or now
    return "applied"


async def receive(session: AsyncSession, event: GatewayEvent) -> Outcome:
    """Record the event id and apply the event, once; the caller's transaction commits both."""
    outcome: dict[str, Outcome] = {"value": "duplicate"}

    async def apply(verified: GatewayEvent) -> None:
        outcome["value"] = await apply_deposit_event(session, verified)

    await handle(event, DbSeenEvents(session, event.type), apply)
    return outcome["value"]


@post(
    "/api/payments/stripe/webhook",
    status_code=200,
    tags=["payments"],
    summary="Stripe webhook (signed; each event applied once, never backwards)",
    security=[{}],
)
async def stripe_webhook(request: Request[Any, Any, Any], db: Db, ctx: Ctx) -> WebhookOut:
    secret = ctx.settings.stripe_webhook_secret
    if not secret:
        raise NotFound("not_found", "Stripe webhooks are not enabled on this exchange")
    event = parse_event(await request.body(), request.headers.get("stripe-signature"), secret)
    outcome = await receive(db, event)
    return WebhookOut(received=True, event_id=event.id, outcome=outcome)
