"""An in-memory payment gateway that behaves like the Stripe one, for unit tests and the embedded demo.

Invariants this module keeps (the same contract as :mod:`marketplace.deposits.stripe_gateway`):

- A hold is ``held`` at once (a card authorisation) unless the payer is in ``declining_payers``,
  which records a ``failed`` hold and raises ``payment_declined``, as Stripe answers a declined
  confirmation.
- Idempotency works like Stripe's: the first result for a key — a hold, a payout or an error — is
  replayed for the same key and the same arguments; different arguments are
  ``idempotency_key_reused``. ``creations`` counts holds and payouts actually created.
- A held hold lapses (``released``) once ``clock()`` passes its ``expires_at``, like an uncaptured
  authorisation that the card network cancels; a lapsed or replaced hold may be re-authorised.
- :meth:`InMemoryGateway.drop_next_response` simulates a timeout: the next operation does its work
  and then raises ``gateway_unavailable``, so a retry with the same key must find the first result.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from marketplace.deposits.gateway import (
    DEFAULT_REAUTHORIZATION_MARGIN,
    Hold,
    PaymentError,
    Payout,
    check_amount,
    check_capture_amount,
    expires_before_close,
)

CARD_AUTHORIZATION_LIFETIME = timedelta(days=7)

Fingerprint = tuple[str, tuple[object, ...]]
Reply = Hold | Payout | PaymentError
R = TypeVar("R", Hold, Payout)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InMemoryGateway:
    name = "memory"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utcnow,
        hold_lifetime: timedelta = CARD_AUTHORIZATION_LIFETIME,
        reauthorization_margin: timedelta = DEFAULT_REAUTHORIZATION_MARGIN,
        declining_payers: Iterable[str] = ("decline",),
    ) -> None:
        self._clock = clock
        self._hold_lifetime = hold_lifetime
        self._margin = reauthorization_margin
        self._declining = frozenset(declining_payers)
        self._holds: dict[str, Hold] = {}
        self._lapsed_or_replaced: set[str] = set()
        self._payouts: dict[str, Payout] = {}
        self._replies: dict[str, tuple[Fingerprint, Reply]] = {}
        self._ids = itertools.count(1)
        self._drop_next = False
        self.creations: Counter[str] = Counter()

    def drop_next_response(self) -> None:
        self._drop_next = True

    def _new_ref(self, prefix: str) -> str:
        return f"{prefix}_mem_{next(self._ids):08d}"

    def _replay(self, key: str, fingerprint: Fingerprint) -> Reply | None:
        stored = self._replies.get(key)
        if stored is None:
            return None
        first, reply = stored
        if first != fingerprint:
            raise PaymentError(
                "idempotency_key_reused", f"idempotency key {key!r} was first used with other arguments"
            )
        return reply

    def _answer(self, key: str, fingerprint: Fingerprint, reply: R | PaymentError) -> R:
        self._replies[key] = (fingerprint, reply)
        if self._drop_next:
            self._drop_next = False
            raise PaymentError("gateway_unavailable", "the response was lost after the work was done")
        if isinstance(reply, PaymentError):
            raise reply
        return reply

    @staticmethod
    def _raise_or_return(reply: Reply, kind: type[R]) -> R:
        if isinstance(reply, PaymentError):
            raise reply
        if not isinstance(reply, kind):
            raise PaymentError(
                "idempotency_key_reused", "idempotency key was first used for another operation"
            )
        return reply

    def _current(self, provider_ref: str) -> Hold:
        hold = self._holds.get(provider_ref)
        if hold is None:
            raise PaymentError("unknown_reference", f"no hold {provider_ref!r}")
        if hold.status == "held" and hold.expires_at is not None and self._clock() >= hold.expires_at:
            hold = replace(hold, status="released", expires_at=None)
            self._holds[provider_ref] = hold
            self._lapsed_or_replaced.add(provider_ref)
        return hold

    async def open_hold(
        self, *, deposit_id: str, amount: int, currency: str, payer_ref: str, idempotency_key: str
    ) -> Hold:
        check_amount(amount, currency)
        fingerprint: Fingerprint = ("open_hold", (deposit_id, amount, currency, payer_ref))
        replayed = self._replay(idempotency_key, fingerprint)
        if replayed is not None:
            return self._raise_or_return(replayed, Hold)
        return self._answer(
            idempotency_key, fingerprint, self._authorize(deposit_id, amount, currency, payer_ref)
        )

    def _authorize(
        self, deposit_id: str, amount: int, currency: str, payer_ref: str, replaces: str | None = None
    ) -> Hold | PaymentError:
        ref = self._new_ref("hold")
        self.creations["hold"] += 1
        declined = payer_ref in self._declining
        hold = Hold(
            provider_ref=ref,
            deposit_id=deposit_id,
            status="failed" if declined else "held",
            amount=amount,
            currency=currency,
            payer_ref=payer_ref,
            instructions={"method": "memory", "provider_ref": ref},
            expires_at=None if declined else self._clock() + self._hold_lifetime,
            replaces=replaces,
        )
        self._holds[ref] = hold
        if declined:
            return PaymentError("payment_declined", "the card was declined", provider_ref=ref)
        return hold

    async def get_hold(self, provider_ref: str) -> Hold:
        return self._current(provider_ref)

    async def capture_hold(self, provider_ref: str, *, amount: int | None, idempotency_key: str) -> Hold:
        fingerprint: Fingerprint = ("capture_hold", (provider_ref, amount))
        replayed = self._replay(idempotency_key, fingerprint)
        if replayed is not None:
            return self._raise_or_return(replayed, Hold)
        hold = self._current(provider_ref)
        if hold.status == "captured":
            return self._answer(idempotency_key, fingerprint, hold)
        if hold.status != "held":
            raise PaymentError("bad_state", f"cannot capture a {hold.status} hold", provider_ref=provider_ref)
        taken = check_capture_amount(hold, amount)
        captured = replace(hold, status="captured", captured_amount=taken, expires_at=None)
        self._holds[provider_ref] = captured
        return self._answer(idempotency_key, fingerprint, captured)

    async def release_hold(self, provider_ref: str, *, idempotency_key: str) -> Hold:
        fingerprint: Fingerprint = ("release_hold", (provider_ref,))
        replayed = self._replay(idempotency_key, fingerprint)
        if replayed is not None:
            return self._raise_or_return(replayed, Hold)
        hold = self._current(provider_ref)
        if hold.status == "released":
            return self._answer(idempotency_key, fingerprint, hold)
        if hold.status == "captured":
            raise PaymentError("bad_state", "cannot release a captured hold", provider_ref=provider_ref)
        released = replace(hold, status="released", expires_at=None)
        self._holds[provider_ref] = released
        return self._answer(idempotency_key, fingerprint, released)

    async def reauthorize_hold(self, provider_ref: str, *, idempotency_key: str) -> Hold:
        fingerprint: Fingerprint = ("reauthorize_hold", (provider_ref,))
        replayed = self._replay(idempotency_key, fingerprint)
        if replayed is not None:
            return self._raise_or_return(replayed, Hold)
        old = self._current(provider_ref)
        renewable = old.status == "held" or (
            old.status == "released" and provider_ref in self._lapsed_or_replaced
        )
        if not renewable:
            raise PaymentError(
                "bad_state", f"cannot re-authorise a {old.status} hold", provider_ref=provider_ref
            )
        new = self._authorize(old.deposit_id, old.amount, old.currency, old.payer_ref, replaces=provider_ref)
        if isinstance(new, Hold) and old.status == "held":
            self._holds[provider_ref] = replace(old, status="released", expires_at=None)
            self._lapsed_or_replaced.add(provider_ref)
        return self._answer(idempotency_key, fingerprint, new)

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
        fingerprint: Fingerprint = ("payout", (payout_id, payee_ref, amount, currency, transfer_group))
        replayed = self._replay(idempotency_key, fingerprint)
        if replayed is not None:
            return self._raise_or_return(replayed, Payout)
        ref = self._new_ref("payout")
        self.creations["payout"] += 1
        paid = Payout(
            provider_ref=ref,
            payout_id=payout_id,
            status="paid",
            payee_ref=payee_ref,
            amount=amount,
            currency=currency,
            transfer_group=transfer_group,
            instructions={"method": "memory", "provider_ref": ref},
        )
        self._payouts[ref] = paid
        return self._answer(idempotency_key, fingerprint, paid)
