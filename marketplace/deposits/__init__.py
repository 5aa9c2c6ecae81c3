"""Deposits (保证金) and payouts through a payment gateway: offline bank transfer, Stripe, in memory.

This package holds no database code: the deposit service stores holds and payouts and calls a
:class:`PaymentGateway`; every implementation passes the one contract test suite.
"""

from marketplace.deposits.gateway import (
    DEFAULT_REAUTHORIZATION_MARGIN,
    PAYMENT_ERROR_CODES,
    Hold,
    HoldStatus,
    PaymentError,
    PaymentGateway,
    Payout,
    PayoutStatus,
    decode_hold,
    decode_payout,
    encode_record,
    expires_before_close,
    idempotency_key_for,
)
from marketplace.deposits.memory import InMemoryGateway
from marketplace.deposits.offline import MemoryTransferBook, OfflineTransferGateway, TransferBook
from marketplace.deposits.stripe_gateway import StripeGateway
from marketplace.deposits.webhooks import (
    GatewayEvent,
    MemorySeenEvents,
    SeenEvents,
    handle,
    is_stale,
    parse_event,
)

__all__ = [
    "DEFAULT_REAUTHORIZATION_MARGIN",
    "PAYMENT_ERROR_CODES",
    "GatewayEvent",
    "Hold",
    "HoldStatus",
    "InMemoryGateway",
    "MemorySeenEvents",
    "MemoryTransferBook",
    "OfflineTransferGateway",
    "PaymentError",
    "PaymentGateway",
    "Payout",
    "PayoutStatus",
    "SeenEvents",
    "StripeGateway",
    "TransferBook",
    "decode_hold",
    "decode_payout",
    "encode_record",
    "expires_before_close",
    "handle",
    "idempotency_key_for",
    "is_stale",
    "parse_event",
]
