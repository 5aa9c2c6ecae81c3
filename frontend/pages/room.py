"""The live auction room: the page around ``live.js``.

Invariants:
- the page renders the round as the API shows it (``auction_out``, the accepted bids) and hands
  the script the same snapshot with its ``seq``; the script then follows
  ``/ws/auctions/{id}?after_seq=<seq>``, so no event between the render and the connection is lost;
- bids go from the script straight to ``POST /api/auctions/{id}/bids`` (with the CSRF token and an
  ``Idempotency-Key``): the page adds no rule of its own, every refusal is the engine's;
- registration goes through the auctions service (idempotent: registering twice returns the
  first registration and its deposit).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from frontend.i18n import script_messages
from frontend.pages import data
from frontend.pages.base import (
    PAGE_EXCEPTION_HANDLERS,
    PageDep,
    error_fragment,
    provide_page,
    render,
    require_htmx,
)
from marketplace.auctions import service as auctions
from marketplace.db import utcnow
from marketplace.deps import Ctx, Db, require
from marketplace.errors import DomainError
from marketplace.listings.service import get_listing

SCRIPT_KEYS: Final = (
    "room.no_bids",
    "room.you_lead",
    "room.ended",
    "room.ends_in",
    "room.starts_in",
    "room.extensions",
    "room.extended_note",
    "room.bids_count",
    "room.connected",
    "room.reconnecting",
    "room.bid_accepted",
    "room.confirm_large",
    "room.outcome_sold",
    "room.outcome_failed",
    "room.outcome_defaulted",
    "room.chart_empty",
    "room.plus_n",
    "room.chart",
    "astatus.scheduled",
    "astatus.open",
    "astatus.closed",
    "astatus.failed",
    "astatus.sold",
    "astatus.defaulted",
)


class RoomPages(Controller):
    dependencies = {"page": Provide(provide_page)}  # noqa: RUF012 - Litestar reads it as a class attribute
    exception_handlers = PAGE_EXCEPTION_HANDLERS
    include_in_schema = False

    @get("/auctions/{auction_id:uuid}")
    async def room(self, auction_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Template:
        row = await auctions.get_auction(db, auction_id)
        snapshot = auctions.auction_out(row, utcnow())
        listing = await get_listing(db, snapshot.listing_id, page.principal)
        bids = await auctions.list_bids(db, auction_id)
        standing = await data.my_standing(db, auction_id, page.principal)
        return render(
            page,
            "room/room.html",
            auction=snapshot,
            listing=listing,
            bids=bids,
            standing=standing,
            snapshot_json=msgspec.json.encode(snapshot).decode(),
            bids_json=msgspec.json.encode(bids).decode(),
            messages_json=msgspec.json.encode(script_messages(page.lang, SCRIPT_KEYS)).decode(),
        )

    @get("/auctions/{auction_id:uuid}/registration")
    async def registration(self, auction_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Response[Any]:
        """The caller's registration, refreshed while the deposit is pending (204: nothing to show)."""
        standing = await data.my_standing(db, auction_id, page.principal)
        if standing is None:
            return Response(b"", status_code=204)
        auction = auctions.auction_out(await auctions.get_auction(db, auction_id), utcnow())
        return render(
            page,
            "room/_registration.html",
            standing=standing,
            registration=standing.registration,
            auction=auction,
        )

    @post("/auctions/{auction_id:uuid}/register", status_code=200)
    async def register(
        self,
        auction_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        page: PageDep,
        db: Db,
        ctx: Ctx,
    ) -> Response[Any]:
        require_htmx(request)
        try:
            buyer = require(page.principal)
            registration = await auctions.register(
                db, data.gateway(ctx, "offline", db), auction_id, buyer, "offline"
            )
            auction = auctions.auction_out(await auctions.get_auction(db, auction_id), utcnow())
        except DomainError as exc:
            return error_fragment(page, exc)
        standing = data.Standing(
            registration.bidder_code, registration.deposit.status == "held", registration
        )
        return render(
            page, "room/_registration.html", standing=standing, registration=registration, auction=auction
        )
