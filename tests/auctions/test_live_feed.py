"""The live feed over a real websocket, on each set-up: snapshot, events, soft close, resume."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets

from marketplace.settings import Settings
from tests.auctions.factories import approved_listing, window
from tests.helpers import BUYERS, DEMO_PASSWORD, OPERATOR
from tests.procs import app_env, running_apps


async def _token(http: httpx.AsyncClient, base: str, email: str) -> dict[str, str]:
    response = await http.post(f"{base}/api/auth/token", json={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _sleep_until(when: str, offset: float) -> None:
    """Sleep until ``offset`` seconds after the instant ``when`` (ISO 8601; same machine's clock)."""
    target = datetime.fromisoformat(when.replace("Z", "+00:00")) + timedelta(seconds=offset)
    await asyncio.sleep(max(0.0, (target - datetime.now(UTC)).total_seconds()))


async def _collect(url: str, count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        while len(messages) < count:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=20)))
    return messages


async def _collect_batched(url: str, count: int) -> tuple[list[dict[str, Any]], int]:
    """Messages from ``batch=true`` frames (each a JSON array), and how many frames carried them."""
    messages: list[dict[str, Any]] = []
    frames = 0
    async with websockets.connect(url) as ws:
        while len(messages) < count:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=20))
            assert isinstance(frame, list), frame
            messages.extend(frame)
            frames += 1
    return messages, frames


async def test_watchers_see_bids_extensions_and_the_close_then_resume_from_seq(
    settings: Settings, tmp_path: Path
) -> None:
    listing_id = await approved_listing(settings)
    env = app_env(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        AUCTION_RULES="sandbox",
        DATA_DIR=str(settings.data_dir),
        SCHEDULER="1",
    )
    with running_apps(env, tmp_path, 1) as (app,):
        async with httpx.AsyncClient(timeout=20) as http:
            operator = await _token(http, app.url, OPERATOR)
            starts_at, ends_at = window(1.5, 5.0)
            created = await http.post(
                f"{app.url}/api/listings/{listing_id}/auctions",
                json={
                    "kind": "auction",
                    "starting_price": 70_000_000,
                    "increment": 1_000_000,
                    "deposit": 7_000_000,
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                    "extension_seconds": 2,
                },
                headers=operator,
            )
            assert created.status_code == 201, created.text
            aid = created.json()["id"]
            bidders = []
            for email in BUYERS[:2]:
                headers = await _token(http, app.url, email)
                registration = await http.post(
                    f"{app.url}/api/auctions/{aid}/registrations", json={}, headers=headers
                )
                deposit_id = registration.json()["deposit"]["id"]
                assert (
                    await http.post(f"{app.url}/api/deposits/{deposit_id}/confirm", headers=operator)
                ).status_code == 200
                bidders.append(headers)

            # snapshot, opened, bid, bid, extended, closed
            watcher = asyncio.create_task(_collect(f"{app.ws_url}/ws/auctions/{aid}", 6))
            batch_watcher = asyncio.create_task(
                _collect_batched(f"{app.ws_url}/ws/auctions/{aid}?batch=true", 6)
            )
            await _sleep_until(starts_at, 0.3)  # open, and ≥ 2 s before the close (setup takes a while)
            first = await http.post(
                f"{app.url}/api/auctions/{aid}/bids", json={"amount": 70_000_000}, headers=bidders[0]
            )
            assert first.status_code == 201, first.text
            assert first.json()["extensions"] == 0
            await _sleep_until(first.json()["ends_at"], -1.0)  # inside the 2 s soft-close window
            second = await http.post(
                f"{app.url}/api/auctions/{aid}/bids", json={"amount": 71_000_000}, headers=bidders[1]
            )
            assert second.status_code == 201, second.text
            assert second.json()["extensions"] == 1
            messages = await asyncio.wait_for(watcher, timeout=30)

            assert messages[0]["type"] == "snapshot"
            live = messages[1:]
            assert [m["type"] for m in live] == ["opened", "bid", "bid", "extended", "closed"]
            assert [m["seq"] for m in live] == [1, 2, 3, 4, 5]
            assert live[2]["bidder_code"] == second.json()["leader_code"]
            assert live[3]["extensions"] == 1
            assert live[4]["outcome"] == "sold"
            assert live[4]["price"] == 71_000_000
            assert all("server_time" in m for m in messages)
            assert "Li Si" not in json.dumps(messages)

            batched, _ = await asyncio.wait_for(batch_watcher, timeout=30)
            assert [(m["type"], m["seq"]) for m in batched[1:]] == [(m["type"], m["seq"]) for m in live]
            assert batched[1:] == live, "a batch carries the very messages a single watcher gets"

            resumed = await _collect(f"{app.ws_url}/ws/auctions/{aid}?after_seq=2", 4)
            assert resumed[0]["type"] == "snapshot"
            assert [m["seq"] for m in resumed[1:]] == [3, 4, 5]
            resumed_batch, frames = await _collect_batched(
                f"{app.ws_url}/ws/auctions/{aid}?after_seq=2&batch=true", 4
            )
            assert frames == 1, "the snapshot and the replay travel as one frame"
            assert [m["seq"] for m in resumed_batch] == [2, 3, 4, 5]
