"""Auction API (api.md → Auctions) and the live feed websocket."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from litestar import Controller, Request, WebSocket, get, post, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromHeader, FromPath, FromQuery, JSONBody
from litestar.types import Send

from auction.errors import AuctionError
from auction.feed import Watcher
from auction.rules import get_profile
from marketplace.accounts.security import Principal
from marketplace.auctions import service
from marketplace.auctions.live import LiveAuctions
from marketplace.auctions.schemas import (
    AuctionOut,
    BidIn,
    BidOut,
    BidRow,
    ConfirmationOut,
    DepositOut,
    LogOut,
    RegistrationIn,
    RegistrationOut,
    ScheduleIn,
)
from marketplace.auctions.store import LifecycleCommand
from marketplace.db import utcnow
from marketplace.deps import Caller, Ctx, Db, require
from marketplace.errors import DomainError, Invalid
from marketplace.ratelimit import admit_connection, check_bid, release_connection

IdempotencyKey = FromHeader[str | None]


def _live(ctx: Any) -> LiveAuctions:
    live: LiveAuctions = ctx.services["live"]
    return live


async def place_bid(
    ctx: Any,
    connection: Any,
    buyer: Principal,
    auction_id: uuid.UUID,
    amount: int,
    idempotency_key: str | None,
) -> BidOut:
    """A bid, from the rate limits to the sequencer's answer: the one body of ``POST …/bids``,
    whether Litestar routed the request or :mod:`marketplace.auctions.fastpath` took it."""
    await check_bid(ctx, connection, buyer.user_id)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 100:
        raise Invalid("invalid_input", "Idempotency-Key must be 1 to 100 characters")
    live = _live(ctx)
    command = await service.prepare_bid(
        ctx.sessionmaker, auction_id, buyer, amount, idempotency_key, live.standings
    )
    result = await service.submit(live.sequencer, auction_id, command)
    return service.bid_out(result)


class AuctionController(Controller):
    tags = ["auctions"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/api/listings/{listing_id:uuid}/auctions", status_code=201, summary="Schedule a round (operator)")
    async def schedule(
        self, listing_id: FromPath[uuid.UUID], data: JSONBody[ScheduleIn], db: Db, ctx: Ctx, principal: Caller
    ) -> AuctionOut:
        actor = require(principal, "operator")
        profile = get_profile(ctx.settings.auction_rules)
        auction = await service.schedule_round(db, profile, listing_id, data, actor)
        return service.auction_out(auction, utcnow())

    @get("/api/auctions/{auction_id:uuid}", summary="A round as it stands, with the server's time")
    async def show(self, auction_id: FromPath[uuid.UUID], db: Db) -> AuctionOut:
        return service.auction_out(await service.get_auction(db, auction_id), utcnow())

    @post(
        "/api/auctions/{auction_id:uuid}/registrations",
        status_code=201,
        summary="Register and open a deposit",
    )
    async def register(
        self,
        auction_id: FromPath[uuid.UUID],
        data: JSONBody[RegistrationIn],
        db: Db,
        ctx: Ctx,
        principal: Caller,
    ) -> RegistrationOut:
        buyer = require(principal)
        gateway = ctx.services["gateways"](data.payment, db)
        if gateway is None:
            raise Invalid(
                "payment_method_unavailable", f"{data.payment} deposits are not enabled on this exchange"
            )
        return await service.register(db, gateway, auction_id, buyer, data.payment)

    @post(
        "/api/deposits/{deposit_id:uuid}/confirm",
        status_code=200,
        summary="Confirm an offline deposit (operator)",
    )
    async def confirm_deposit(
        self, deposit_id: FromPath[uuid.UUID], db: Db, ctx: Ctx, principal: Caller
    ) -> DepositOut:
        actor = require(principal, "operator")
        return await service.confirm_deposit(db, ctx.services["gateways"]("offline", db), deposit_id, actor)

    @post("/api/auctions/{auction_id:uuid}/bids", status_code=201, summary="Place a bid")
    async def bid(
        self,
        request: Request[Any, Any, Any],
        auction_id: FromPath[uuid.UUID],
        data: JSONBody[BidIn],
        ctx: Ctx,
        principal: Caller,
        idempotency_key: FromHeader[str | None] = None,
    ) -> BidOut:
        return await place_bid(ctx, request, require(principal), auction_id, data.amount, idempotency_key)

    @get("/api/auctions/{auction_id:uuid}/bids", summary="Accepted bids in order (bidder codes only)")
    async def bids(self, auction_id: FromPath[uuid.UUID], db: Db) -> list[BidRow]:
        return await service.list_bids(db, auction_id)

    @get("/api/auctions/{auction_id:uuid}/log", summary="The hash-chained event log and its verification")
    async def event_log(self, auction_id: FromPath[uuid.UUID], db: Db) -> LogOut:
        return await service.event_log(db, auction_id)

    @post(
        "/api/auctions/{auction_id:uuid}/default",
        status_code=200,
        summary="Record the winner's default (operator)",
    )
    async def default(
        self, auction_id: FromPath[uuid.UUID], db: Db, ctx: Ctx, principal: Caller
    ) -> AuctionOut:
        actor = require(principal, "operator")
        await service.get_auction(db, auction_id)
        await db.rollback()
        await service.submit(
            _live(ctx).sequencer, auction_id, LifecycleCommand("default", str(actor.user_id))
        )
        return service.auction_out(await service.get_auction(db, auction_id), utcnow())

    @post(
        "/api/auctions/{auction_id:uuid}/close",
        status_code=200,
        summary="Close a round that is due (operator)",
    )
    async def close(self, auction_id: FromPath[uuid.UUID], db: Db, ctx: Ctx, principal: Caller) -> AuctionOut:
        require(principal, "operator")
        await service.get_auction(db, auction_id)
        await db.rollback()
        await service.submit(_live(ctx).sequencer, auction_id, LifecycleCommand("close"))
        return service.auction_out(await service.get_auction(db, auction_id), utcnow())

    @get("/api/auctions/{auction_id:uuid}/confirmation", summary="Sale confirmation (winner, bank, operator)")
    async def confirmation(
        self, auction_id: FromPath[uuid.UUID], db: Db, principal: Caller
    ) -> ConfirmationOut:
        return await service.confirmation(db, auction_id, principal)

    @post(
        "/api/auctions/{auction_id:uuid}/balance-paid",
        status_code=200,
        summary="Record the balance (operator)",
    )
    async def balance_paid(self, auction_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> AuctionOut:
        require(principal, "operator")
        auction = await service.record_balance_paid(db, auction_id)
        return service.auction_out(auction, utcnow())


@websocket("/ws/auctions/{auction_id:uuid}")
async def live_feed(
    socket: WebSocket[Any, Any, Any],
    auction_id: FromPath[uuid.UUID],
    ctx: Ctx,
    after_seq: FromQuery[int | None] = None,
    batch: FromQuery[bool] = False,
) -> None:
    """A snapshot, then every event after ``after_seq`` without gaps, each with ``server_time``.

    With ``batch=true`` every frame is a JSON array of those messages: the events of one short
    tick (20–100 ms, by audience) travel together: fewer frames for big audiences, nothing dropped.
    """
    live = _live(ctx)
    await socket.accept()
    if not admit_connection(ctx, socket):
        await socket.close(code=1008, reason="too many live connections from this address")
        return
    lot = str(auction_id)

    # the server's own send (fastpath.BidFastPath)
    raw_send: Send | None = socket.scope.get("mp_raw_send")  # type: ignore[assignment]

    async def send(text: str) -> None:
        if raw_send is None:
            await socket.send_data(text, mode="text")
            return
        if socket.connection_state == "disconnect":
            raise WebSocketDisconnect(detail="the client went away")
        await raw_send({"type": "websocket.send", "text": text, "bytes": None})

    watcher = Watcher(lot, live.source, send, batch=batch)
    await live.join(lot, watcher)
    try:
        try:
            await watcher.start(after_seq)
        except (AuctionError, DomainError):
            await socket.close(code=4404, reason="no such auction")
            return

        async def until_disconnect() -> None:
            while True:
                await socket.receive_data(mode="text")

        tasks = [asyncio.create_task(watcher.pump()), asyncio.create_task(until_disconnect())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    except WebSocketDisconnect:
        pass
    finally:
        release_connection(ctx, socket)
        await live.leave(lot, watcher)
        with contextlib.suppress(Exception):
            await socket.close()
