"""The payment gateway protocol: deposit holds (保证金) and settlement payouts, as value types.

Invariants this module keeps (every implementation — offline transfer, Stripe, in-memory — passes
the one contract suite in ``tests/deposits/test_gateway_contract.py``):

- Amounts are positive ``int`` minor units (fen for CNY) with an upper-case ISO currency; a zero or
  negative amount is refused with ``bad_amount`` before anything is sent. A party that still owes
  the bank (negative receives in a settlement) gets a payable in the ledger, never a payout.
- Every call that moves money takes an ``idempotency_key`` built by :func:`idempotency_key_for` from
  domain ids, so a retry after a timeout (same key, same arguments) returns the first result and
  creates nothing twice; the same key with different arguments is ``idempotency_key_reused``.
- A hold moves ``pending``/``requires_action`` → ``held`` → ``captured`` or ``released``; the last
  two are final. Capturing a captured hold or releasing a released one returns it unchanged (a
  retry is never an error); capturing a released hold, or releasing a captured one, is
  ``bad_state``.
- A hold that would lapse before the close (card authorisations last about 7 days) is flagged by
  :func:`expires_before_close`; ``reauthorize_hold`` replaces it with a new hold whose
  ``replaces`` names the old one, and the caller stores the new ``provider_ref``.
- Every failure is a :class:`PaymentError` with a stable ``code`` from :data:`PAYMENT_ERROR_CODES`
  and a human ``detail``; no HTTP status is attached here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

import msgspec

from marketplace.errors import DomainError
from marketplace.money import CURRENCIES

HoldStatus = Literal["pending", "held", "released", "captured", "failed", "requires_action"]
PayoutStatus = Literal["instructed", "paid", "pending", "failed"]
InstructionValue = str | int | bool | None
Instructions = Mapping[str, InstructionValue]

FINAL_HOLD_STATUSES: frozenset[HoldStatus] = frozenset({"released", "captured"})

DEFAULT_REAUTHORIZATION_MARGIN = timedelta(hours=24)
"""How long before ``close_at`` a hold must still be valid: soft-close extensions and the capture
of the winner's deposit right after the hammer both happen inside this window."""

PAYMENT_ERROR_CODES: frozenset[str] = frozenset(
    {
        "payment_declined",
        "gateway_unavailable",
        "bad_state",
        "invalid_signature",
        "invalid_payload",
        "bad_amount",
        "bad_currency",
        "idempotency_key_reused",
        "unknown_reference",
        "unknown_payee",
        "gateway_rejected",
    }
)


class PaymentError(DomainError):
    """A payment operation that did not happen; ``code`` is one of :data:`PAYMENT_ERROR_CODES`."""

    def __init__(self, code: str, detail: str = "", *, provider_ref: str | None = None) -> None:
        if code not in PAYMENT_ERROR_CODES:
            raise ValueError(f"unknown payment error code {code!r}")
        extra = {"provider_ref": provider_ref} if provider_ref else {}
        super().__init__(code, detail, **extra)
        self.provider_ref = provider_ref


@dataclass(frozen=True, slots=True)
class Hold:
    """A deposit as the gateway sees it: money promised, held, then captured or released."""

    provider_ref: str
    deposit_id: str
    status: HoldStatus
    amount: int
    currency: str
    payer_ref: str = ""
    instructions: Instructions = field(default_factory=dict)
    expires_at: datetime | None = None
    captured_amount: int = 0
    replaces: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_HOLD_STATUSES


@dataclass(frozen=True, slots=True)
class Payout:
    """Proceeds sent (or instructed) to one settlement party."""

    provider_ref: str
    payout_id: str
    status: PayoutStatus
    payee_ref: str
    amount: int
    currency: str
    transfer_group: str
    instructions: Instructions = field(default_factory=dict)


@runtime_checkable
class PaymentGateway(Protocol):
    """What the deposit and settlement services call; see the module docstring for the contract."""

    @property
    def name(self) -> str: ...

    async def open_hold(
        self, *, deposit_id: str, amount: int, currency: str, payer_ref: str, idempotency_key: str
    ) -> Hold: ...

    async def get_hold(self, provider_ref: str) -> Hold: ...

    async def capture_hold(self, provider_ref: str, *, amount: int | None, idempotency_key: str) -> Hold: ...

    async def release_hold(self, provider_ref: str, *, idempotency_key: str) -> Hold: ...

    async def reauthorize_hold(self, provider_ref: str, *, idempotency_key: str) -> Hold: ...

    def needs_reauthorization(self, hold: Hold, close_at: datetime) -> bool: ...

    async def payout(
        self,
        *,
        payout_id: str,
        payee_ref: str,
        amount: int,
        currency: str,
        transfer_group: str,
        idempotency_key: str,
    ) -> Payout: ...


def idempotency_key_for(kind: str, *domain_ids: str | int | uuid.UUID) -> str:
    """``kind:id1:id2…`` — the same domain operation always gets the same key, different ones never do.

    ``idempotency_key_for("deposit-hold", deposit_id)``,
    ``idempotency_key_for("payout", settlement_id, party)``. Parts may not be empty or contain
    ``:`` (that keeps the mapping one-to-one); the key is at most 255 characters, Stripe's limit.
    """
    parts = [kind, *(str(part) for part in domain_ids)]
    if not domain_ids:
        raise ValueError("an idempotency key needs at least one domain id")
    for part in parts:
        if not part or ":" in part or not part.isprintable() or part != part.strip():
            raise ValueError(f"idempotency key part {part!r} is empty or contains ':' or spaces at its ends")
    key = ":".join(parts)
    if len(key) > 255:
        raise ValueError("idempotency key longer than 255 characters")
    return key


def expires_before_close(
    hold: Hold, close_at: datetime, margin: timedelta = DEFAULT_REAUTHORIZATION_MARGIN
) -> bool:
    """Whether a held deposit would lapse before ``close_at + margin`` (and so must be re-authorised)."""
    if close_at.tzinfo is None:
        raise ValueError("close_at must be timezone-aware")
    if hold.status != "held" or hold.expires_at is None:
        return False
    return hold.expires_at < close_at + margin


def check_amount(amount: int, currency: str) -> None:
    """Refuse non-positive or non-integer amounts and unknown currencies with a :class:`PaymentError`."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise PaymentError("bad_amount", f"amount must be a positive integer in minor units, not {amount!r}")
    if currency not in CURRENCIES:
        raise PaymentError(
            "bad_currency", f"currency {currency!r} is not one of {', '.join(sorted(CURRENCIES))}"
        )


def check_capture_amount(hold: Hold, amount: int | None) -> int:
    """The amount a capture takes: all of the hold by default, never more than it."""
    if amount is None:
        return hold.amount
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= hold.amount:
        raise PaymentError(
            "bad_amount", f"capture amount must be between 1 and {hold.amount}, not {amount!r}"
        )
    return amount


def encode_record(record: Hold | Payout) -> bytes:
    """JSON for storing a hold or payout (e.g. the offline gateway's book backed by a table)."""
    return msgspec.json.encode(record)


def decode_hold(data: bytes | str) -> Hold:
    return msgspec.json.decode(data, type=Hold)


def decode_payout(data: bytes | str) -> Payout:
    return msgspec.json.decode(data, type=Payout)
