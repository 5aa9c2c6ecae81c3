"""Alembic is the only source of the schema: migrations and models agree on every database."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from marketplace.all_models import metadata
from marketplace.db import make_engine
from marketplace.migrate import upgrade
from tests.conftest import DATABASE_URL, _pg_execute, missing_service, pg_url_for, postgres_server_url


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def _compare(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diff)
    finally:
        await engine.dispose()


def test_migrations_match_models_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)
    assert asyncio.run(_compare(url)) == []


@pytest.mark.postgres
def test_migrations_match_models_on_postgresql() -> None:
    if postgres_server_url() is None:
        missing_service("DATABASE_URL does not point at PostgreSQL")
    name = f"mp_schema_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_execute(DATABASE_URL, f'CREATE DATABASE "{name}"'))
    try:
        url = pg_url_for(name)
        upgrade(url)
        assert asyncio.run(_compare(url)) == []
    finally:
        asyncio.run(_pg_execute(DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}"
    upgrade(url)
    upgrade(url)
    assert asyncio.run(_compare(url)) == []
