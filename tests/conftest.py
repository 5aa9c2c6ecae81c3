"""Test harness: isolated databases per test, on SQLite always and on PostgreSQL + Redis when set.

- SQLite: one template file is migrated (``alembic upgrade head``) and seeded per session, and
  each test gets its own copy.
- PostgreSQL: a template database is migrated and seeded per session from ``DATABASE_URL``'s
  server; each test gets ``CREATE DATABASE … TEMPLATE …`` and drops it afterwards. Redis (when
  ``REDIS_URL`` is set) is flushed before each test that uses it.
- A test that needs a service that is not reachable is skipped with the reason; with
  ``REQUIRE_SERVICES=1`` it fails instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from marketplace.accounts import security
from marketplace.settings import Settings

security.use_fast_hashing()

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")


def missing_service(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def postgres_server_url() -> str | None:
    if not DATABASE_URL.startswith("postgresql"):
        return None
    return DATABASE_URL


async def _pg_execute(url: str, *statements: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database="postgres",
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def pg_url_for(database: str) -> str:
    return make_url(DATABASE_URL).set(database=database).render_as_string(hide_password=False)


def _prepare_template(settings: Settings) -> None:
    from marketplace.__main__ import _seed
    from marketplace.migrate import upgrade

    upgrade(settings.database_url)
    asyncio.run(_seed(settings, demo_auction=False))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("sqlite-template")
    settings = Settings(data_dir=data_dir, secret_key="test-secret")
    _prepare_template(settings)
    return data_dir / "marketplace.db"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if postgres_server_url() is None:
        missing_service("DATABASE_URL does not point at PostgreSQL")
    name = f"mp_tmpl_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_pg_execute(DATABASE_URL, f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        missing_service(f"PostgreSQL not reachable: {exc}")
    settings = Settings(
        data_dir=Path("/nonexistent-unused"), database_url=pg_url_for(name), secret_key="test-secret"
    )
    _prepare_template(settings)
    yield name
    asyncio.run(_pg_execute(DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def redis_available() -> bool:
    if not REDIS_URL:
        return False
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
        return True
    except redis.RedisError:
        return False


@dataclass
class Backend:
    name: str
    settings: Settings


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The set-up under test: embedded (SQLite, file store) or production (PostgreSQL + Redis)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        shutil.copy(template, data_dir / "marketplace.db")
        yield Backend(
            "sqlite", Settings(data_dir=data_dir, secret_key="test-secret", scheduler_enabled=False)
        )
        return
    template = request.getfixturevalue("pg_template")
    if not redis_available():
        missing_service("REDIS_URL is not set or Redis is not reachable")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    name = f"mp_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_execute(DATABASE_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield Backend(
            "postgres",
            Settings(
                data_dir=data_dir,
                database_url=pg_url_for(name),
                redis_url=REDIS_URL,
                secret_key="test-secret",
                scheduler_enabled=False,
            ),
        )
    finally:
        asyncio.run(_pg_execute(DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings


@pytest.fixture
def app(settings: Settings) -> Litestar:
    from marketplace.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
