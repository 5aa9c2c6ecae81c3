"""The bank desk: the listing wizard, CSV import, our listings and their checks, offers, statements.

Invariants:
- every page here is for bank users (``wrong_role`` for anyone else) and shows only what the
  listings, offers and settlement services show the caller's bank;
- the wizard's draft is validated by the API's ``ListingCreate`` and ``create_listing``: the same
  codes and details as ``POST /api/listings``;
- submitting runs the registry checks through the same service as ``POST …/submit``;
- answering an offer goes through the offers service (only the owning bank may).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec
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
    client_redirect,
    error_fragment,
    form_data,
    form_error,
    provide_page,
    render,
    require_htmx,
)
from frontend.pages.listing_form import PARTY_ROLES, listing_draft
from frontend.pages.settlement import statement_page
from marketplace.deps import Ctx, Db, require
from marketplace.errors import DomainError, Forbidden
from marketplace.listings import service as listings
from marketplace.listings.registry_checks import submit_listing
from marketplace.listings.routes import import_jobs, registry_of
from marketplace.listings.schemas import ListingCreate
from marketplace.listings.terms import validate_terms
from registry_adapters.base import ASSET_KINDS, REGISTRIES

WIZARD_STEPS: Final = ("loan", "assets", "valuation", "settlement", "review")
CSV_TEMPLATE: Final = (
    "title,loan_ref,pledgor_name,claim,default_date,pledge_registry,pledge_registration_no,"
    "valuation_amount,valuation_method,bank_ratio_bp,guarantor_org,guarantor_ratio_bp,guarantor_advance,"
    "asset1_kind,asset1_number,asset1_title,none_known\n"
    "示例专利,LOAN-0001,示例科技有限公司,100000000,2026-09-30,cnipa,Y2026000001,"
    "120000000,internal,6000,示范融资担保公司 Demo Guarantee Co.,4000,40000000,"
    "invention_patent,CN202310000001.1,一种示例方法,yes\n"
)


def _bank_user(page: Page) -> uuid.UUID:
    caller = require(page.principal, "bank_user")
    if caller.org_id is None:
        raise Forbidden("wrong_role", "a bank user must belong to a bank")
    return caller.org_id


async def _form_lists(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    form = await request.form()
    lists: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            lists.setdefault(key, []).append(value)
    return lists


def _draft(form: dict[str, list[str]], bank_org_id: uuid.UUID) -> ListingCreate:
    return msgspec.convert(listing_draft(form, bank_org_id), ListingCreate)


class BankPages(Controller):
    path = "/bank"
    dependencies = {"page": Provide(provide_page)}  # noqa: RUF012 - Litestar reads it as a class attribute
    exception_handlers = PAGE_EXCEPTION_HANDLERS
    include_in_schema = False

    @get("/")
    async def desk(self, page: PageDep, db: Db) -> Template:
        bank_org_id = _bank_user(page)
        own = await data.own_listings(db, page.principal, bank_org_id)
        return render(page, "bank/index.html", tab="listings", listings=own)

    @get("/listings/new")
    async def wizard(self, page: PageDep, db: Db) -> Template:
        bank_org_id = _bank_user(page)
        return render(
            page,
            "bank/wizard.html",
            tab="new",
            steps=WIZARD_STEPS,
            kinds=ASSET_KINDS,
            registries=REGISTRIES,
            roles=PARTY_ROLES,
            orgs=await data.org_choices(db),
            bank_name=(await data.names_of(db, {bank_org_id})).get(bank_org_id, ""),
        )

    @post("/listings/preview", status_code=200)
    async def preview(self, request: Request[Any, Any, Any], page: PageDep, db: Db) -> Template:
        require_htmx(request)
        bank_org_id = _bank_user(page)
        try:
            draft = _draft(await _form_lists(request), bank_org_id)
            validate_terms(draft.settlement, bank_org_id=bank_org_id, claim=draft.loan.claim)
        except (DomainError, FormValueError, msgspec.ValidationError) as exc:
            return error_fragment(page, exc)
        names = await data.names_of(db, {p.org_id for p in draft.settlement.parties})
        return render(page, "bank/_preview.html", draft=draft, names=names)

    @post("/listings", status_code=200)
    async def create(self, request: Request[Any, Any, Any], page: PageDep, db: Db) -> Response[Any]:
        require_htmx(request)
        bank_org_id = _bank_user(page)
        try:
            draft = _draft(await _form_lists(request), bank_org_id)
            listing = await listings.create_listing(db, page.principal, draft)
        except (DomainError, FormValueError, msgspec.ValidationError) as exc:
            return error_fragment(page, exc)
        return client_redirect(f"/bank/listings/{listing.id}?created=1")

    @get("/listings/{listing_id:uuid}")
    async def listing(self, listing_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Template:
        _bank_user(page)
        row = await listings.get_listing(db, listing_id, page.principal)
        listings.require_owner(page.principal, row)
        out = await listings.listing_out(db, row, page.principal)
        return render(
            page,
            "bank/listing.html",
            tab="listings",
            lot=out,
            rounds=await data.rounds(db, listing_id),
            org_names=await data.org_names(db, out),
            created=page.query.get("created") == "1",
        )

    @post("/listings/{listing_id:uuid}/submit", status_code=200)
    async def submit(
        self,
        listing_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        page: PageDep,
        db: Db,
        ctx: Ctx,
    ) -> Response[Any]:
        require_htmx(request)
        try:
            await submit_listing(db, page.principal, listing_id, registry_of(ctx))
        except DomainError as exc:
            return error_fragment(page, exc)
        return client_redirect(f"/bank/listings/{listing_id}")

    @post("/listings/{listing_id:uuid}/withdraw", status_code=200)
    async def withdraw(
        self, listing_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], page: PageDep, db: Db
    ) -> Response[Any]:
        require_htmx(request)
        reason = (await form_data(request)).get("reason", "")
        if not reason:
            return form_error(page, "required", "reason is required")
        try:
            await listings.withdraw_listing(db, page.principal, listing_id, reason[:2000])
        except DomainError as exc:
            return error_fragment(page, exc)
        return client_redirect(f"/bank/listings/{listing_id}")

    @get("/import")
    async def import_form(self, page: PageDep) -> Template:
        _bank_user(page)
        return render(page, "bank/import.html", tab="import")

    @get("/import/template.csv")
    async def import_template(self, page: PageDep) -> Response[str]:
        _bank_user(page)
        return Response(
            CSV_TEMPLATE,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=listings-template.csv"},
        )

    @post("/import", status_code=200)
    async def start_import(self, request: Request[Any, Any, Any], page: PageDep, ctx: Ctx) -> Template:
        require_htmx(request)
        _bank_user(page)
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return form_error(page, "required", "file is required")
        content = await upload.read()
        if len(content) > ctx.settings.max_upload_bytes:
            return form_error(
                page, "file_too_large", f"files are limited to {ctx.settings.max_upload_bytes} bytes", 413
            )
        try:
            state = await import_jobs(ctx).start(page.principal, content, upload.filename or "upload.csv")
        except DomainError as exc:
            return error_fragment(page, exc)
        return render(page, "bank/_import_job.html", job=state)

    @get("/import/{job_id:uuid}")
    async def import_status(self, job_id: FromPath[uuid.UUID], page: PageDep, ctx: Ctx) -> Template:
        _bank_user(page)
        state = await import_jobs(ctx).status(page.principal, job_id)
        return render(page, "bank/_import_job.html", job=state)

    @get("/offers")
    async def offers(self, page: PageDep, db: Db) -> Template:
        bank_org_id = _bank_user(page)
        rows = await data.offers_for_bank(db, page.principal, bank_org_id)
        return render(page, "bank/offers.html", tab="offers", rows=rows)

    @post("/offers/{offer_id:uuid}/{action:str}", status_code=200)
    async def answer_offer(
        self,
        offer_id: FromPath[uuid.UUID],
        action: FromPath[str],
        request: Request[Any, Any, Any],
        page: PageDep,
        db: Db,
    ) -> Response[Any]:
        require_htmx(request)
        _bank_user(page)
        form = await form_data(request)
        try:
            if action == "counter":
                amount = parse_amount(form.get("amount", ""))
                await data.answer_offer(db, page.principal, offer_id, "counter", amount=amount)
            elif action in ("accept", "reject"):
                await data.answer_offer(db, page.principal, offer_id, action, reason=form.get("reason", ""))
            else:
                return form_error(page, "not_found", "no such action", 404)
        except (DomainError, FormValueError) as exc:
            return error_fragment(page, exc)
        return client_redirect("/bank/offers")

    @get("/settlements")
    async def settlements(self, page: PageDep, db: Db) -> Template:
        bank_org_id = _bank_user(page)
        own = await data.own_listings(db, page.principal, bank_org_id)
        sold = [item for item in own if item.status in ("sold", "settled")]
        return render(page, "bank/settlements.html", tab="settlements", listings=sold)

    @get("/settlements/{listing_id:uuid}")
    async def statement(self, listing_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Template:
        _bank_user(page)
        found = await data.statement(db, page.principal, listing_id)
        return statement_page(page, found, desk="bank")

    @get("/settlements/{listing_id:uuid}/statement.csv")
    async def statement_csv(self, listing_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Response[str]:
        _bank_user(page)
        found = await data.statement(db, page.principal, listing_id)
        return Response(
            data.statement_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename=settlement-{listing_id}.csv"},
        )
