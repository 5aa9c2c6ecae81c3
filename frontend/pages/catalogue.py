"""The public catalogue and the lot page.

Invariants:
- the catalogue shows exactly what ``GET /api/listings`` would give the caller (the same
  service, the same visibility and filters); price filters are typed in yuan and passed on in fen;
- a card's "next auction" is the lot's earliest round that is scheduled or open, and its price
  that round's current price (or its starting price before the first bid); without a round the
  card shows the catalogue price (the valuation);
- the lot page shows the confidential parts (loan, pledge, ratios) only when the service includes
  them, and the data room only through the data-room service (after the NDA for buyers).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any, Final

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from frontend.formatting import FormValueError, parse_amount
from frontend.pages import data
from frontend.pages.base import (
    PAGE_EXCEPTION_HANDLERS,
    Page,
    PageDep,
    error_fragment,
    provide_page,
    render,
    require_htmx,
)
from marketplace.auctions.schemas import AuctionOut
from marketplace.deps import Db
from marketplace.errors import DomainError
from marketplace.listings import dataroom
from marketplace.listings.catalogue import CatalogueQuery, search_listings
from marketplace.listings.models import PUBLISHED_STATUSES
from marketplace.listings.schemas import ListingSummary
from marketplace.listings.service import get_listing, listing_out
from registry_adapters.base import ASSET_KINDS

PAGE_SIZE: Final = 12
SORTS: Final = ("newest", "price_asc", "price_desc")


@dataclass(frozen=True)
class Card:
    listing: ListingSummary
    next_round: AuctionOut | None

    @property
    def price(self) -> int:
        if self.next_round is None:
            return self.listing.price
        return self.next_round.current_price or self.next_round.starting_price


@dataclass(frozen=True)
class Filters:
    q: str
    kind: str
    status: str
    min_price: str
    max_price: str
    sort: str
    page: int


def read_filters(page: Page) -> tuple[Filters, CatalogueQuery, str | None]:
    """The filters as typed and the service query; an error code when a price cannot be read."""
    query = page.query
    kind = query.get("kind", "") if query.get("kind", "") in ASSET_KINDS else ""
    status = query.get("status", "") if query.get("status", "") in PUBLISHED_STATUSES else ""
    sort = query.get("sort", "newest") if query.get("sort", "newest") in SORTS else "newest"
    try:
        number = max(1, int(query.get("page", "1")))
    except ValueError:
        number = 1
    filters = Filters(
        q=query.get("q", "")[:200],
        kind=kind,
        status=status,
        min_price=query.get("min_price", ""),
        max_price=query.get("max_price", ""),
        sort=sort,
        page=number,
    )
    problem: str | None = None
    prices: list[int | None] = []
    for text in (filters.min_price, filters.max_price):
        try:
            prices.append(parse_amount(text) if text else None)
        except FormValueError as exc:
            problem = exc.code
            prices.append(None)
    service_query = CatalogueQuery(
        q=filters.q or None,
        kind=kind or None,
        status=status or None,
        min_price=prices[0],
        max_price=prices[1],
        sort=sort,
        page=number,
        page_size=PAGE_SIZE,
    )
    return filters, service_query, problem


class CataloguePages(Controller):
    dependencies = {"page": Provide(provide_page)}  # noqa: RUF012 - Litestar reads it as a class attribute
    exception_handlers = PAGE_EXCEPTION_HANDLERS
    include_in_schema = False

    @get("/")
    async def catalogue(self, page: PageDep, db: Db) -> Template:
        filters, query, problem = read_filters(page)
        if problem is not None:
            query = CatalogueQuery(
                q=query.q, kind=query.kind, status=query.status, sort=query.sort, page=1, page_size=PAGE_SIZE
            )
        try:
            result = await search_listings(db, page.principal, query)
        except DomainError as exc:
            problem = exc.code
            result = await search_listings(db, page.principal, CatalogueQuery(page_size=PAGE_SIZE))
        cards = [Card(item, await data.next_round(db, item.id)) for item in result.items]
        pages = max(1, math.ceil(result.total / PAGE_SIZE))
        return render(
            page,
            "catalogue/index.html",
            filters=filters,
            cards=cards,
            total=result.total,
            current=result.page,
            pages=pages,
            problem=problem,
            kinds=ASSET_KINDS,
            statuses=PUBLISHED_STATUSES,
            sorts=SORTS,
        )

    @get("/lots/{listing_id:uuid}")
    async def lot(self, listing_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Template:
        listing = await get_listing(db, listing_id, page.principal)
        out = await listing_out(db, listing, page.principal)
        rounds = await data.rounds(db, listing_id)
        documents = await self._documents(page, db, listing_id)
        org_names = await data.org_names(db, out)
        return render(
            page, "catalogue/lot.html", lot=out, rounds=rounds, documents=documents, org_names=org_names
        )

    async def _documents(self, page: Page, db: Db, listing_id: uuid.UUID) -> dict[str, Any]:
        if page.principal is None:
            return {"state": "sign_in", "items": []}
        try:
            items = await dataroom.visible_documents(db, page.principal, listing_id)
        except DomainError as exc:
            if exc.code == "nda_required":
                return {"state": "nda", "items": []}
            raise
        return {"state": "open", "items": items}

    @get("/lots/{listing_id:uuid}/documents")
    async def documents_fragment(self, listing_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Template:
        return render(
            page,
            "catalogue/_documents.html",
            lot_id=listing_id,
            documents=await self._documents(page, db, listing_id),
        )

    @post("/lots/{listing_id:uuid}/nda", status_code=200)
    async def accept_nda(
        self, listing_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], page: PageDep, db: Db
    ) -> Response[Any]:
        require_htmx(request)
        try:
            client = request.client
            await dataroom.accept_nda(db, page.principal, listing_id, client.host if client else None)
            documents = await self._documents(page, db, listing_id)
        except DomainError as exc:
            return error_fragment(page, exc)
        return render(page, "catalogue/_documents.html", lot_id=listing_id, documents=documents)
