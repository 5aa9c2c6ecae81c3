"""Accounts API: sign-in (bearer token or cookie session), buyer registration, organisations."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, JSONBody

from marketplace.accounts import service
from marketplace.accounts.models import User
from marketplace.accounts.schemas import (
    BuyerRegistration,
    Credentials,
    OrgCreate,
    OrgOut,
    OrgUserCreate,
    SessionOut,
    TokenOut,
    UserOut,
)
from marketplace.accounts.security import SESSION_COOKIE, TokenClaims, new_csrf_token
from marketplace.deps import Caller, Ctx, Db, require
from marketplace.errors import DomainError
from marketplace.ratelimit import check_login


def _claims(user: User, kind: str, csrf: str | None = None) -> TokenClaims:
    return TokenClaims(
        user_id=str(user.id),
        role=user.role,
        org_id=str(user.org_id) if user.org_id else None,
        org_kind=user.org.kind if user.org else None,
        name=user.name,
        email=user.email,
        kind=kind,
        csrf=csrf,
    )


async def _authenticate(db: Db, data: JSONBody[Credentials]) -> User:
    try:
        return await service.authenticate(db, email=data.email, password=data.password)
    except DomainError:
        await db.commit()  # keep the failure count even though the request fails
        raise


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/token", status_code=200, summary="Get a bearer token")
    async def token(
        self, request: Request[Any, Any, Any], data: JSONBody[Credentials], db: Db, ctx: Ctx
    ) -> TokenOut:
        await check_login(ctx, request, data.email)
        user = await _authenticate(db, data)
        token = await ctx.tokens.issue(_claims(user, "bearer"))
        return TokenOut(
            access_token=token,
            token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
            user=service.user_out(user, include_real_name=True),
            expires_in=ctx.settings.token_ttl_seconds,
        )

    @post("/login", status_code=200, summary="Start a browser session (cookie + CSRF token)")
    async def login(
        self, request: Request[Any, Any, Any], data: JSONBody[Credentials], db: Db, ctx: Ctx
    ) -> Response[SessionOut]:
        await check_login(ctx, request, data.email)
        user = await _authenticate(db, data)
        csrf = new_csrf_token()
        token = await ctx.tokens.issue(_claims(user, "session", csrf))
        body = SessionOut(user=service.user_out(user, include_real_name=True), csrf_token=csrf)
        cookie = Cookie(
            key=SESSION_COOKIE,
            value=token,
            httponly=True,
            samesite="lax",
            secure=ctx.settings.cookie_secure,
            max_age=ctx.settings.session_ttl_seconds,
            path="/",
        )
        return Response(body, cookies=[cookie])

    @post("/logout", status_code=200, summary="End the browser session or revoke the bearer token")
    async def logout(self, request: Request[Any, Any, Any], ctx: Ctx) -> Response[dict[str, bool]]:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            await ctx.tokens.revoke(auth[7:].strip())
        if cookie := request.cookies.get(SESSION_COOKIE):
            await ctx.tokens.revoke(cookie)
        response = Response({"ok": True})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


class AccountsController(Controller):
    path = "/api"
    tags = ["accounts"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/buyers/register", status_code=201, summary="Register as a buyer (real name)")
    async def register_buyer(self, data: JSONBody[BuyerRegistration], db: Db, ctx: Ctx) -> UserOut:
        user = await service.register_buyer(
            db,
            ctx.cipher,
            email=data.email,
            password=data.password,
            real_name=data.real_name,
            id_number=data.id_number,
        )
        return service.user_out(user, include_real_name=True)

    @get("/me", summary="The signed-in user")
    async def me(self, principal: Caller, db: Db) -> UserOut:
        caller = require(principal)
        user = await service.get_user(db, caller.user_id)
        return service.user_out(user, include_real_name=True)

    @post("/orgs", status_code=201, summary="Create an organisation (operator)")
    async def create_org(self, data: JSONBody[OrgCreate], db: Db, principal: Caller) -> OrgOut:
        require(principal, "operator")
        return service.org_out(await service.create_org(db, name=data.name, kind=data.kind))

    @get("/orgs", summary="List organisations (signed-in users)")
    async def list_orgs(self, db: Db, principal: Caller) -> list[OrgOut]:
        require(principal)
        return [service.org_out(org) for org in await service.list_orgs(db)]

    @post("/orgs/{org_id:uuid}/users", status_code=201, summary="Add a user to an organisation (operator)")
    async def create_org_user(
        self, org_id: FromPath[uuid.UUID], data: JSONBody[OrgUserCreate], db: Db, principal: Caller
    ) -> UserOut:
        require(principal, "operator")
        user = await service.create_org_user(
            db, org_id=org_id, email=data.email, password=data.password, name=data.name
        )
        return service.user_out(user)
