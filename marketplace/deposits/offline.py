"""Offline bank transfer, the default gateway: instructions out, an operator's confirmation in.

Invariants this module keeps:

- A deposit's transfer reference is derived from its id alone (``DEP-`` + 10 upper-case base32
  characters of a SHA-256), so opening the same deposit twice — whatever the key — gives the same
  hold and the same reference the buyer writes on the transfer; a payout's is ``PAY-`` + 10 from
  the payout id, a refund's ``RFD-`` + 10 from the deposit id. Re-opening with other arguments
  (amount, currency, payer) is ``idempotency_key_reused``.
- A hold starts ``pending`` and becomes ``held`` only through :meth:`confirm_received` (the operator
  saw the money arrive). Release records refund instructions when money was received; capture is
  refused unless the money is ``held``. Nothing expires: ``needs_reauthorization`` is always false
  and ``reauthorize_hold`` returns the hold unchanged.
- A payout is ``instructed`` (the operator sends the transfer) until :meth:`confirm_sent`; the same
  payout id is never instructed twice.
- The gateway keeps no state of its own: every record lives in a :class:`TransferBook`. The
  in-memory :class:`MemoryTransferBook` is for tests; the service backs the book with a table
  (``encode_record``/``decode_hold``/``decode_payout`` in :mod:`marketplace.deposits.gateway`
  serialise a record) so confirmations survive restarts and are seen by every node.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from marketplace.deposits.gateway import (
    Hold,
    Instructions,
    PaymentError,
    Payout,
    check_amount,
    check_capture_amount,
)


class TransferBook(Protocol):
    """Where the offline gateway keeps its holds and payouts, by ``provider_ref``."""

    async def load(self, provider_ref: str) -> Hold | Payout | None: ...

    async def save(self, record: Hold | Payout) -> None: ...


class MemoryTransferBook:
    def __init__(self) -> None:
        self.records: dict[str, Hold | Payout] = {}

    async def load(self, provider_ref: str) -> Hold | Payout | None:
        return self.records.get(provider_ref)

    async def save(self, record: Hold | Payout) -> None:
        self.records[record.provider_ref] = record


def transfer_reference(prefix: str, domain_id: str) -> str:
    """``PREFIX-`` + 10 upper-case base32 characters (50 bits) of SHA-256 of the domain id."""
    digest = hashlib.sha256(f"{prefix}:{domain_id}".encode()).digest()
    return f"{prefix}-{base64.b32encode(digest).decode('ascii')[:10]}"


class OfflineTransferGateway:
    name = "offline"

    def __init__(
        self, account_name: str, account_no: str, bank_name: str, *, book: TransferBook | None = None
    ) -> None:
        self.account_name = account_name
        self.account_no = account_no
        self.bank_name = bank_name
        self.book: TransferBook = book if book is not None else MemoryTransferBook()

    def _exchange_account(self) -> dict[str, str]:
        return {"account_name": self.account_name, "account_no": self.account_no, "bank_name": self.bank_name}

    async def _hold(self, provider_ref: str) -> Hold:
        record = await self.book.load(provider_ref)
        if not isinstance(record, Hold):
            raise PaymentError("unknown_reference", f"no deposit with transfer reference {provider_ref!r}")
        return record

    async def _payout(self, provider_ref: str) -> Payout:
        record = await self.book.load(provider_ref)
        if not isinstance(record, Payout):
            raise PaymentError("unknown_reference", f"no payout with transfer reference {provider_ref!r}")
        return record

    async def open_hold(
        self, *, deposit_id: str, amount: int, currency: str, payer_ref: str, idempotency_key: str
    ) -> Hold:
        check_amount(amount, currency)
        reference = transfer_reference("DEP", deposit_id)
        existing = await self.book.load(reference)
        if existing is not None:
            if isinstance(existing, Hold) and (
                (existing.deposit_id, existing.amount, existing.currency, existing.payer_ref)
                == (deposit_id, amount, currency, payer_ref)
            ):
                return existing
            raise PaymentError(
                "idempotency_key_reused", f"deposit {deposit_id} was already opened with other terms"
            )
        instructions: Instructions = {
            "method": "bank_transfer",
            "direction": "to_exchange",
            "reference": reference,
            **self._exchange_account(),
            "amount": amount,
            "currency": currency,
            "payer_ref": payer_ref,
        }
        hold = Hold(
            provider_ref=reference,
            deposit_id=deposit_id,
            status="pending",
            amount=amount,
            currency=currency,
            payer_ref=payer_ref,
            instructions=instructions,
        )
        await self.book.save(hold)
        return hold

    async def get_hold(self, provider_ref: str) -> Hold:
        return await self._hold(provider_ref)

    async def confirm_received(self, provider_ref: str) -> Hold:
        """The operator saw the transfer arrive on the exchange's account: the deposit is held."""
        hold = await self._hold(provider_ref)
        if hold.status == "held":
            return hold
        if hold.status != "pending":
            raise PaymentError(
                "bad_state", f"cannot confirm a {hold.status} deposit", provider_ref=provider_ref
            )
        held = replace(hold, status="held")
        await self.book.save(held)
        return held

    async def capture_hold(self, provider_ref: str, *, amount: int | None, idempotency_key: str) -> Hold:
        hold = await self._hold(provider_ref)
        if hold.status == "captured":
            return hold
        if hold.status != "held":
            raise PaymentError(
                "bad_state", f"cannot capture a {hold.status} deposit", provider_ref=provider_ref
            )
        taken = check_capture_amount(hold, amount)
        instructions: Instructions = {"method": "bank_transfer", "applied_to_price": taken}
        if taken < hold.amount:
            instructions = {**instructions, **self._refund(hold, hold.amount - taken)}
        captured = replace(hold, status="captured", captured_amount=taken, instructions=instructions)
        await self.book.save(captured)
        return captured

    def _refund(self, hold: Hold, amount: int) -> Instructions:
        return {
            "method": "bank_transfer",
            "direction": "refund",
            "reference": transfer_reference("RFD", hold.deposit_id),
            **{f"from_{key}": value for key, value in self._exchange_account().items()},
            "refund_to": hold.payer_ref,
            "amount": amount,
            "currency": hold.currency,
        }

    async def release_hold(self, provider_ref: str, *, idempotency_key: str) -> Hold:
        hold = await self._hold(provider_ref)
        if hold.status == "released":
            return hold
        if hold.status == "captured":
            raise PaymentError("bad_state", "cannot release a captured deposit", provider_ref=provider_ref)
        nothing_to_refund: Instructions = {"method": "bank_transfer", "direction": "none", "refund_due": 0}
        instructions = self._refund(hold, hold.amount) if hold.status == "held" else nothing_to_refund
        released = replace(hold, status="released", instructions=instructions)
        await self.book.save(released)
        return released

    async def reauthorize_hold(self, provider_ref: str, *, idempotency_key: str) -> Hold:
        return await self._hold(provider_ref)

    def needs_reauthorization(self, hold: Hold, close_at: datetime) -> bool:
        return False

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
        reference = transfer_reference("PAY", payout_id)
        existing = await self.book.load(reference)
        if existing is not None:
            terms = (payout_id, payee_ref, amount, currency, transfer_group)
            if isinstance(existing, Payout) and terms == (
                existing.payout_id,
                existing.payee_ref,
                existing.amount,
                existing.currency,
                existing.transfer_group,
            ):
                return existing
            raise PaymentError(
                "idempotency_key_reused", f"payout {payout_id} was already made with other terms"
            )
        instructed = Payout(
            provider_ref=reference,
            payout_id=payout_id,
            status="instructed",
            payee_ref=payee_ref,
            amount=amount,
            currency=currency,
            transfer_group=transfer_group,
            instructions={
                "method": "bank_transfer",
                "direction": "from_exchange",
                "reference": reference,
                **{f"from_{key}": value for key, value in self._exchange_account().items()},
                "payee_ref": payee_ref,
                "amount": amount,
                "currency": currency,
                "transfer_group": transfer_group,
            },
        )
        await self.book.save(instructed)
        return instructed

    async def confirm_sent(self, provider_ref: str) -> Payout:
        """The operator made the outgoing transfer: the payout is paid."""
        payout = await self._payout(provider_ref)
        if payout.status == "paid":
            return payout
        paid = replace(payout, status="paid")
        await self.book.save(paid)
        return paid
