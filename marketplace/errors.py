"""Domain errors and the one table that maps them to problem+json responses.

A domain error carries a stable ``code`` and a human ``detail`` and never an HTTP status; the
status comes from :data:`CODE_STATUS` (or, failing that, from the error's family). Errors raised
by the pure packages (``auction``, ``registry_adapters``, settlement) carry ``code`` too and are
mapped by the same table. Anything else that escapes a handler is a bug: it is logged with the
request id and answered with a 500 problem that reveals nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

if TYPE_CHECKING:
    from litestar import Litestar

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger("marketplace.errors")


class DomainError(Exception):
    """Base of every error the service raises on purpose."""

    status = 409

    def __init__(self, code: str, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail or code.replace("_", " ")
        self.extra = extra


class NotAuthenticated(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Invalid(DomainError):
    status = 422


class Unavailable(DomainError):
    status = 503


CODE_STATUS: dict[str, int] = {
    # authentication and roles
    "not_authenticated": 401,
    "bad_credentials": 401,
    "token_expired": 401,
    "account_locked": 429,
    "rate_limited": 429,
    "csrf_failed": 403,
    "forbidden": 403,
    "wrong_role": 403,
    # generic
    "not_found": 404,
    "invalid_input": 422,
    "malformed_json": 400,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "method_not_allowed": 405,
    "conflict": 409,
    "email_taken": 409,
    "idempotency_key_reused": 422,
    "idempotency_in_progress": 409,
    "service_unavailable": 503,
    # auctions (codes defined by api.md)
    "deposit_required": 403,
    "not_allowed_to_bid": 403,
    "auction_not_open": 409,
    "auction_closed": 409,
    "already_leading": 409,
    "bid_too_low": 422,
    "bad_increment": 422,
    "bad_amount": 422,
    "price_below_floor": 422,
    "bad_deposit": 422,
    "too_short": 422,
    "illegal_transition": 409,
    "not_due": 409,
    "already_closed": 409,
    "bad_window": 422,
    "bad_extension": 422,
    "bad_preemption": 422,
    "announcement_too_short": 422,
    "relist_too_late": 422,
    "sale_not_allowed": 422,
    "sale_required": 422,
    "bad_sale_price": 422,
    "bad_stalking_horse": 422,
    "fixed_price_only": 422,
    "round_in_progress": 409,
    "already_sold": 409,
    "no_more_rounds": 409,
    "registry_unavailable": 503,
    "not_approved": 409,
    "same_operator": 403,
    "gateway_unavailable": 503,
    "payment_declined": 402,
    "unknown_reference": 404,
    "unknown_payee": 422,
    "invalid_payload": 400,
    "invalid_signature": 400,
    "gateway_rejected": 502,
    "bad_state": 409,
    "bad_currency": 422,
    "currency_mismatch": 422,
    "bank_advance": 422,
    # settlement: every SettlementInvalid code of the calculator is invalid input
    "negative_amount": 422,
    "amount_too_large": 422,
    "bad_premium": 422,
    "unknown_role": 422,
    "duplicate_role": 422,
    "bank_line_missing": 422,
    "bad_ratio": 422,
    "ratios_not_10000": 422,
    "advance_without_party": 422,
    "advance_above_claim": 422,
}


def status_for(code: str, default: int) -> int:
    return CODE_STATUS.get(code, default)


def problem(status: int, code: str, detail: str, title: str | None = None, **extra: Any) -> Response[Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "status": status,
        "title": title or _TITLES.get(status, "Error"),
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON)


_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def _domain_status(exc: Exception) -> int:
    if isinstance(exc, DomainError):
        return status_for(exc.code, exc.status)
    code = getattr(exc, "code", "")
    family = type(exc).__name__
    default = (
        422
        if family in {"ScheduleRejected", "SettlementInvalid", "UnknownCurrency", "CurrencyMismatch"}
        else 409
    )
    return status_for(code, default)


def coded_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors from this package and from the pure packages: anything with ``code`` and ``detail``."""
    extra = dict(getattr(exc, "extra", {}) or {})
    response = problem(
        _domain_status(exc), str(getattr(exc, "code", "error")), str(getattr(exc, "detail", exc)), **extra
    )
    if "retry_after" in extra:
        response.headers["Retry-After"] = str(extra["retry_after"])
    return response


def validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    detail = exc.detail or "invalid input"
    if "JSON is malformed" in detail or "malformed" in detail.lower():
        return problem(400, "malformed_json", "the request body is not valid JSON")
    errors = exc.extra if isinstance(exc.extra, list) else None
    return problem(422, "invalid_input", detail, errors=errors or [])


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, NotFoundException):
        code = "not_found"
    elif isinstance(exc, MethodNotAllowedException):
        code = "method_not_allowed"
    elif isinstance(exc, PermissionDeniedException):
        code = "forbidden"
    elif status == 413:
        code = "body_too_large"
    elif status == 415:
        code = "unsupported_media_type"
    elif status == 429:
        code = "rate_limited"
    elif status == 400:
        detail = str(exc.detail or "")
        if isinstance(exc.__cause__, msgspec.DecodeError | SerializationException) or "JSON" in detail:
            return problem(400, "malformed_json", "the request body is not valid JSON")
        return problem(400, "bad_request", detail or "bad request")
    else:
        code = _TITLES.get(status, "error").lower().replace(" ", "_")
    headers = getattr(exc, "headers", None) or {}
    response = problem(status, code, str(exc.detail or _TITLES.get(status, "error")))
    for name, value in headers.items():
        response.headers[name] = value
    return response


def database_unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("database unavailable", error=str(exc)[:200])
    response = problem(503, "service_unavailable", "the database is not answering; retry shortly")
    response.headers["Retry-After"] = "2"
    return response


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "an unexpected error occurred")


UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")
"""SQLSTATEs that mean "the database is not serving now", not "this request is wrong": connection
exceptions, shutdown and start-up (``57P01``–``57P03``), too many connections."""


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, DBAPIError) and str(getattr(exc.orig, "sqlstate", "") or "").startswith(
        UNAVAILABLE_SQLSTATES
    ):
        return True
    if isinstance(exc, OperationalError):
        text = str(exc).lower()
        return any(word in text for word in ("connect", "connection", "terminat", "shutdown", "closed"))
    return isinstance(exc, ConnectionError | OSError)


def is_refused_value(exc: BaseException) -> bool:
    """A value the database cannot hold (SQLSTATE class 22: a NUL in text, a number out of range)."""
    if not isinstance(exc, DBAPIError):
        return False
    if str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
        return True
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return type(cause).__name__ == "DataError"  # asyncpg refused a query argument before sending it


def db_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_connection_error(exc):
        return database_unavailable_handler(request, exc)
    if is_refused_value(exc):
        return problem(
            422, "invalid_input", "a value is out of range or contains characters that cannot be stored"
        )
    return internal_error_handler(request, exc)


def too_deep_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if request.method in ("POST", "PUT", "PATCH"):
        return problem(400, "malformed_json", "the request body is nested too deeply")
    return internal_error_handler(request, exc)


def out_of_range_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return problem(422, "invalid_input", "a number is out of range")


def exception_handlers(extra_coded: tuple[type[Exception], ...] = ()) -> dict[Any, Any]:
    handlers: dict[Any, Any] = {
        DomainError: coded_error_handler,
        ValidationException: validation_handler,
        HTTPException: http_exception_handler,
        msgspec.ValidationError: lambda r, e: problem(422, "invalid_input", str(e)),
        DBAPIError: db_error_handler,
        PoolTimeout: database_unavailable_handler,
        ConnectionError: database_unavailable_handler,
        OSError: db_error_handler,
        RecursionError: too_deep_handler,
        OverflowError: out_of_range_handler,
        Exception: internal_error_handler,
    }
    for cls in extra_coded:
        handlers[cls] = coded_error_handler
    return handlers


class Problem(msgspec.Struct):
    """The body of every error answer (``application/problem+json``); some codes add fields."""

    type: str
    status: int
    title: str
    detail: str
    code: str


DOCUMENTED_PROBLEMS = (400, 401, 403, 404, 409, 413, 422, 429, 503)


def document_problems(app: Litestar) -> None:
    """Declare the problem answers on every API operation of the OpenAPI schema (built lazily
    afterwards), so that clients and schema-driven tests know a 4xx or 503 body's shape."""
    problems = {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=_TITLES.get(status, "Error"),
            generate_examples=False,
        )
        for status in DOCUMENTED_PROBLEMS
    }
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler) and route.path.startswith("/api/"):
                handler.responses = {**problems, **(handler.responses or {})}
