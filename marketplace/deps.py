"""Request-scoped dependencies: the unit-of-work session, the caller, the app context.

The session commits after the handler has produced its response and before the response is
sent (Litestar exits dependency clean-ups before sending), so a client never hears of a write that
did not commit; work queued with :func:`marketplace.db.after_commit` runs after that commit.
Unsafe methods on SQLite open their transaction with ``BEGIN IMMEDIATE`` (a single writer that
queues, never a deadlocked upgrade).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Principal,
    TokenClaims,
    csrf_matches,
)
from marketplace.context import AppContext
from marketplace.db import run_after_commit
from marketplace.errors import Forbidden, NotAuthenticated

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def provide_ctx(state: State) -> AppContext:
    ctx: AppContext = state.ctx
    return ctx


async def provide_db(
    request: Request[Any, Any, Any], ctx: Ctx, principal: Caller
) -> AsyncIterator[AsyncSession]:
    """The request's unit of work. It waits for the caller: Litestar resolves sibling dependencies
    concurrently and never cleans up a sibling generator when another one fails, so a request refused
    for its credentials (401, or 403 without its CSRF token) must not have opened a session.

    ``ctx`` → ``principal`` → ``db`` is a chain, not siblings, on purpose: Litestar resolves a batch
    of sibling dependencies in an anyio task group (a task per dependency, ~6 % of a process's CPU
    under a bidding war), and one at a time when each batch has one."""
    async with ctx.sessionmaker() as session:
        if ctx.settings.is_sqlite and request.method not in SAFE_METHODS:
            await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        try:
            yield session
        except BaseException:
            await session.rollback()
            session.info.pop("after_commit", None)
            raise
        else:
            await session.commit()
            await run_after_commit(session)


def _principal_from(claims: TokenClaims, via: str) -> Principal:
    import uuid

    return Principal(
        user_id=uuid.UUID(claims.user_id),
        role=claims.role,
        org_id=uuid.UUID(claims.org_id) if claims.org_id else None,
        org_kind=claims.org_kind,
        name=claims.name,
        email=claims.email,
        via=via,
    )


async def provide_principal(request: Request[Any, Any, Any], ctx: Ctx) -> Principal | None:
    """The caller, from a bearer token or a session cookie; ``None`` for anonymous callers.

    A bearer header that does not resolve is a 401 (a client with a stale token must know), and a
    cookie-authenticated unsafe request without the matching CSRF token is a 403.
    """
    if "principal" in request.scope:
        return cast(Principal | None, request.scope["principal"])  # type: ignore[typeddict-item]
    principal: Principal | None = None
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("not_authenticated", "use 'Authorization: Bearer <token>'")
        claims = await ctx.tokens.resolve(token.strip())
        if claims is None or claims.kind != "bearer":
            raise NotAuthenticated("token_expired", "the token is unknown or expired; get a new one")
        principal = _principal_from(claims, "bearer")
    elif cookie := request.cookies.get(SESSION_COOKIE):
        claims = await ctx.tokens.resolve(cookie)
        if claims is not None and claims.kind == "session":
            if request.method not in SAFE_METHODS and not csrf_matches(
                claims.csrf, request.headers.get(CSRF_HEADER)
            ):
                raise Forbidden("csrf_failed", "missing or wrong CSRF token for a cookie session")
            principal = _principal_from(claims, "session")
    request.scope["principal"] = principal  # type: ignore[typeddict-unknown-key]
    return principal


def require(principal: Principal | None, *roles: str) -> Principal:
    """The caller, who must be signed in and, when roles are given, hold one of them."""
    if principal is None:
        raise NotAuthenticated("not_authenticated", "sign in first")
    if roles and principal.role not in roles:
        raise Forbidden("wrong_role", f"this needs the role {' or '.join(roles)}")
    return principal


Ctx = NamedDependency[AppContext]
Db = NamedDependency[AsyncSession]
Caller = NamedDependency[Principal | None]
