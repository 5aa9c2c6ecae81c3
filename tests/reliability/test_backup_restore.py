"""Backups: a ``pg_dump`` of a database with auctions and a ledger restores into a new database on
which ``python -m marketplace verify`` passes (and still catches a break), as README "Reliability"
tells an operator to check after every restore."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from marketplace.auctions.models import AuctionEvent
from marketplace.ledger.models import LedgerEntry, LedgerTransaction
from marketplace.settings import Settings
from tests.conftest import _pg_execute, missing_service, pg_url_for
from tests.helpers import OPERATOR, bearer, direct_db
from tests.reliability.test_records import edit_a_bid_amount, round_with_bids, run_verify
from tests.settlement_service.factories import FRONT_LOADED, confirm_transfer, listing_with_terms, sold_round

pytestmark = pytest.mark.postgres

Client = AsyncTestClient[Any]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(auction_rules="sandbox")


def _libpq_args(database_url: str) -> list[str]:
    url = make_url(database_url)
    return ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]


async def _counts(database_url: str) -> dict[str, int]:
    async with direct_db(Settings(database_url=database_url)) as session:
        return {
            table.__tablename__: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (AuctionEvent, LedgerEntry, LedgerTransaction)
        }


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_restored_backup_verifies(client: Client, settings: Settings, tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        missing_service("pg_dump / pg_restore are not installed")
    auction_id = await round_with_bids(client, settings)
    listing_id = await listing_with_terms(settings, FRONT_LOADED)
    await sold_round(settings, listing_id, 70_000_000)
    await confirm_transfer(client, listing_id)
    settled = await client.post(f"/api/listings/{listing_id}/settle", headers=await bearer(client, OPERATOR))
    assert settled.status_code == 200, settled.text
    original = await _counts(settings.database_url)
    assert original["ledger_transactions"] > 0
    assert original["auction_events"] >= 4

    dump = tmp_path / "marketplace.dump"
    source = make_url(settings.database_url).database or ""
    subprocess.run(
        ["pg_dump", *_libpq_args(settings.database_url), "--format=custom", "--file", str(dump), source],
        check=True,
        timeout=120,
        capture_output=True,
    )
    restored_name = f"mp_restore_{uuid.uuid4().hex[:10]}"
    restored_url = pg_url_for(restored_name)
    await _pg_execute(settings.database_url, f'CREATE DATABASE "{restored_name}"')
    try:
        subprocess.run(
            [
                "pg_restore",
                *_libpq_args(restored_url),
                "--dbname",
                restored_name,
                "--no-owner",
                "--exit-on-error",
                str(dump),
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
        assert await _counts(restored_url) == original
        verified = run_verify(restored_url)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "OK: every record verifies" in verified.stdout

        async with direct_db(Settings(database_url=restored_url)) as session:
            await edit_a_bid_amount(session, auction_id)
            await session.commit()
        tampered = run_verify(restored_url)
        assert tampered.returncode == 1
        assert f"BROKEN: auction {auction_id} at seq 3" in tampered.stdout
    finally:
        await _pg_execute(settings.database_url, f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')
