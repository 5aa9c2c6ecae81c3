"""Sign-in, sign-out and buyer registration pages.

Invariants:
- the forms are checked with the API's own bodies (``Credentials``, ``BuyerRegistration``) and
  the accounts service, so a page refuses exactly what the API refuses, with the same code;
- a failed sign-in is counted (and committed) exactly as the API counts it;
- signing in issues the same cookie session as ``POST /api/auth/login`` (HttpOnly, SameSite=Lax,
  with its own CSRF token) and the browser then reloads, so the new token reaches the page.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.response import Redirect, Template

from frontend.pages.base import (
    HOME_FOR_ROLE,
    PAGE_EXCEPTION_HANDLERS,
    PageDep,
    client_redirect,
    error_fragment,
    form_data,
    provide_page,
    render,
    require_htmx,
    safe_next,
)
from marketplace.accounts import service as accounts
from marketplace.accounts.models import User
from marketplace.accounts.schemas import BuyerRegistration, Credentials
from marketplace.accounts.security import SESSION_COOKIE, TokenClaims, new_csrf_token
from marketplace.context import AppContext
from marketplace.deps import Ctx, Db
from marketplace.errors import DomainError


async def start_session(ctx: AppContext, user: User) -> Cookie:
    claims = TokenClaims(
        user_id=str(user.id),
        role=user.role,
        org_id=str(user.org_id) if user.org_id else None,
        org_kind=user.org.kind if user.org_id is not None and user.org is not None else None,
        name=user.name,
        email=user.email,
        kind="session",
        csrf=new_csrf_token(),
    )
    token = await ctx.tokens.issue(claims)
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.cookie_secure,
        max_age=ctx.settings.session_ttl_seconds,
        path="/",
    )


class AuthPages(Controller):
    dependencies = {"page": Provide(provide_page)}  # noqa: RUF012 - Litestar reads it as a class attribute
    exception_handlers = PAGE_EXCEPTION_HANDLERS
    include_in_schema = False

    @get("/login")
    async def login_form(self, page: PageDep) -> Template | Redirect:
        target = safe_next(page.query.get("next"), "")
        if page.principal is not None:
            return Redirect(target or HOME_FOR_ROLE.get(page.principal.role, "/"))
        return render(page, "auth/login.html", next_path=target)

    @post("/login", status_code=200)
    async def login(self, request: Request[Any, Any, Any], page: PageDep, db: Db, ctx: Ctx) -> Response[Any]:
        require_htmx(request)
        form = await form_data(request)
        try:
            credentials = msgspec.convert(
                {"email": form.get("email", ""), "password": form.get("password", "")}, Credentials
            )
            user = await accounts.authenticate(db, email=credentials.email, password=credentials.password)
        except DomainError as exc:
            await db.commit()
            return error_fragment(page, exc)
        except msgspec.ValidationError as exc:
            return error_fragment(page, exc)
        cookie = await start_session(ctx, user)
        target = safe_next(form.get("next"), HOME_FOR_ROLE.get(user.role, "/"))
        response = client_redirect(target)
        response.cookies.append(cookie)
        return response

    @post("/logout", status_code=200)
    async def logout(self, request: Request[Any, Any, Any], page: PageDep, ctx: Ctx) -> Response[str]:
        require_htmx(request)
        if cookie := request.cookies.get(SESSION_COOKIE):
            await ctx.tokens.revoke(cookie)
        response = client_redirect("/")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/register")
    async def register_form(self, page: PageDep) -> Template:
        return render(page, "auth/register.html")

    @post("/register", status_code=200)
    async def register(
        self, request: Request[Any, Any, Any], page: PageDep, db: Db, ctx: Ctx
    ) -> Response[Any]:
        require_htmx(request)
        form = await form_data(request)
        fields = ("email", "password", "real_name", "id_number")
        try:
            body = msgspec.convert({name: form.get(name, "") for name in fields}, BuyerRegistration)
            user = await accounts.register_buyer(
                db,
                ctx.cipher,
                email=body.email,
                password=body.password,
                real_name=body.real_name,
                id_number=body.id_number,
            )
        except (DomainError, msgspec.ValidationError) as exc:
            return error_fragment(page, exc)
        cookie = await start_session(ctx, user)
        response = client_redirect(safe_next(form.get("next"), "/me"))
        response.cookies.append(cookie)
        return response
