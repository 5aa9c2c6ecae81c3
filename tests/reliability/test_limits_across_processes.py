"""Limits that hold across app processes (counted in Redis) and live connections per client address.

The app processes trust ``X-Forwarded-For`` from loopback (uvicorn's proxy headers), as they would
from a load balancer; the tests use it to be different clients.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from marketplace.settings import Settings
from tests.auctions.factories import approved_listing
from tests.helpers import BUYERS, DEMO_PASSWORD
from tests.procs import app_env, running_apps
from tests.reliability.market import schedule_round, token

pytestmark = pytest.mark.multiprocess


def _client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_sign_in_and_bid_limits_are_shared_by_every_process(settings: Settings, tmp_path: Path) -> None:
    env = app_env(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        DATA_DIR=str(tmp_path / "data"),
        LOGIN_LIMIT_PER_ACCOUNT="3",
        LOGIN_LIMIT_PER_IP="4",
        BID_LIMIT_PER_USER="3",
    )
    with running_apps(env, tmp_path, 2) as apps:
        bases = [app.url for app in apps]
        async with httpx.AsyncClient(timeout=20) as http:

            async def sign_in(i: int, email: str, address: str) -> Any:
                return await http.post(
                    f"{bases[i % 2]}/api/auth/token",
                    json={"email": email, "password": "not-the-password"},
                    headers=_client(address),
                )

            per_account = [await sign_in(i, BUYERS[0], f"198.51.100.{i + 1}") for i in range(4)]
            per_address = [await sign_in(i, f"x{i}@buyer.demo", "203.0.113.9") for i in range(5)]
            elsewhere = await sign_in(5, "y@buyer.demo", "203.0.113.10")

            bidder = await token(http, bases[0], BUYERS[1], DEMO_PASSWORD)
            nowhere = f"/api/auctions/{uuid.uuid4()}/bids"
            bids = [
                await http.post(f"{bases[i % 2]}{nowhere}", json={"amount": 70_000_000}, headers=bidder)
                for i in range(4)
            ]

    assert [r.status_code for r in per_account] == [401, 401, 401, 429]
    assert [r.status_code for r in per_address] == [401, 401, 401, 401, 429]
    assert elsewhere.status_code == 401
    assert [r.status_code for r in bids] == [404, 404, 404, 429]
    for refused in (per_account[-1], per_address[-1], bids[-1]):
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1


async def _snapshot_or_close(url: str, address: str | None) -> tuple[Any, dict[str, Any] | None, int | None]:
    """Open a live connection; the open socket and its first message, or the close code."""
    headers = _client(address) if address else {}
    ws = await websockets.connect(url, additional_headers=headers)
    try:
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    except websockets.exceptions.ConnectionClosed as closed:
        return None, None, closed.rcvd.code if closed.rcvd else None
    return ws, first, None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_live_connections_per_client_address_are_capped(settings: Settings, tmp_path: Path) -> None:
    listing_id = await approved_listing(settings)
    env = app_env(
        DATABASE_URL=settings.database_url,
        REDIS_URL="",
        DATA_DIR=str(settings.data_dir),
        AUCTION_RULES="sandbox",
        WS_CONNECTIONS_PER_CLIENT="2",
    )
    with running_apps(env, tmp_path, 1) as (app,):
        async with httpx.AsyncClient(timeout=20) as http:
            created = await schedule_round(http, app.url, listing_id, start_in=60, duration=60)
        url = f"{app.ws_url}/ws/auctions/{created['id']}"
        opened: list[Any] = []
        try:
            first = await _snapshot_or_close(url, "198.51.100.7")
            second = await _snapshot_or_close(url, "198.51.100.7")
            third = await _snapshot_or_close(url, "198.51.100.7")
            other_client = await _snapshot_or_close(url, "198.51.100.8")
            local = [await _snapshot_or_close(url, None) for _ in range(3)]
            opened = [c[0] for c in (first, second, third, other_client, *local) if c[0] is not None]
            await first[0].close()
            await asyncio.sleep(0.2)
            after_one_left = await _snapshot_or_close(url, "198.51.100.7")
            if after_one_left[0] is not None:
                opened.append(after_one_left[0])
        finally:
            await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)

    assert first[1] is not None
    assert first[1]["type"] == "snapshot"
    assert second[1] is not None
    assert second[1]["type"] == "snapshot"
    assert third[2] == 1008
    assert other_client[1] is not None
    assert other_client[1]["type"] == "snapshot"
    assert all(c[1] is not None for c in local), "loopback clients (local tools) are exempt"
    assert after_one_left[1] is not None
    assert after_one_left[1]["type"] == "snapshot"
