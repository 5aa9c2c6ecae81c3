"""The operator console: review queue, scheduling with the rule checks, deposits, live rounds, statistics.

Invariants:
- every page here is for operators (``wrong_role`` otherwise);
- approval, rejection, scheduling and deposit confirmation go through the same services as the
  API (``approve_listing``, ``reject_listing``, ``schedule_round``, ``confirm_deposit``), with the
  same bodies (``ReasonIn``, ``ScheduleIn``), so the console refuses what the API refuses;
- the checklist shown before scheduling comes from :mod:`frontend.pages.schedule_checks`, which
  asks the engine's own ``validate_round`` for its verdict.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Final

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from auction.errors import AuctionError
from auction.rules import get_profile
from frontend.charts import HEIGHT, WIDTH, bars
from frontend.formatting import FormValueError, local_input_value
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
from frontend.pages.schedule_checks import read_plan, schedule_report
from frontend.pages.settlement import statement_page
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import ScheduleIn
from marketplace.db import utcnow
from marketplace.deps import Ctx, Db, require
from marketplace.errors import DomainError
from marketplace.listings import service as listings
from marketplace.listings.schemas import ReasonIn
from marketplace.settlement import SettlementInvalid

DEFAULT_DURATION: Final = timedelta(minutes=10)


def _operator(page: Page) -> None:
    require(page.principal, "operator")


class OperatorPages(Controller):
    path = "/operator"
    dependencies = {"page": Provide(provide_page)}  # noqa: RUF012 - Litestar reads it as a class attribute
    exception_handlers = PAGE_EXCEPTION_HANDLERS
    include_in_schema = False

    @get("/")
    async def queue(self, page: PageDep, db: Db) -> Template:
        _operator(page)
        queue = await data.review_queue(db, page.principal)
        return render(page, "operator/index.html", tab="queue", queue=queue)

    @get("/listings/{listing_id:uuid}")
    async def review(self, listing_id: FromPath[uuid.UUID], page: PageDep, db: Db, ctx: Ctx) -> Template:
        _operator(page)
        row = await listings.get_listing(db, listing_id, page.principal)
        out = await listings.listing_out(db, row, page.principal)
        rounds = await data.rounds(db, listing_id)
        profile = get_profile(ctx.settings.auction_rules)
        report, _ = await self._report(page, db, ctx, listing_id, {}) if out.approved_at else (None, [])
        start = utcnow() + timedelta(minutes=1)
        if report is not None and report.upcoming is not None:
            start = max(start, report.upcoming.earliest_start)
        defaults = {
            "starts_at": local_input_value(start.replace(microsecond=0)),
            "ends_at": local_input_value(
                (start + max(profile.min_duration, DEFAULT_DURATION)).replace(microsecond=0)
            ),
            "extension_seconds": str(profile.default_extension_seconds),
        }
        return render(
            page,
            "operator/review.html",
            tab="queue",
            lot=out,
            rounds=rounds,
            org_names=await data.org_names(db, out),
            schedulable=out.status in ("approved", "in_disposal", "failed") and out.approved_at is not None,
            defaults=defaults,
            profile=profile,
            upcoming=report.upcoming if report is not None else None,
            scheduled=page.query.get("scheduled"),
        )

    @post("/listings/{listing_id:uuid}/approve", status_code=200)
    async def approve(
        self, listing_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], page: PageDep, db: Db
    ) -> Response[Any]:
        require_htmx(request)
        try:
            await listings.approve_listing(db, page.principal, listing_id)
        except DomainError as exc:
            return error_fragment(page, exc)
        return client_redirect(f"/operator/listings/{listing_id}")

    @post("/listings/{listing_id:uuid}/reject", status_code=200)
    async def reject(
        self, listing_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], page: PageDep, db: Db
    ) -> Response[Any]:
        require_htmx(request)
        form = await form_data(request)
        try:
            body = msgspec.convert({"reason": form.get("reason", "")}, ReasonIn)
            await listings.reject_listing(db, page.principal, listing_id, body.reason)
        except (DomainError, msgspec.ValidationError) as exc:
            return error_fragment(page, exc)
        return client_redirect("/operator")

    @get("/listings/{listing_id:uuid}/schedule-check")
    async def schedule_check(
        self, listing_id: FromPath[uuid.UUID], page: PageDep, db: Db, ctx: Ctx
    ) -> Template:
        _operator(page)
        report, problems = await self._report(page, db, ctx, listing_id, dict(page.query))
        return render(page, "operator/_schedule_checks.html", report=report, problems=problems)

    async def _report(
        self, page: Page, db: Db, ctx: Ctx, listing_id: uuid.UUID, form: dict[str, str]
    ) -> tuple[Any, list[str]]:
        row = await listings.get_listing(db, listing_id, page.principal)
        prior = [auctions.prior_round(r) for r in await auctions.rounds_of(db, listing_id)]
        plan, problems = read_plan(form)
        if row.approved_at is None:
            raise DomainError("listing_not_approved", f"the listing is {row.status}")
        profile = get_profile(ctx.settings.auction_rules)
        return schedule_report(
            profile, row.valuation_amount, prior, row.approved_at, plan, utcnow()
        ), problems

    @post("/listings/{listing_id:uuid}/schedule", status_code=200)
    async def schedule(
        self,
        listing_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        page: PageDep,
        db: Db,
        ctx: Ctx,
    ) -> Response[Any]:
        require_htmx(request)
        _operator(page)
        form = await form_data(request)
        plan, problems = read_plan(form)
        if problems:
            return form_error(page, "invalid_input", ", ".join(problems))
        try:
            preemption = await data.preemption_holders(db, form.get("preemption", ""))
            body = msgspec.convert(
                {
                    "kind": plan.kind,
                    "starting_price": plan.starting_price,
                    "increment": plan.increment,
                    "deposit": plan.deposit,
                    "starts_at": plan.starts_at.isoformat() if plan.starts_at else None,
                    "ends_at": plan.ends_at.isoformat() if plan.ends_at else None,
                    "extension_seconds": plan.extension_seconds,
                    "preemption": preemption or None,
                },
                ScheduleIn,
            )
            actor = require(page.principal, "operator")
            auction = await auctions.schedule_round(
                db, get_profile(ctx.settings.auction_rules), listing_id, body, actor
            )
        except (DomainError, AuctionError, FormValueError, msgspec.ValidationError) as exc:
            return error_fragment(page, exc)
        return client_redirect(f"/operator/listings/{listing_id}?scheduled={auction.round_no}")

    @post("/listings/{listing_id:uuid}/settle", status_code=200)
    async def settle(
        self,
        listing_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        page: PageDep,
        db: Db,
        ctx: Ctx,
    ) -> Response[Any]:
        require_htmx(request)
        try:
            await data.settle(db, ctx, page.principal, listing_id)
        except (DomainError, SettlementInvalid) as exc:
            return error_fragment(page, exc)
        return client_redirect(f"/operator/settlements/{listing_id}")

    @get("/settlements/{listing_id:uuid}")
    async def statement(self, listing_id: FromPath[uuid.UUID], page: PageDep, db: Db) -> Template:
        _operator(page)
        found = await data.statement(db, page.principal, listing_id)
        return statement_page(page, found, desk="operator")

    @get("/deposits")
    async def deposits(self, page: PageDep, db: Db) -> Template:
        _operator(page)
        rows = await data.deposits_to_confirm(db, page.principal)
        return render(page, "operator/deposits.html", tab="deposits", rows=rows)

    @post("/deposits/{deposit_id:uuid}/confirm", status_code=200)
    async def confirm_deposit(
        self,
        deposit_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        page: PageDep,
        db: Db,
        ctx: Ctx,
    ) -> Template:
        require_htmx(request)
        try:
            actor = require(page.principal, "operator")
            deposit = await auctions.confirm_deposit(db, data.gateway(ctx, "offline", db), deposit_id, actor)
        except DomainError as exc:
            return error_fragment(page, exc)
        return render(page, "operator/_deposit_confirmed.html", deposit=deposit)

    @get("/live")
    async def live(self, page: PageDep, db: Db) -> Template:
        _operator(page)
        running = await data.running_rounds(db, page.principal)
        template = "operator/_live_rows.html" if page.htmx else "operator/live.html"
        return render(page, template, tab="live", running=running)

    @post("/auctions/{auction_id:uuid}/{action:str}", status_code=200)
    async def round_action(
        self,
        auction_id: FromPath[uuid.UUID],
        action: FromPath[str],
        request: Request[Any, Any, Any],
        page: PageDep,
        db: Db,
        ctx: Ctx,
    ) -> Response[Any]:
        require_htmx(request)
        try:
            await data.round_action(db, ctx, page.principal, auction_id, action)
        except (DomainError, AuctionError) as exc:
            return error_fragment(page, exc)
        return client_redirect(request.headers.get("hx-current-url") or "/operator/live")

    @get("/stats")
    async def stats(self, page: PageDep, db: Db) -> Template:
        _operator(page)
        figures = await data.statistics(db, page.principal)
        by_status = bars([(page.t("status." + status), count) for status, count in figures.by_status])
        by_round = bars([(page.t("astatus." + status), count) for status, count in figures.rounds_by_status])
        return render(
            page,
            "operator/stats.html",
            tab="stats",
            figures=figures,
            by_status=by_status,
            by_round=by_round,
            chart_size=(WIDTH, HEIGHT),
        )
