"""Security headers on every HTTP response, error pages and unknown paths included.

Invariants:
- every HTTP response carries a Content-Security-Policy that forbids inline script and framing
  (:data:`APP_POLICY`), ``X-Content-Type-Options: nosniff``, a ``Referrer-Policy``, and
  ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``;
- ``Strict-Transport-Security`` is sent only when the service runs behind TLS
  (``settings.behind_tls``): over plain HTTP it would be ignored or, worse, pin a wrong origin;
- the one exception to the policy is the HTML of the interactive API docs under ``/schema``
  (ReDoc, Swagger UI, …), which Litestar renders with an inline bootstrap script and loads from
  CDNs; those pages get :data:`DOCS_POLICY`, which still forbids framing, plugins and foreign
  form targets. The machine-readable schema (``/schema/openapi.json``, ``.yaml``) keeps the app
  policy;
- a header a handler set on purpose is never overwritten.

It runs in front of Litestar's router and exception middleware
(:class:`marketplace.auctions.fastpath.BidFastPath`) rather than as a route middleware, so that
responses produced before routing (404, 405) and by the exception handlers get the headers too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from marketplace.settings import Settings

APP_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    )
)
DOCS_CDNS = "https://cdn.jsdelivr.net https://unpkg.com https://cdn.redoc.ly"
DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {DOCS_CDNS}",
        f"style-src 'self' 'unsafe-inline' https://fonts.googleapis.com {DOCS_CDNS}",
        "font-src 'self' data: https://fonts.gstatic.com",
        f"img-src 'self' data: {DOCS_CDNS}",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    )
)
DOCS_PREFIX = "/schema"
MACHINE_READABLE_SCHEMA = (".json", ".yaml", ".yml")
HSTS = "max-age=31536000; includeSubDomains"

BeforeSend = Callable[[Message, Scope], Awaitable[None]]


def policy_for(path: str) -> str:
    """The Content-Security-Policy for a response to ``path``."""
    is_docs = path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/")
    if is_docs and not path.endswith(MACHINE_READABLE_SCHEMA):
        return DOCS_POLICY
    return APP_POLICY


def security_headers(settings: Settings) -> BeforeSend:
    """The hook that adds the headers to every HTTP response start (called for every message)."""
    fixed = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
    }
    if settings.behind_tls:
        fixed["strict-transport-security"] = HSTS

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in fixed.items():
            if name not in headers:
                headers[name] = value
        if "content-security-policy" not in headers:
            headers["content-security-policy"] = policy_for(str(scope.get("path", "")))

    return add_headers
