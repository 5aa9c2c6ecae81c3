"""The PostgreSQL bid writer under a broken connection: a 503, and the connection is not reused."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from marketplace.auctions.bidwriter import PgBidWriter
from marketplace.errors import Unavailable
from marketplace.settings import Settings


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
        ConnectionResetError("connection reset by peer"),
    ],
    ids=["left mid-operation", "reset"],
)
async def test_a_connection_that_fails_mid_batch_is_a_503_and_is_not_reused(
    settings: Settings, failure: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = PgBidWriter(settings.database_url, max_connections=1)
    used: list[Any] = []

    async def fail(connection: Any, auction_id: Any, commands: Any) -> Any:
        used.append(connection._con)  # the connection itself, not the pool's proxy of it
        raise failure

    monkeypatch.setattr(writer, "_decide_and_write", fail)
    try:
        with pytest.raises(Unavailable) as refused:
            await writer.apply_bids("00000000-0000-0000-0000-000000000001", [])
        assert refused.value.code == "service_unavailable"
        (broken,) = used
        assert broken.is_closed(), "the failed connection went back to the pool"
        pool = await writer._get_pool()
        async with pool.acquire() as fresh:
            assert fresh._con is not broken
            assert await fresh.fetchval("SELECT 1") == 1
    finally:
        await writer.aclose()
