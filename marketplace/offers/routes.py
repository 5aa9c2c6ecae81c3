"""Offers API (api.md → Offers): make, read, answer, counter, approve, record the payment."""

from __future__ import annotations

import uuid
from typing import Final

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from marketplace.deps import Caller, Db
from marketplace.offers import service
from marketplace.offers.schemas import CounterIn, OfferIn, OfferOut, ReasonIn


class OffersController(Controller):
    path = "/api"
    tags = ["offers"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/listings/{listing_id:uuid}/offers", status_code=201, summary="Make an offer (buyer or acquirer)")
    async def make(
        self, listing_id: FromPath[uuid.UUID], data: JSONBody[OfferIn], db: Db, principal: Caller
    ) -> OfferOut:
        return service.offer_out(await service.make_offer(db, principal, listing_id, data))

    @get(
        "/listings/{listing_id:uuid}/offers",
        summary="The offers on a listing you may read (bank and operators: all; an offeror: its own)",
    )
    async def of_listing(self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> list[OfferOut]:
        return [service.offer_out(offer) for offer in await service.offers_of(db, principal, listing_id)]

    @get("/offers/{offer_id:uuid}", summary="One offer (owning bank, offeror, operators)")
    async def show(self, offer_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> OfferOut:
        offer, _ = await service.get_offer(db, offer_id, principal)
        return service.offer_out(offer)

    @post("/offers/{offer_id:uuid}/accept", status_code=200, summary="Accept an offer (owning bank)")
    async def accept(self, offer_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> OfferOut:
        return service.offer_out(await service.accept_offer(db, principal, offer_id))

    @post("/offers/{offer_id:uuid}/reject", status_code=200, summary="Reject an offer (owning bank)")
    async def reject(
        self, offer_id: FromPath[uuid.UUID], db: Db, principal: Caller, data: JSONBody[ReasonIn | None] = None
    ) -> OfferOut:
        reason = data.reason if data is not None else ""
        return service.offer_out(await service.reject_offer(db, principal, offer_id, reason))

    @post("/offers/{offer_id:uuid}/counter", status_code=200, summary="Counter an offer (owning bank)")
    async def counter(
        self, offer_id: FromPath[uuid.UUID], data: JSONBody[CounterIn], db: Db, principal: Caller
    ) -> OfferOut:
        return service.offer_out(await service.counter_offer(db, principal, offer_id, data))

    @post(
        "/offers/{offer_id:uuid}/accept-counter",
        status_code=200,
        summary="Take the bank's counter (the offeror)",
    )
    async def accept_counter(self, offer_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> OfferOut:
        return service.offer_out(await service.accept_counter(db, principal, offer_id))

    @post(
        "/offers/{offer_id:uuid}/approve",
        status_code=200,
        summary="Approve an accepted offer as a sale or licence contract (operator)",
    )
    async def approve(self, offer_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> OfferOut:
        return service.offer_out(await service.approve_offer(db, principal, offer_id))

    @post(
        "/offers/{offer_id:uuid}/payment-received",
        status_code=200,
        summary="Record the payment of an approved acquisition or equity conversion (operator)",
    )
    async def payment_received(self, offer_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> OfferOut:
        return service.offer_out(await service.record_payment(db, principal, offer_id))


OFFER_CONTROLLERS: Final = (OffersController,)
