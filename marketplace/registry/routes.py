"""Registry API (api.md "Sandbox registry"): sandbox records, manual evidence, post-sale filings."""

from __future__ import annotations

import uuid
from typing import Final

from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody

from marketplace.deps import Caller, Ctx, Db
from marketplace.registry import service
from marketplace.registry.schemas import (
    FilingNote,
    FilingOut,
    FilingsPrepare,
    ManualEvidenceIn,
    ManualEvidenceOut,
    RegistryFields,
    SandboxRecordOut,
)


class RegistryController(Controller):
    path = "/api/registry"
    tags = ["registry"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/sandbox/records", summary="Create or replace a sandbox registry record (operator)")
    async def put_record(
        self, data: JSONBody[RegistryFields], db: Db, ctx: Ctx, principal: Caller
    ) -> Response[SandboxRecordOut]:
        service.require_sandbox(ctx.settings.sandbox_registry_enabled)
        row, created = await service.put_sandbox_record(db, principal, data)
        return Response(service.sandbox_out(row), status_code=201 if created else 200)

    @get("/sandbox/records/{registry:str}/{number:str}", summary="A sandbox registry record (operator)")
    async def get_record(
        self, registry: FromPath[str], number: FromPath[str], db: Db, ctx: Ctx, principal: Caller
    ) -> SandboxRecordOut:
        service.require_sandbox(ctx.settings.sandbox_registry_enabled)
        return service.sandbox_out(await service.get_sandbox_record(db, principal, registry, number))

    @post("/manual", status_code=201, summary="Enter manual registry evidence (operator)")
    async def enter_manual(
        self, data: JSONBody[ManualEvidenceIn], db: Db, principal: Caller
    ) -> ManualEvidenceOut:
        return service.evidence_out(await service.enter_manual_evidence(db, principal, data))

    @post(
        "/manual/{evidence_id:uuid}/approve",
        status_code=200,
        summary="Approve manual evidence (a second, different operator)",
    )
    async def approve_manual(
        self, evidence_id: FromPath[uuid.UUID], db: Db, principal: Caller
    ) -> ManualEvidenceOut:
        return service.evidence_out(await service.approve_manual_evidence(db, principal, evidence_id))


class FilingsController(Controller):
    path = "/api"
    tags = ["registry"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/listings/{listing_id:uuid}/filings", summary="The registry filings of a sold listing")
    async def filings(self, listing_id: FromPath[uuid.UUID], db: Db, principal: Caller) -> list[FilingOut]:
        return [service.filing_out(task) for task in await service.filings_of(db, principal, listing_id)]

    @post(
        "/listings/{listing_id:uuid}/filings",
        status_code=201,
        summary="Prepare the pledge-release and transfer filings of a sold listing (operator)",
    )
    async def prepare(
        self, listing_id: FromPath[uuid.UUID], data: JSONBody[FilingsPrepare], db: Db, principal: Caller
    ) -> list[FilingOut]:
        tasks = await service.prepare_filings_for(db, principal, listing_id, data.transferee)
        return [service.filing_out(task) for task in tasks]

    @post("/filings/{filing_id:uuid}/confirm", status_code=200, summary="Confirm a filing (operator)")
    async def confirm(
        self,
        filing_id: FromPath[uuid.UUID],
        db: Db,
        principal: Caller,
        data: JSONBody[FilingNote | None] = None,
    ) -> FilingOut:
        note = data.note if data is not None else ""
        return service.filing_out(await service.confirm_filing(db, principal, filing_id, note))


REGISTRY_CONTROLLERS: Final = (RegistryController, FilingsController)
