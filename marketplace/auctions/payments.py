"""Payment gateways bound to the unit of work: the offline gateway's book lives in the database.

Invariant: every gateway record written while handling a request is written by the request's own
session, so it commits or rolls back with the deposit it belongs to (and, on SQLite, never waits
behind the request's own write lock).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.auctions.models import TransferRecord
from marketplace.deposits.gateway import Hold, Payout, decode_hold, decode_payout, encode_record
from marketplace.deposits.offline import OfflineTransferGateway
from marketplace.settings import Settings

EXCHANGE_ACCOUNT = (
    "示范知识产权交易所 保证金专户 (demo escrow)",
    "6222 0000 0000 0000 001",
    "示范银行 Demo Bank",
)


class SqlTransferBook:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, provider_ref: str) -> Hold | Payout | None:
        row = await self.session.get(TransferRecord, provider_ref)
        if row is None:
            return None
        return decode_hold(row.data) if row.kind == "hold" else decode_payout(row.data)

    async def save(self, record: Hold | Payout) -> None:
        row = await self.session.get(TransferRecord, record.provider_ref)
        data = encode_record(record).decode()
        kind = "hold" if isinstance(record, Hold) else "payout"
        if row is None:
            self.session.add(TransferRecord(provider_ref=record.provider_ref, kind=kind, data=data))
        else:
            row.data = data
        await self.session.flush()


GatewayFactory = Callable[[str, AsyncSession], Any]


def gateway_factory(settings: Settings) -> GatewayFactory:
    """``factory(method, session)`` → the gateway for that payment method, or ``None``."""
    stripe_gateway: Any = None
    if settings.payments == "stripe" and settings.stripe_api_key:
        from marketplace.deposits.stripe_gateway import StripeGateway

        stripe_gateway = StripeGateway(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            webhook_secret=settings.stripe_webhook_secret,
        )

    def factory(method: str, session: AsyncSession) -> Any:
        if method == "offline":
            return OfflineTransferGateway(*EXCHANGE_ACCOUNT, book=SqlTransferBook(session))
        if method == "stripe":
            return stripe_gateway
        return None

    return factory
