"""The buyer's area: identity, registrations and deposits, auctions, lots won and their confirmations.

Invariants:
- only buyers see it (``wrong_role`` otherwise), and only their own registrations;
- the sale confirmation is the auctions service's (``confirmation``), which shows the winner's
  real identity to the winner, the listing bank and operators only.
"""

from __future__ import annotations

import uuid

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from frontend.pages import data
from frontend.pages.base import PAGE_EXCEPTION_HANDLERS, PageDep, provide_page, render
from marketplace.accounts import service as accounts
from marketplace.auctions import service as auctions
from marketplace.deps import Db, require


class BuyerPages(Controller):
    path = "/me"
    dependencies = {"page": Provide(provide_page)}  # noqa: RUF012 - Litestar reads it as a class attribute
    exception_handlers = PAGE_EXCEPTION_HANDLERS
    include_in_schema = False

    @get("/")
    async def area(self, page: PageDep, db: Db) -> Template:
        buyer = require(page.principal, "buyer")
        user = await accounts.get_user(db, buyer.user_id)
        entries = await data.my_auctions(db, buyer)
        won = [entry for entry in entries if entry.confirmation is not None]
        return render(
            page,
            "buyer/index.html",
            user=user,
            entries=entries,
            won=won,
        )

    @get("/confirmations/{auction_id:uuid}")
    async def confirmation(self, auction_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Template:
        require(page.principal)
        found = await auctions.confirmation(db, auction_id, page.principal)
        row = await auctions.get_auction(db, auction_id)
        lot = await data.listing_for(db, row.listing_id, page.principal)
        return render(page, "buyer/confirmation.html", c=found, lot=lot)
