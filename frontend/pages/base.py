"""What every page shares: the caller, the language, the CSRF token, rendering and errors.

Invariants:
- a page knows its caller only through the ``principal`` dependency (bearer or cookie session)
  and shows the session's own CSRF token in ``<meta name="csrf-token">`` and in the
  ``hx-headers`` of ``<body>``, so every htmx request and every ``fetch`` echoes it;
- state-changing page handlers answer only htmx requests (``HX-Request: true``), which a
  cross-site form cannot send; the session's CSRF check runs on top of that;
- a domain error on a page renders the error page (or, for an htmx request, an error fragment)
  with the API's status and the message for its ``code``; ``not_authenticated`` on a full page
  sends the browser to the sign-in page and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
import structlog
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect, Template

from auction.errors import AuctionError
from frontend.i18n import LANG_COOKIE, Lang, error_message, negotiate, translate
from marketplace.accounts.security import SESSION_COOKIE, Principal
from marketplace.deps import Caller, Ctx
from marketplace.errors import DomainError, Forbidden, exception_handlers, is_connection_error, status_for
from marketplace.money import CurrencyMismatch, UnknownCurrency
from marketplace.settlement import SettlementInvalid
from registry_adapters.base import RegistryError

log = structlog.get_logger("frontend")

HOME_FOR_ROLE = {"buyer": "/me", "bank_user": "/bank", "operator": "/operator", "party_user": "/"}


@dataclass(frozen=True)
class Page:
    lang: Lang
    principal: Principal | None
    csrf: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    lang_from_query: bool = False
    htmx: bool = False

    def t(self, key: str, **params: object) -> str:
        return translate(self.lang, key, **params)

    def err(self, code: str, detail: str = "") -> str:
        return error_message(self.lang, code, detail)

    @property
    def role(self) -> str | None:
        return self.principal.role if self.principal else None

    def other_lang_url(self) -> str:
        other = "zh" if self.lang == "en" else "en"
        return self.url_with(lang=other)

    def url_with(self, **changes: object) -> str:
        params = dict(self.query)
        for key, value in changes.items():
            if value is None or value == "":
                params.pop(key, None)
            else:
                params[key] = str(value)
        return f"{self.path}?{urlencode(params)}" if params else self.path


async def provide_page(request: Request[Any, Any, Any], ctx: Ctx, principal: Caller) -> Page:
    query_lang = request.query_params.get("lang")
    lang = negotiate(query_lang, request.cookies.get(LANG_COOKIE))
    csrf = ""
    if principal is not None and principal.via == "session":
        claims = await ctx.tokens.resolve(request.cookies.get(SESSION_COOKIE, ""))
        csrf = (claims.csrf or "") if claims else ""
    page = Page(
        lang=lang,
        principal=principal,
        csrf=csrf,
        path=request.url.path,
        query={k: v for k, v in request.query_params.items() if k != "lang"},
        lang_from_query=query_lang in ("zh", "en"),
        htmx=request.headers.get("hx-request") == "true",
    )
    request.state.page = page
    return page


PageDep = NamedDependency[Page]


def _lang_cookie(page: Page) -> list[Cookie]:
    if not page.lang_from_query:
        return []
    return [Cookie(key=LANG_COOKIE, value=page.lang, max_age=365 * 86400, path="/", samesite="lax")]


def render(
    page: Page, template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Template:
    return Template(
        template_name=template,
        context={"page": page, "t": page.t, "err": page.err, **context},
        status_code=status,
        cookies=_lang_cookie(page),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def client_redirect(url: str) -> Response[str]:
    """Tell htmx to load ``url`` as a full page."""
    return Response("", status_code=200, headers={"HX-Redirect": url}, media_type="text/html")


def require_htmx(request: Request[Any, Any, Any]) -> None:
    if request.headers.get("hx-request") != "true":
        raise Forbidden("htmx_required", "this form is sent by the page's script (htmx)")


def coded(exc: BaseException) -> tuple[str, str] | None:
    """``(code, detail)`` of a coded error from the service or the pure packages."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code, str(getattr(exc, "detail", "") or code)
    return None


def error_status(exc: BaseException, code: str) -> int:
    if isinstance(exc, DomainError):
        return status_for(code, exc.status)
    family = type(exc).__name__
    return status_for(
        code, 422 if family in {"ScheduleRejected", "SettlementInvalid", "FormValueError"} else 409
    )


def _fallback_page(request: Request[Any, Any, Any]) -> Page:
    existing = getattr(request.state, "page", None)
    if isinstance(existing, Page):
        return existing
    lang = negotiate(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
    return Page(lang=lang, principal=None, csrf="", path=request.url.path)


def page_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors on pages: the error page, an htmx fragment, or the sign-in redirect."""
    page = _fallback_page(request)
    if is_connection_error(exc):
        return render(page, "error.html", status=503, code="service_unavailable", detail="")
    if coded(exc) is None and not isinstance(exc, HTTPException | msgspec.ValidationError):
        log.exception("unhandled error on a page", path=request.url.path, method=request.method)
    if isinstance(exc, NotFoundException):
        code, detail, status = "not_found", str(exc.detail), 404
    elif isinstance(exc, HTTPException):
        code, detail, status = "invalid_input", str(exc.detail), exc.status_code
    elif isinstance(exc, msgspec.ValidationError):
        code, detail, status = "invalid_input", str(exc), 422
    else:
        found = coded(exc) or ("internal_error", "an unexpected error occurred")
        code, detail = found
        status = error_status(exc, code) if found[0] != "internal_error" else 500
    htmx = request.headers.get("hx-request") == "true"
    if code == "not_authenticated" and not htmx and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target, safe='')}")
    if htmx:
        return render(page, "partials/error.html", status=status, code=code, detail=detail)
    return render(page, "error.html", status=status, code=code, detail=detail)


# Litestar picks the handler of the most specific class across every layer, so the page handler is
# registered for every class the app maps (and the coded families of the pure packages).
PAGE_EXCEPTION_HANDLERS: dict[Any, Any] = dict.fromkeys(
    (
        *(key for key in exception_handlers() if isinstance(key, type)),
        AuctionError,
        SettlementInvalid,
        CurrencyMismatch,
        UnknownCurrency,
        RegistryError,
    ),
    page_error_handler,
)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to after signing in (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


async def form_data(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The submitted form's single values, stripped (repeated names keep the last value)."""
    form = await request.form()
    return {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}


def form_error(page: Page, code: str, detail: str = "", status: int | None = None) -> Template:
    """The error fragment a form shows in its message area (``#<form>-errors``)."""
    return render(
        page, "partials/error.html", status=status or status_for(code, 422), code=code, detail=detail
    )


def error_fragment(page: Page, exc: BaseException) -> Template:
    code, detail = coded(exc) or ("invalid_input", str(exc))
    return form_error(page, code, detail, error_status(exc, code))


def by_asset(checks: list[Any]) -> list[tuple[str, list[Any]]]:
    """Check results grouped by asset in their original order (lot-level results under ``""``)."""
    groups: dict[str, list[Any]] = {}
    for check in checks:
        groups.setdefault(check.asset or "", []).append(check)
    return list(groups.items())


def label(page: Page, prefix: str, name: str) -> str:
    """The translation of ``prefix.name``, or ``name`` itself when the catalogue has none."""
    base = name.split(":", 1)[0]
    key = f"{prefix}.{base}"
    text = page.t(key)
    if text == key:
        return name
    return f"{text} {name.split(':', 1)[1]}" if ":" in name else text
