"""The catalogue: one page of the listings a caller may see, filtered, searched and sorted.

Invariants:
- anonymous callers, buyers and parties see published listings only (approved and later); a bank
  user also sees every listing of their own bank; an operator sees all;
- ``q`` matches a substring of ``Listing.search_text`` (title, asset titles and numbers,
  lower-cased), with ``%`` and ``_`` taken literally;
- the price filters and sorts use the catalogue price (the valuation, in minor units);
- the order is total (ties broken by id), so pages never overlap or skip a listing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.security import Principal
from marketplace.errors import Invalid
from marketplace.listings.models import PUBLISHED_STATUSES, Listing, ListingAsset
from marketplace.listings.schemas import ListingPage, ListingSummary
from marketplace.listings.service import bank_names

DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100
SORTS: Final = ("newest", "price_asc", "price_desc")


@dataclass(frozen=True)
class CatalogueQuery:
    status: str | None = None
    kind: str | None = None
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    industry: str | None = None
    ipc: str | None = None
    sort: str = "newest"
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def validate_query(query: CatalogueQuery) -> None:
    if query.page < 1:
        raise Invalid("bad_page", "page starts at 1")
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        raise Invalid("bad_page_size", f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    if query.sort not in SORTS:
        raise Invalid("bad_sort", f"sort must be one of {', '.join(SORTS)}")
    for name, value in (("min_price", query.min_price), ("max_price", query.max_price)):
        if value is not None and value < 0:
            raise Invalid("bad_price", f"{name} must not be negative")
    if query.min_price is not None and query.max_price is not None and query.min_price > query.max_price:
        raise Invalid("bad_price", "min_price is above max_price")


def _visible_to(principal: Principal | None) -> Any:
    published = Listing.status.in_(PUBLISHED_STATUSES)
    if principal is None:
        return published
    if principal.role == "operator":
        return None
    if principal.role == "bank_user" and principal.org_id is not None:
        return or_(published, Listing.bank_org_id == principal.org_id)
    return published


def _filtered(statement: Select[Any], principal: Principal | None, query: CatalogueQuery) -> Select[Any]:
    visible = _visible_to(principal)
    if visible is not None:
        statement = statement.where(visible)
    if query.status:
        statement = statement.where(Listing.status == query.status)
    if query.kind:
        statement = statement.where(
            exists().where(ListingAsset.listing_id == Listing.id, ListingAsset.kind == query.kind)
        )
    if query.q and query.q.strip():
        pattern = f"%{_like_escape(query.q.strip().lower())}%"
        statement = statement.where(Listing.search_text.like(pattern, escape="\\"))
    if query.min_price is not None:
        statement = statement.where(Listing.valuation_amount >= query.min_price)
    if query.max_price is not None:
        statement = statement.where(Listing.valuation_amount <= query.max_price)
    if query.industry:
        statement = statement.where(Listing.industry == query.industry)
    if query.ipc:
        statement = statement.where(
            Listing.ipc_class.like(f"{_like_escape(query.ipc.strip())}%", escape="\\")
        )
    return statement


def _ordered(statement: Select[Any], sort: str) -> Select[Any]:
    if sort == "price_asc":
        return statement.order_by(Listing.valuation_amount.asc(), Listing.id)
    if sort == "price_desc":
        return statement.order_by(Listing.valuation_amount.desc(), Listing.id)
    return statement.order_by(Listing.created_at.desc(), Listing.id)


async def search_listings(
    session: AsyncSession, principal: Principal | None, query: CatalogueQuery
) -> ListingPage:
    validate_query(query)
    total = await session.scalar(_filtered(select(func.count()).select_from(Listing), principal, query))
    statement = _ordered(_filtered(select(Listing), principal, query), query.sort)
    listings = list(
        (await session.scalars(statement.offset((query.page - 1) * query.page_size).limit(query.page_size)))
        .unique()
        .all()
    )
    names = await bank_names(session, {listing.bank_org_id for listing in listings})
    return ListingPage(
        items=[summary(listing, names) for listing in listings],
        total=int(total or 0),
        page=query.page,
        page_size=query.page_size,
    )


def summary(listing: Listing, names: dict[uuid.UUID, str]) -> ListingSummary:
    kinds: list[str] = []
    for asset in listing.assets:
        if asset.kind not in kinds:
            kinds.append(asset.kind)
    return ListingSummary(
        id=listing.id,
        status=listing.status,
        title=listing.title,
        currency=listing.currency,
        price=listing.valuation_amount,
        bank_org_id=listing.bank_org_id,
        bank_name=names.get(listing.bank_org_id, ""),
        industry=listing.industry,
        ipc_class=listing.ipc_class,
        kinds=kinds,
        asset_count=len(listing.assets),
        planned_sale_date=listing.planned_sale_date,
        approved_at=listing.approved_at,
        created_at=listing.created_at,
    )
