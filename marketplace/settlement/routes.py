"""Settlement API (api.md → Settlement): preview, settle, royalties, the statement in three formats.

Settling and recording a royalty run in two units of work: the settlement (statement, ledger,
listing status, queued payouts) commits first; then the payouts are sent under their row locks
and posted, and the request's own commit records them. A crash in between leaves queued payouts
that the next call (a retry of the same request) sends, with the same idempotency keys.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Final

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.context import AppContext
from marketplace.deps import Caller, Ctx, Db, require
from marketplace.errors import Invalid
from marketplace.offers.schemas import RoyaltyIn
from marketplace.settlement import statements
from marketplace.settlement.calculator import Case, Statement, compute_statement
from marketplace.settlement.models import Settlement
from marketplace.settlement.service import (
    SettlementPolicy,
    issue_payouts,
    record_royalty,
    settle_listing,
)


async def _send_payouts(db: AsyncSession, ctx: AppContext, settlement: Settlement) -> None:
    settlement_id = settlement.id
    await db.commit()
    if ctx.settings.is_sqlite:
        await db.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
    await issue_payouts(db, ctx.services["gateways"], settlement_id)


class SettlementController(Controller):
    path = "/api"
    tags = ["settlement"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/settlement/preview",
        status_code=200,
        summary="The statement a case would produce (pure; strict JSON types, 422 for any invalid case)",
    )
    async def preview(
        self, data: JSONBody[Case], request: Request[Any, Any, Any], principal: Caller
    ) -> Statement:
        require(principal)
        try:
            case = msgspec.json.decode(await request.body(), type=Case, strict=True)
        except msgspec.ValidationError as exc:
            raise Invalid("invalid_input", str(exc)) from exc
        return compute_statement(case)

    @post(
        "/listings/{listing_id:uuid}/settle",
        status_code=200,
        summary="Settle a sold listing: statement, ledger, payouts (operator)",
    )
    async def settle(
        self, listing_id: FromPath[uuid.UUID], db: Db, ctx: Ctx, principal: Caller
    ) -> statements.SettlementOut:
        policy = SettlementPolicy.from_settings(ctx.settings)
        settlement = await settle_listing(db, principal, listing_id, policy)
        await _send_payouts(db, ctx, settlement)
        return await statements.statement_view(db, principal, listing_id)

    @post(
        "/offers/{offer_id:uuid}/royalties",
        status_code=200,
        summary="Record licence income; it settles by the listing's ratios (operator)",
    )
    async def royalties(
        self, offer_id: FromPath[uuid.UUID], data: JSONBody[RoyaltyIn], db: Db, ctx: Ctx, principal: Caller
    ) -> statements.SettlementOut:
        policy = SettlementPolicy.from_settings(ctx.settings)
        settlement = await record_royalty(db, principal, offer_id, data, policy)
        listing_id = settlement.listing_id
        await _send_payouts(db, ctx, settlement)
        return await statements.statement_view(db, principal, listing_id)

    @get(
        "/listings/{listing_id:uuid}/settlement",
        summary="The settlement statement (owning bank, settlement parties, operators)",
    )
    async def statement(
        self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller
    ) -> statements.SettlementOut:
        return await statements.statement_view(db, principal, listing_id)

    @get(
        "/listings/{listing_id:uuid}/settlement.csv",
        summary="The settlement statement as CSV (UTF-8 with BOM)",
        media_type="text/csv",
    )
    async def statement_csv(
        self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller
    ) -> Response[bytes]:
        view = await statements.statement_view(db, principal, listing_id)
        return _download(
            statements.statement_csv(view), "text/csv; charset=utf-8", f"settlement-{listing_id}.csv"
        )

    @get(
        "/listings/{listing_id:uuid}/settlement.pdf",
        summary="The settlement statement as PDF",
        media_type="application/pdf",
    )
    async def statement_pdf(
        self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller
    ) -> Response[bytes]:
        view = await statements.statement_view(db, principal, listing_id)
        content = await asyncio.to_thread(_render_pdf, view)
        return _download(content, "application/pdf", f"settlement-{listing_id}.pdf")


def _render_pdf(view: statements.SettlementOut) -> bytes:
    return statements.statement_pdf(view, statements.find_cjk_font())


def _download(content: bytes, media_type: str, filename: str) -> Response[bytes]:
    headers: dict[str, Any] = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content, media_type=media_type, headers=headers)


SETTLEMENT_CONTROLLERS: Final = (SettlementController,)
