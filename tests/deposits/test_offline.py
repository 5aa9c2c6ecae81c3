"""The offline bank-transfer gateway: the instructions a buyer, a refund and a payout carry, and the
operator's confirmations — through a book that stores records as JSON, as a table would."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from marketplace.deposits import (
    Hold,
    OfflineTransferGateway,
    PaymentError,
    Payout,
    decode_hold,
    decode_payout,
    encode_record,
)
from marketplace.deposits.offline import transfer_reference

ACCOUNT = ("北京知识产权交易中心", "110-0000-0001", "Bank of Beijing")
REFERENCE = re.compile(r"^(DEP|PAY|RFD)-[A-Z2-7]{10}$")


class JsonBook:
    """A transfer book that keeps only encoded bytes, the way a table row would."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, bytes]] = {}

    async def load(self, provider_ref: str) -> Hold | Payout | None:
        row = self.rows.get(provider_ref)
        if row is None:
            return None
        kind, data = row
        return decode_hold(data) if kind == "hold" else decode_payout(data)

    async def save(self, record: Hold | Payout) -> None:
        self.rows[record.provider_ref] = (
            "hold" if isinstance(record, Hold) else "payout",
            encode_record(record),
        )


@pytest.fixture
def gateway() -> OfflineTransferGateway:
    return OfflineTransferGateway(*ACCOUNT, book=JsonBook())


async def _open(gateway: OfflineTransferGateway, deposit_id: str = "dep-1", key: str = "k1") -> Hold:
    return await gateway.open_hold(
        deposit_id=deposit_id, amount=50_000_00, currency="CNY", payer_ref="buyer-3", idempotency_key=key
    )


async def test_a_deposit_gets_transfer_instructions_with_a_unique_reference(
    gateway: OfflineTransferGateway,
) -> None:
    hold = await _open(gateway)
    assert hold.status == "pending"
    assert hold.expires_at is None
    assert REFERENCE.match(hold.provider_ref)
    assert hold.instructions == {
        "method": "bank_transfer",
        "direction": "to_exchange",
        "reference": hold.provider_ref,
        "account_name": ACCOUNT[0],
        "account_no": ACCOUNT[1],
        "bank_name": ACCOUNT[2],
        "amount": 50_000_00,
        "currency": "CNY",
        "payer_ref": "buyer-3",
    }


async def test_the_reference_follows_the_deposit_not_the_key(gateway: OfflineTransferGateway) -> None:
    first = await _open(gateway, "dep-1", key="k1")
    again = await _open(gateway, "dep-1", key="another-key")
    other = await _open(gateway, "dep-2", key="k1")
    assert again == first
    assert other.provider_ref != first.provider_ref


async def test_the_operator_confirms_receipt_once(gateway: OfflineTransferGateway) -> None:
    hold = await _open(gateway)
    held = await gateway.confirm_received(hold.provider_ref)
    assert held.status == "held"
    assert await gateway.confirm_received(hold.provider_ref) == held


async def test_a_released_deposit_cannot_be_confirmed(gateway: OfflineTransferGateway) -> None:
    hold = await _open(gateway)
    await gateway.release_hold(hold.provider_ref, idempotency_key="r")
    with pytest.raises(PaymentError) as caught:
        await gateway.confirm_received(hold.provider_ref)
    assert caught.value.code == "bad_state"


async def test_money_not_received_cannot_be_captured(gateway: OfflineTransferGateway) -> None:
    hold = await _open(gateway)
    with pytest.raises(PaymentError) as caught:
        await gateway.capture_hold(hold.provider_ref, amount=None, idempotency_key="c")
    assert caught.value.code == "bad_state"


@pytest.mark.parametrize(
    ("received", "refund"),
    [(False, None), (True, 50_000_00)],
    ids=["never-paid-nothing-to-refund", "paid-refunded-in-full"],
)
async def test_releasing_a_deposit_refunds_what_was_received(
    gateway: OfflineTransferGateway, received: bool, refund: int | None
) -> None:
    hold = await _open(gateway)
    if received:
        await gateway.confirm_received(hold.provider_ref)
    released = await gateway.release_hold(hold.provider_ref, idempotency_key="r")
    assert released.status == "released"
    if refund is None:
        assert released.instructions["refund_due"] == 0
        return
    assert released.instructions["amount"] == refund
    assert released.instructions["refund_to"] == "buyer-3"
    assert released.instructions["from_account_no"] == ACCOUNT[1]
    assert released.instructions["reference"] == transfer_reference("RFD", "dep-1")


async def test_a_partial_capture_refunds_the_rest(gateway: OfflineTransferGateway) -> None:
    hold = await gateway.confirm_received((await _open(gateway)).provider_ref)
    captured = await gateway.capture_hold(hold.provider_ref, amount=30_000_00, idempotency_key="c")
    assert captured.captured_amount == 30_000_00
    assert (captured.instructions["applied_to_price"], captured.instructions["amount"]) == (
        30_000_00,
        20_000_00,
    )


async def test_a_payout_is_instructed_then_confirmed_sent(gateway: OfflineTransferGateway) -> None:
    payout = await gateway.payout(
        payout_id="payout-bank",
        payee_ref="bank",
        amount=136_000_00,
        currency="CNY",
        transfer_group="settlement-1",
        idempotency_key="payout:settlement-1:bank",
    )
    assert payout.status == "instructed"
    assert REFERENCE.match(payout.provider_ref)
    assert payout.provider_ref.startswith("PAY-")
    assert (
        payout.instructions["payee_ref"],
        payout.instructions["amount"],
        payout.instructions["from_bank_name"],
    ) == (
        "bank",
        136_000_00,
        ACCOUNT[2],
    )
    paid = await gateway.confirm_sent(payout.provider_ref)
    assert paid.status == "paid"
    assert await gateway.confirm_sent(payout.provider_ref) == paid
    again = await gateway.payout(
        payout_id="payout-bank",
        payee_ref="bank",
        amount=136_000_00,
        currency="CNY",
        transfer_group="settlement-1",
        idempotency_key="payout:settlement-1:bank",
    )
    assert again.status == "paid"


async def test_the_same_payout_with_other_terms_is_refused(gateway: OfflineTransferGateway) -> None:
    terms = {"payout_id": "payout-1", "payee_ref": "bank", "currency": "CNY", "transfer_group": "s-1"}
    await gateway.payout(**terms, amount=100, idempotency_key="p")
    with pytest.raises(PaymentError) as caught:
        await gateway.payout(**terms, amount=200, idempotency_key="p")
    assert caught.value.code == "idempotency_key_reused"


@pytest.mark.parametrize("which", ["unknown", "a-hold-reference"])
async def test_confirming_a_payout_that_does_not_exist_is_unknown_reference(
    gateway: OfflineTransferGateway, which: str
) -> None:
    reference = (await _open(gateway)).provider_ref if which == "a-hold-reference" else "PAY-AAAAAAAAAA"
    with pytest.raises(PaymentError) as caught:
        await gateway.confirm_sent(reference)
    assert caught.value.code == "unknown_reference"


async def test_a_bank_transfer_never_needs_reauthorisation(gateway: OfflineTransferGateway) -> None:
    held = await gateway.confirm_received((await _open(gateway)).provider_ref)
    assert not gateway.needs_reauthorization(held, datetime(2099, 1, 1, tzinfo=UTC))
    assert await gateway.reauthorize_hold(held.provider_ref, idempotency_key="r") == held
