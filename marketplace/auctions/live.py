"""Wiring of the live side: the sequencer, fan-out through Litestar Channels, the closing loop.

Invariants:
- events are published on channel ``auction:{id}`` only after their commit (the sequencer calls
  :meth:`LiveAuctions.publish` after answering the batch); on Redis this reaches every node;
- if publishing fails (Redis down), nothing is lost: watchers fill gaps from the stored log and
  reconnecting clients resume with ``after_seq``;
- the closing loop runs on every node; closes and opens go through the same sequencer and row
  lock as bids, so a round is closed once whichever nodes run (a second close is refused by the
  engine as ``already_closed`` and ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import structlog
from litestar.channels import ChannelsPlugin

from auction.errors import AuctionError
from auction.feed import EventSource, LotHub, Message, Watcher, next_mark
from auction.sequencer import Sequencer
from marketplace.auctions import service
from marketplace.auctions.bidwriter import PgBidWriter
from marketplace.auctions.store import LifecycleCommand, LotCommand, Result, SqlLotStore, feed_message
from marketplace.context import AppContext
from marketplace.db import session_scope, utcnow
from marketplace.resilience import FEED_RESUMED, catch_up

log = structlog.get_logger("marketplace.live")

REAUTHORIZE_EVERY_SECONDS = 60.0


def channel_name(auction_id: str) -> str:
    return f"auction:{auction_id}"


class DbEventSource(EventSource):
    """Snapshots and stored events for the live feed. A watcher that says when it joined the hub
    (``joined_mark``) shares a snapshot read of its lot that began after it joined: a burst of
    slow watchers resyncing at once, or of clients connecting, costs one query per burst, not one
    each. A read that began before the watcher joined is never shared with it: an event published
    in between (perhaps the close) would be in neither the read nor the watcher's feed."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._reading: dict[str, tuple[int, asyncio.Future[Message]]] = {}
        self.reads = 0

    async def snapshot(self, lot_id: str, *, joined_mark: int | None = None) -> Message:
        current = self._reading.get(lot_id)
        if current is None or joined_mark is None or current[0] < joined_mark:
            mark = next_mark()  # before the read begins: it sees everything up to this mark
            reading = asyncio.ensure_future(self._read_snapshot(lot_id))
            reading.add_done_callback(functools.partial(self._read_done, lot_id))
            self._reading[lot_id] = current = (mark, reading)
        return dict(await asyncio.shield(current[1]))

    def _read_done(self, lot_id: str, done: asyncio.Future[Message]) -> None:
        current = self._reading.get(lot_id)
        if current is not None and current[1] is done:
            del self._reading[lot_id]
        if not done.cancelled():
            done.exception()  # seen, even if every caller went away

    async def _read_snapshot(self, lot_id: str) -> Message:
        self.reads += 1
        async with self._ctx.sessionmaker() as session:
            row = await service.get_auction(session, uuid.UUID(lot_id))
            out = service.auction_out(row, utcnow())
        return msgspec.to_builtins(out)  # type: ignore[no-any-return]

    async def events_after(self, lot_id: str, after_seq: int, limit: int) -> Sequence[Message]:
        async with self._ctx.sessionmaker() as session:
            rows = await service.events_after(session, uuid.UUID(lot_id), after_seq, limit)
            return [feed_message(r) for r in rows]


class LiveAuctions:
    def __init__(self, ctx: AppContext, channels: ChannelsPlugin) -> None:
        self.ctx = ctx
        self.channels = channels
        self.bids_writer = None if ctx.settings.is_sqlite else PgBidWriter(ctx.settings.database_url)
        self.store = SqlLotStore(
            ctx.sessionmaker,
            is_sqlite=ctx.settings.is_sqlite,
            on_close=service.on_close,
            bids=self.bids_writer,
        )
        self.sequencer: Sequencer[LotCommand, Result] = Sequencer(self.store, self.publish)
        self.source = DbEventSource(ctx)
        self.standings = service.HeldStandings()
        self._loop_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._last_reauthorization = 0.0
        self._hubs: dict[str, tuple[LotHub, Any, asyncio.Task[None]]] = {}
        self._hub_lock = asyncio.Lock()

    async def join(self, lot_id: str, watcher: Watcher) -> None:
        """Attach a watcher to the lot's hub, subscribing the process first if needed."""
        async with self._hub_lock:
            entry = self._hubs.get(lot_id)
            if entry is None:
                hub = LotHub(lot_id)
                subscriber = await self.channels.subscribe([channel_name(lot_id)])
                task = asyncio.create_task(self._relay(hub, subscriber, self.source), name=f"hub:{lot_id}")
                entry = self._hubs[lot_id] = (hub, subscriber, task)
            entry[0].watchers.add(watcher)
            watcher.mark_joined()

    async def leave(self, lot_id: str, watcher: Watcher) -> None:
        async with self._hub_lock:
            entry = self._hubs.get(lot_id)
            if entry is None:
                return
            hub, subscriber, task = entry
            hub.watchers.discard(watcher)
            if not hub.watchers:
                del self._hubs[lot_id]
                hub.close()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                with contextlib.suppress(Exception):
                    await self.channels.unsubscribe(subscriber)

    @staticmethod
    async def _relay(hub: LotHub, subscriber: Any, source: EventSource) -> None:
        async for raw in subscriber.iter_events():
            try:
                if raw == FEED_RESUMED:
                    await catch_up(hub, source)
                    continue
                hub.dispatch(raw)
            except Exception:
                log.exception("bad live message dropped; watchers fill gaps from the log")

    async def publish(self, lot_id: str, events: Sequence[dict[str, Any]]) -> None:
        if any(event.get("type") in ("closed", "defaulted") for event in events):
            task = asyncio.create_task(self.release_deposits(), name=f"release:{lot_id}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        payload = msgspec.json.encode(list(events))
        self.channels.publish(payload, [channel_name(lot_id)])

    async def tick(self) -> None:
        """One pass of the closing loop: open and close what is due, release deposits."""
        async for session in session_scope(self.ctx.sessionmaker):
            due = await service.due_lots(session, utcnow())
        for auction_id, action in due:
            try:
                await self.sequencer.submit(str(auction_id), LifecycleCommand(action))
            except AuctionError as exc:
                if exc.code not in ("already_closed", "not_due", "auction_not_open", "already_open"):
                    log.warning("lifecycle command refused", auction_id=str(auction_id), code=exc.code)
        await self.release_deposits()
        if time.monotonic() - self._last_reauthorization >= REAUTHORIZE_EVERY_SECONDS:
            self._last_reauthorization = time.monotonic()
            async for session in session_scope(self.ctx.sessionmaker):
                await service.reauthorize_expiring(session, self.ctx.services["gateways"])

    async def release_deposits(self) -> None:
        """Release the deposits a close or default marked ``releasing`` (idempotent, retried each tick)."""
        try:
            async for session in session_scope(self.ctx.sessionmaker):
                await service.release_deposits(session, self.ctx.services["gateways"])
        except Exception:
            log.exception("releasing deposits failed; the closing loop retries")

    async def _run(self) -> None:
        interval = self.ctx.settings.scheduler_interval_seconds
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("closing loop pass failed; retrying")
            await asyncio.sleep(interval)

    def start(self) -> None:
        if self.ctx.settings.scheduler_enabled and self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="closing-loop")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.sequencer.aclose()
        if self.bids_writer is not None:
            await self.bids_writer.aclose()
