"""Browser tests: the real app in a subprocess (embedded set-up, sandbox rules) and Debian's Chromium.

Each test gets its own data directory, migrated and seeded, and its own app process; the browser
is shared by the session. Chromium missing → skipped with the reason (failed with
``REQUIRE_SERVICES=1``). Every HTML page must carry the app's Content-Security-Policy without
``'unsafe-inline'``, and any CSP violation (a console error) or script error fails the test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    DATABASE_URL,
    REDIS_URL,
    _pg_execute,
    missing_service,
    pg_url_for,
    postgres_server_url,
    redis_available,
)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "demo-pass-2026"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _app_env(data_dir: Path, database_url: str | None, redis_url: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "COV_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        DATA_DIR=str(data_dir),
        AUCTION_RULES="sandbox",
        SECRET_KEY="browser-test-secret",
        LOG_LEVEL="WARNING",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@dataclass
class LiveApp:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, email: str, password: str = PASSWORD) -> str:
        if email not in self.tokens:
            response = httpx.post(f"{self.url}/api/auth/token", json={"email": email, "password": password})
            assert response.status_code == 200, response.text
            self.tokens[email] = response.json()["access_token"]
        return self.tokens[email]

    def api(self, method: str, path: str, email: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if email is not None:
            headers["Authorization"] = f"Bearer {self.token(email)}"
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        missing_service(
            f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)"
        )
    return CHROMIUM


@contextmanager
def running_app(workdir: Path, backend: str = "sqlite") -> Iterator[LiveApp]:
    """The app on a fresh, migrated and seeded database: an embedded one under ``workdir``, or
    (``backend="postgres"``) a new PostgreSQL database with Redis, as in production."""
    if backend == "postgres":
        with _postgres_database() as database_url, _serve(workdir, database_url, REDIS_URL) as app:
            yield app
        return
    with _serve(workdir, None, None) as app:
        yield app


@contextmanager
def _postgres_database() -> Iterator[str]:
    if postgres_server_url() is None:
        missing_service("DATABASE_URL does not point at PostgreSQL")
    if not redis_available():
        missing_service("REDIS_URL is not set or Redis is not reachable")
    name = f"mp_fe_{uuid.uuid4().hex[:10]}"
    try:
        _off_the_loop(_pg_execute(DATABASE_URL, f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        missing_service(f"PostgreSQL not reachable: {exc}")
    try:
        yield pg_url_for(name)
    finally:
        _off_the_loop(_pg_execute(DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _off_the_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` to completion on its own thread (Playwright's sync API owns this one's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


@contextmanager
def _serve(workdir: Path, database_url: str | None, redis_url: str | None) -> Iterator[LiveApp]:
    data_dir = workdir / "data"
    env = _app_env(data_dir, database_url, redis_url)
    for command in (["migrate"], ["seed"]):
        subprocess.run(
            [sys.executable, "-m", "marketplace", *command], env=env, cwd=ROOT, check=True, timeout=120
        )
    port = _free_port()
    log_path = workdir / "app.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "marketplace", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    app = LiveApp(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited early:\n{app.log_tail()}")
        try:
            if httpx.get(f"{app.url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the app did not start:\n{app.log_tail()}")
        time.sleep(0.2)
    try:
        yield app
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def live_app(chromium_path: str, tmp_path: Path) -> Iterator[LiveApp]:
    """A fresh app for one test (tests that only read may share one per module instead)."""
    with running_app(tmp_path) as app:
        yield app


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    """One Chromium for the frontend package. Package-scoped, not session-scoped: Playwright's sync
    API keeps an event loop running on this thread while it is open, and the async tests of the
    packages that run after this one need the thread's loop free again."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


class Problems:
    """Console errors, page errors and CSP violations seen by a page."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.items.append(f"page error: {error}"))
        page.on("response", self._check_policy)
        page.on(
            "console",
            lambda message: (
                self.items.append(f"console {message.type}: {message.text}")
                if message.type == "error" and not _expected_console_error(message.text)
                else None
            ),
        )

    def _check_policy(self, response: Any) -> None:
        if not response.headers.get("content-type", "").startswith("text/html"):
            return
        policy = response.headers.get("content-security-policy", "")
        if "script-src 'self'" not in policy or "unsafe-inline" in policy:
            self.items.append(f"weak or missing CSP on {response.url}: {policy!r}")


def _expected_console_error(text: str) -> bool:
    # A refused bid or form answers 4xx on purpose; Chromium logs every 4xx resource load.
    return "Failed to load resource" in text and ("status of 4" in text)


@pytest.fixture
def new_page(browser: Any, live_app: LiveApp) -> Iterator[Any]:
    """``new_page(width=1280, height=900)`` → a page in a fresh context, watched for problems."""
    contexts: list[Any] = []
    problems = Problems()

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_app.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        problems.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems.items, "\n".join(problems.items)


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("电子邮箱").fill(email)
    page.get_by_label("密码").fill(password)
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
