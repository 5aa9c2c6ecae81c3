"""Listings API (api.md "Listings"): drafts, the catalogue, review, the data room, CSV import."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody
from sqlalchemy import select

from marketplace.context import AppContext
from marketplace.deps import Caller, Ctx, Db, require
from marketplace.errors import Forbidden, Unavailable
from marketplace.listings import dataroom, service
from marketplace.listings.catalogue import CatalogueQuery, search_listings
from marketplace.listings.csv_import import ImportJobs
from marketplace.listings.models import Listing, ListingDocument, ListingTransition
from marketplace.listings.registry_checks import submit_listing
from marketplace.listings.schemas import (
    DocumentOut,
    ImportJobOut,
    ListingCreate,
    ListingOut,
    ListingPage,
    NdaOut,
    ReasonIn,
    ReviewQueue,
    TransitionOut,
)
from registry_adapters.base import RegistryAdapter

UPLOAD_BODY_LIMIT: Final = 64 * 1_048_576


@dataclass
class DocumentUpload:
    file: UploadFile
    confidential: bool = False


@dataclass
class CsvUpload:
    file: UploadFile


def registry_of(ctx: AppContext) -> RegistryAdapter:
    registry = ctx.services.get("registry")
    if registry is None:
        raise Unavailable("registry_unavailable", "no registry adapter is configured")
    adapter: RegistryAdapter = registry
    return adapter


def import_jobs(ctx: AppContext) -> ImportJobs:
    jobs = ctx.services.get("listing_imports")
    if jobs is None:
        jobs = ImportJobs(ctx.store, ctx.sessionmaker, sqlite=ctx.settings.is_sqlite)
        ctx.services["listing_imports"] = jobs
    result: ImportJobs = jobs
    return result


def _job_out(state: dict[str, Any]) -> ImportJobOut:
    return msgspec.convert(
        {key: value for key, value in state.items() if key in ImportJobOut.__struct_fields__}, ImportJobOut
    )


def _document_out(document: ListingDocument) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        listing_id=document.listing_id,
        filename=document.filename,
        content_type=document.content_type,
        size=document.size,
        sha256=document.sha256,
        confidential=document.confidential,
        uploaded_at=document.at,
    )


class ListingsController(Controller):
    path = "/api/listings"
    tags = ["listings"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/", status_code=201, summary="Create a listing draft (bank)")
    async def create(self, data: JSONBody[ListingCreate], db: Db, principal: Caller) -> ListingOut:
        listing = await service.create_listing(db, principal, data)
        return await service.listing_out(db, listing, principal)

    @get("/", summary="The catalogue: published listings, plus your own bank's, for operators all")
    async def catalogue(
        self,
        db: Db,
        principal: Caller,
        status: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        min_price: FromQuery[int | None] = None,
        max_price: FromQuery[int | None] = None,
        industry: FromQuery[str | None] = None,
        ipc: FromQuery[str | None] = None,
        sort: FromQuery[str] = "newest",
        page: FromQuery[int] = 1,
        page_size: FromQuery[int] = 20,
    ) -> ListingPage:
        query = CatalogueQuery(
            status=status,
            kind=kind,
            q=q,
            min_price=min_price,
            max_price=max_price,
            industry=industry,
            ipc=ipc,
            sort=sort,
            page=page,
            page_size=page_size,
        )
        return await search_listings(db, principal, query)

    @get("/{listing_id:uuid}", summary="A listing with its assets, checks, rounds and offers")
    async def detail(self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> ListingOut:
        listing = await service.get_listing(db, listing_id, principal)
        return await service.listing_out(db, listing, principal)

    @post("/{listing_id:uuid}/submit", status_code=200, summary="Submit for review: runs the registry checks")
    async def submit(
        self, listing_id: FromPath[uuid.UUID], db: Db, ctx: Ctx, principal: Caller
    ) -> ListingOut:
        listing = await submit_listing(db, principal, listing_id, registry_of(ctx))
        return await service.listing_out(db, listing, principal)

    @post("/{listing_id:uuid}/approve", status_code=200, summary="Approve and publish (operator)")
    async def approve(self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> ListingOut:
        listing = await service.approve_listing(db, principal, listing_id)
        return await service.listing_out(db, listing, principal)

    @post("/{listing_id:uuid}/reject", status_code=200, summary="Reject with a reason (operator)")
    async def reject(
        self, listing_id: FromPath[uuid.UUID], data: JSONBody[ReasonIn], db: Db, principal: Caller
    ) -> ListingOut:
        listing = await service.reject_listing(db, principal, listing_id, data.reason)
        return await service.listing_out(db, listing, principal)

    @post("/{listing_id:uuid}/withdraw", status_code=200, summary="Withdraw (owning bank or operator)")
    async def withdraw(
        self, listing_id: FromPath[uuid.UUID], data: JSONBody[ReasonIn], db: Db, principal: Caller
    ) -> ListingOut:
        listing = await service.withdraw_listing(db, principal, listing_id, data.reason)
        return await service.listing_out(db, listing, principal)

    @get("/{listing_id:uuid}/transitions", summary="The status history (bank, parties, operators)")
    async def transitions(
        self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller
    ) -> list[TransitionOut]:
        caller = require(principal)
        listing = await service.get_listing(db, listing_id, caller)
        if not service.visible_confidential(caller, listing):
            raise Forbidden(
                "not_a_party", "the history is shown to the listing bank, the parties and operators"
            )
        rows = await db.scalars(
            select(ListingTransition)
            .where(ListingTransition.listing_id == listing.id)
            .order_by(ListingTransition.at, ListingTransition.id)
        )
        return [
            TransitionOut(
                from_status=row.from_status,
                to_status=row.to_status,
                actor_id=row.actor_id,
                reason=row.reason,
                at=row.at,
            )
            for row in rows.all()
        ]

    @post(
        "/import",
        status_code=202,
        summary="Import listing drafts from CSV (bank); returns a job to poll",
        request_max_body_size=UPLOAD_BODY_LIMIT,
    )
    async def start_import(self, data: MultipartBody[CsvUpload], ctx: Ctx, principal: Caller) -> ImportJobOut:
        require(principal, "bank_user")
        content = await data.file.read()
        if len(content) > ctx.settings.max_upload_bytes:
            raise dataroom.FileTooLarge(
                "file_too_large", f"files are limited to {ctx.settings.max_upload_bytes} bytes"
            )
        state = await import_jobs(ctx).start(principal, content, dataroom.safe_filename(data.file.filename))
        return _job_out(state)

    @get("/import/{job_id:uuid}", summary="An import job's progress and report")
    async def import_status(self, job_id: FromPath[uuid.UUID], ctx: Ctx, principal: Caller) -> ImportJobOut:
        return _job_out(await import_jobs(ctx).status(principal, job_id))

    @post("/{listing_id:uuid}/nda", status_code=201, summary="Accept the listing's NDA (opens its data room)")
    async def accept_nda(
        self, listing_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db: Db, principal: Caller
    ) -> NdaOut:
        client = request.client
        acceptance = await dataroom.accept_nda(db, principal, listing_id, client.host if client else None)
        return NdaOut(listing_id=acceptance.listing_id, user_id=acceptance.user_id, accepted_at=acceptance.at)

    @post(
        "/{listing_id:uuid}/documents",
        status_code=201,
        summary="Upload a data-room document (bank or operator; PDF, PNG, JPEG, TXT, CSV)",
        request_max_body_size=UPLOAD_BODY_LIMIT,
    )
    async def upload_document(
        self,
        listing_id: FromPath[uuid.UUID],
        data: MultipartBody[DocumentUpload],
        db: Db,
        ctx: Ctx,
        principal: Caller,
    ) -> DocumentOut:
        content = await data.file.read()
        document = await dataroom.upload_document(
            db,
            principal,
            listing_id,
            filename=data.file.filename,
            content_type=data.file.content_type,
            content=content,
            confidential=data.confidential,
            uploads_dir=ctx.settings.uploads_dir,
            max_bytes=ctx.settings.max_upload_bytes,
        )
        return _document_out(document)

    @get("/{listing_id:uuid}/documents", summary="The data room (buyers after accepting the NDA)")
    async def documents(
        self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller
    ) -> list[DocumentOut]:
        return [_document_out(doc) for doc in await dataroom.visible_documents(db, principal, listing_id)]

    @get("/{listing_id:uuid}/documents/{document_id:uuid}", summary="Download a data-room document")
    async def download(
        self,
        listing_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        db: Db,
        ctx: Ctx,
        principal: Caller,
    ) -> Response[bytes]:
        document, content = await dataroom.read_document(
            db, principal, listing_id, document_id, ctx.settings.uploads_dir
        )
        return Response(
            content,
            media_type=document.content_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(document.filename)}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )


class ReviewQueueController(Controller):
    path = "/api/review-queue"
    tags = ["listings"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", summary="Submitted listings with their checks, oldest first (operator)")
    async def queue(self, db: Db, principal: Caller) -> ReviewQueue:
        caller = require(principal, "operator")
        listings = (
            await db.scalars(
                select(Listing).where(Listing.status == "submitted").order_by(Listing.updated_at, Listing.id)
            )
        ).all()
        items = [await service.listing_out(db, listing, caller) for listing in listings]
        return ReviewQueue(items=items, total=len(items))


LISTING_CONTROLLERS: Final = (ListingsController, ReviewQueueController)
