"""Abuse: rate limits on sign-in and bids, lockout back-off, CSRF on cookie sessions, uploads,
security headers. On both set-ups: the embedded one counts in-process, production in Redis.

The test client connects as ``testclient`` (not a loopback address), so per-address limits apply.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import update

from marketplace.accounts.models import User
from marketplace.db import utcnow
from marketplace.ratelimit import Limit, RateLimited, RateLimiter, _address_limited
from marketplace.security import APP_POLICY, DOCS_POLICY, HSTS
from marketplace.settings import Settings
from tests.auctions.factories import approved_listing
from tests.conftest import Backend
from tests.helpers import BANK_A, BUYERS, DEMO_PASSWORD, OPERATOR, bearer, direct_db
from tests.procs import free_port

Client = AsyncTestClient[Any]

LIMITED = {
    "login_limit_per_ip": 5,
    "login_limit_per_account": 3,
    "bid_limit_per_user": 2,
    "bid_limit_per_ip": 3,
    "max_upload_bytes": 1024,
}


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings.with_(**LIMITED)


def assert_rate_limited(response: Any, window: int = 60) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "rate_limited"
    assert 1 <= body["retry_after"] <= window
    assert response.headers["retry-after"] == str(body["retry_after"])


WRONG_PASSWORD = "not-the-password"


async def _sign_in(client: Client, path: str, email: str, password: str = WRONG_PASSWORD) -> Any:
    return await client.post(path, json={"email": email, "password": password})


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param(["/api/auth/token"] * 6, id="tokens"),
        pytest.param(["/api/auth/login"] * 6, id="browser sessions"),
        pytest.param(["/api/auth/token", "/api/auth/login"] * 3, id="both share one budget"),
    ],
)
async def test_sign_in_attempts_per_address_are_limited(client: Client, paths: list[str]) -> None:
    answers = [await _sign_in(client, path, f"nobody-{i}@buyer.demo") for i, path in enumerate(paths)]
    assert [a.status_code for a in answers[: LIMITED["login_limit_per_ip"]]] == [401] * 5
    assert_rate_limited(answers[LIMITED["login_limit_per_ip"]])


async def test_sign_in_attempts_per_account_are_limited_even_with_the_right_password(client: Client) -> None:
    for _ in range(LIMITED["login_limit_per_account"]):
        assert (await _sign_in(client, "/api/auth/token", BUYERS[0])).status_code == 401
    assert_rate_limited(await _sign_in(client, "/api/auth/token", BUYERS[0], DEMO_PASSWORD))
    other = await _sign_in(client, "/api/auth/token", BUYERS[1], DEMO_PASSWORD)
    assert other.status_code == 200, other.text


async def test_bids_per_user_are_limited_before_anything_else_is_looked_at(client: Client) -> None:
    buyer = await bearer(client, BUYERS[0])
    nowhere = f"/api/auctions/{uuid.uuid4()}/bids"
    answers = [await client.post(nowhere, json={"amount": 70_000_000}, headers=buyer) for _ in range(3)]
    assert [a.json()["code"] for a in answers[:2]] == ["not_found", "not_found"]
    assert_rate_limited(answers[2])


async def test_bids_per_address_are_limited_across_bidders(client: Client) -> None:
    bidders = [await bearer(client, email) for email in BUYERS[:2]]
    nowhere = f"/api/auctions/{uuid.uuid4()}/bids"
    answers = [
        await client.post(nowhere, json={"amount": 1}, headers=bidders[i % 2])
        for i in range(LIMITED["bid_limit_per_ip"] + 1)
    ]
    assert {a.status_code for a in answers[:-1]} <= {404, 422}
    assert_rate_limited(answers[-1])


@pytest.mark.parametrize(
    ("address", "exempt_loopback", "limited"),
    [
        pytest.param("127.0.0.1", True, False, id="loopback v4 exempt"),
        pytest.param("::1", True, False, id="loopback v6 exempt"),
        pytest.param("127.0.0.1", False, True, id="loopback counted when asked"),
        pytest.param("203.0.113.7", True, True, id="public address"),
        pytest.param("10.1.2.3", True, True, id="private address"),
        pytest.param("testclient", True, True, id="not an address"),
    ],
)
def test_which_client_addresses_are_counted(address: str, exempt_loopback: bool, limited: bool) -> None:
    settings = Settings(rate_limit_exempt_loopback=exempt_loopback)
    assert _address_limited(settings, address) is limited


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    max_hits=st.integers(1, 5),
    window=st.integers(1, 10),
    steps=st.lists(st.floats(0, 15, allow_nan=False), min_size=1, max_size=40),
)
async def test_a_fixed_window_never_refuses_without_cause_nor_lets_a_flood_through(
    max_hits: int, window: int, steps: list[float]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock)
    limit = Limit("prop", max_hits, window)
    hits: list[tuple[float, bool]] = []
    for gap in steps:
        clock.now += gap
        try:
            await limiter.hit(limit, "subject")
        except RateLimited as refused:
            retry_after = refused.extra["retry_after"]
            hits.append((clock.now, False))
        else:
            retry_after = 1
            hits.append((clock.now, True))
        assert 1 <= retry_after <= window
    for index, (moment, accepted) in enumerate(hits):
        recent = [h for h in hits[:index] if moment - h[0] < window]
        if not accepted:
            assert len(recent) >= max_hits, "refused without max_hits hits in the last window"
        if not recent:
            assert accepted, "refused after a quiet window"
        in_window = [h for h in hits[: index + 1] if moment - h[0] < window and h[1]]
        assert len(in_window) <= 2 * max_hits


async def test_a_disabled_limiter_or_a_zero_limit_counts_nothing() -> None:
    for limiter, limit in (
        (RateLimiter(None, enabled=False), Limit("off", 1, 60)),
        (RateLimiter(None), Limit("zero", 0, 60)),
    ):
        for _ in range(5):
            await limiter.hit(limit, "someone")


async def test_when_redis_does_not_answer_each_process_counts_alone() -> None:
    unreachable = Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        limiter = RateLimiter(unreachable)
        limit = Limit("fallback", 2, 60)
        await limiter.hit(limit, "someone")
        await limiter.hit(limit, "someone")
        with pytest.raises(RateLimited):
            await limiter.hit(limit, "someone")
    finally:
        await unreachable.aclose()


@pytest.mark.parametrize(
    ("failures_before", "locked_for"),
    [
        pytest.param(4, 30, id="5th failure locks 30 s"),
        pytest.param(5, 60, id="6th failure locks 60 s"),
        pytest.param(6, 120, id="7th failure locks 120 s"),
        pytest.param(9, 960, id="10th failure locks 960 s"),
        pytest.param(40, 3600, id="capped at one hour"),
    ],
)
async def test_lockout_backs_off_by_doubling(
    client: Client, settings: Settings, failures_before: int, locked_for: int
) -> None:
    async with direct_db(settings) as session:
        await session.execute(
            update(User)
            .where(User.email == BUYERS[2])
            .values(failed_logins=failures_before, locked_until=None)
        )
        await session.commit()
    wrong = await _sign_in(client, "/api/auth/token", BUYERS[2])
    assert wrong.status_code == 401
    locked = await _sign_in(client, "/api/auth/token", BUYERS[2], DEMO_PASSWORD)
    assert locked.status_code == 429, locked.text
    assert locked.json()["code"] == "account_locked"
    assert locked_for - 1 <= locked.json()["retry_after"] <= locked_for + 1
    assert locked.headers["retry-after"] == str(locked.json()["retry_after"])

    async with direct_db(settings) as session:
        await session.execute(
            update(User).where(User.email == BUYERS[2]).values(locked_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    unlocked = await _sign_in(client, "/api/auth/token", BUYERS[2], DEMO_PASSWORD)
    assert unlocked.status_code == 200, unlocked.text


async def _session(client: Client, email: str) -> str:
    login = await client.post("/api/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    return str(login.json()["csrf_token"])


UNSAFE_AS_OPERATOR = [
    pytest.param(
        "/api/orgs", {"name": f"CSRF Bank {uuid.uuid4().hex[:6]}", "kind": "bank"}, id="create an org"
    ),
    pytest.param("/api/settlement/preview", {"currency": "CNY"}, id="settlement preview"),
]


@pytest.mark.parametrize(("path", "body"), UNSAFE_AS_OPERATOR)
@pytest.mark.parametrize(
    "csrf",
    [
        pytest.param(None, id="no token"),
        pytest.param("forged-token", id="a forged token"),
        pytest.param("", id="an empty token"),
    ],
)
async def test_a_cookie_session_needs_its_csrf_token_on_unsafe_methods(
    client: Client, path: str, body: dict[str, Any], csrf: str | None
) -> None:
    await _session(client, OPERATOR)
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "csrf_failed"


async def test_the_right_csrf_token_or_a_bearer_token_passes(client: Client) -> None:
    csrf = await _session(client, OPERATOR)
    assert (await client.get("/api/me")).status_code == 200
    with_token = await client.post(
        "/api/orgs",
        json={"name": f"CSRF Bank {uuid.uuid4().hex[:6]}", "kind": "bank"},
        headers={"X-CSRF-Token": csrf},
    )
    assert with_token.status_code == 201, with_token.text
    client.cookies.clear()
    bearer_headers = await bearer(client, OPERATOR)
    with_bearer = await client.post(
        "/api/orgs",
        json={"name": f"Bearer Bank {uuid.uuid4().hex[:6]}", "kind": "bank"},
        headers=bearer_headers,
    )
    assert with_bearer.status_code == 201, with_bearer.text


async def test_another_sessions_csrf_token_does_not_pass(client: Client) -> None:
    other_csrf = await _session(client, BANK_A)
    client.cookies.clear()
    await _session(client, OPERATOR)
    response = await client.post(
        "/api/orgs", json={"name": "Cross Session Bank", "kind": "bank"}, headers={"X-CSRF-Token": other_csrf}
    )
    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.mark.parametrize(
    ("name", "content", "content_type", "status", "code"),
    [
        pytest.param(
            "drawing.svg", b"<svg onload=alert(1)>", "image/svg+xml", 415, "unsupported_file_type", id="svg"
        ),
        pytest.param(
            "page.htm", b"<script>alert(1)</script>", "text/html", 415, "unsupported_file_type", id="htm"
        ),
        pytest.param(
            "notes.txt",
            b"<script>alert(1)</script>",
            "text/html",
            415,
            "unsupported_file_type",
            id="txt-as-html",
        ),
        pytest.param(
            "macro.docm", b"PK\x03\x04", "application/octet-stream", 415, "unsupported_file_type", id="docm"
        ),
        pytest.param(
            "../../../etc/passwd", b"root:x:0:0", "text/plain", 415, "unsupported_file_type", id="no-ext"
        ),
        pytest.param(
            "report.pdf", PDF + b"x" * 2048, "application/pdf", 413, "file_too_large", id="too-large"
        ),
    ],
)
async def test_uploads_are_restricted_by_type_and_size(
    client: Client, settings: Settings, name: str, content: bytes, content_type: str, status: int, code: str
) -> None:
    listing_id = await approved_listing(settings)
    response = await client.post(
        f"/api/listings/{listing_id}/documents",
        files={"file": (name, content, content_type)},
        data={"confidential": "false"},
        headers=await bearer(client, BANK_A),
    )
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


async def test_uploads_are_stored_outside_the_web_root_under_names_the_client_did_not_choose(
    client: Client, settings: Settings
) -> None:
    listing_id = await approved_listing(settings)
    response = await client.post(
        f"/api/listings/{listing_id}/documents",
        files={"file": ("../../static/evil.txt", b"<script>alert(1)</script>", "text/plain")},
        data={"confidential": "false"},
        headers=await bearer(client, BANK_A),
    )
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["filename"] == "evil.txt"
    stored = [p for p in settings.uploads_dir.rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert uuid.UUID(stored[0].name) == uuid.UUID(document["id"])
    assert settings.uploads_dir.resolve() in stored[0].resolve().parents
    for guess in (f"/static/{stored[0].name}", "/static/evil.txt", f"/uploads/{listing_id}/{stored[0].name}"):
        assert (await client.get(guess)).status_code == 404, guess
    download = await client.get(
        f"/api/listings/{listing_id}/documents/{document['id']}", headers=await bearer(client, BANK_A)
    )
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("path", "policy"),
    [
        pytest.param("/health", APP_POLICY, id="json"),
        pytest.param("/api/me", APP_POLICY, id="401 problem"),
        pytest.param(f"/api/auctions/{uuid.uuid4()}", APP_POLICY, id="404 problem"),
        pytest.param("/no/such/page", APP_POLICY, id="unrouted 404"),
        pytest.param("/", APP_POLICY, id="html page"),
        pytest.param("/static/app.js", APP_POLICY, id="static file"),
        pytest.param("/schema/openapi.json", APP_POLICY, id="openapi json"),
        pytest.param("/schema", DOCS_POLICY, id="api docs"),
        pytest.param("/schema/swagger", DOCS_POLICY, id="swagger ui"),
    ],
)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_every_response_carries_the_security_headers(client: Client, path: str, policy: str) -> None:
    response = await client.get(path)
    assert response.headers["content-security-policy"] == policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in policy
    assert "strict-transport-security" not in response.headers


def test_the_app_policy_allows_no_inline_script_and_no_framing() -> None:
    directives = dict(part.split(" ", 1) for part in APP_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in APP_POLICY
    assert "'unsafe-eval'" not in APP_POLICY
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self' ws: wss:"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_hsts_only_behind_tls(settings: Settings) -> None:
    from marketplace.app import create_app

    async with AsyncTestClient(app=create_app(settings.with_(behind_tls=True))) as tls_client:
        response = await tls_client.get("/health")
    assert response.headers["strict-transport-security"] == HSTS


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/", "/login", "/register"])
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_pages_need_nothing_the_policy_forbids(client: Client, path: str) -> None:
    response = await client.get(path)
    if response.status_code == 404:
        pytest.skip(f"no page at {path}")
    html = response.text
    assert not INLINE_SCRIPT.findall(html), INLINE_SCRIPT.findall(html)
    assert not INLINE_HANDLER.findall(html), INLINE_HANDLER.findall(html)
    assert not INLINE_STYLE.findall(html), INLINE_STYLE.findall(html)
