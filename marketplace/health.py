"""Liveness and readiness: the database answers, and Redis too when it is configured."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from sqlalchemy import text

from marketplace.deps import Ctx


@get("/health", tags=["ops"], summary="Database and Redis reachability")
async def health(ctx: Ctx) -> Response[dict[str, Any]]:
    checks: dict[str, str] = {}
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if ctx.redis is not None:
        try:
            await ctx.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if ok else "degraded", "setup": ctx.settings.setup, "checks": checks}
    return Response(body, status_code=200 if ok else 503)
