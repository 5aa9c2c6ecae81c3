"""Two app processes sharing PostgreSQL and Redis: 50 bidders, watchers on both, one close.

Afterwards the bids table, the seqs every watcher saw on both processes, and the final state agree
exactly: no gap, no duplicate, one winner, one close.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from marketplace.settings import Settings
from tests.auctions.factories import approved_listing, window
from tests.helpers import DEMO_PASSWORD, OPERATOR
from tests.procs import app_env, running_apps

pytestmark = [pytest.mark.multiprocess, pytest.mark.postgres, pytest.mark.redis]

BIDDERS = 50
WATCHERS_PER_APP = 5


async def _token(http: httpx.AsyncClient, base: str, email: str, password: str) -> dict[str, str]:
    response = await http.post(f"{base}/api/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _watch(url: str, seen: list[dict[str, Any]], done: asyncio.Event) -> None:
    async with websockets.connect(url) as ws:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
            seen.append(message)
            if message.get("type") == "closed" or (
                message.get("type") == "snapshot" and message.get("status") in ("sold", "failed")
            ):
                done.set()
                return


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_two_processes_agree_on_every_bid(settings: Settings, tmp_path: Path) -> None:
    listing_id = await approved_listing(settings)
    env = app_env(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        AUCTION_RULES="sandbox",
        DATA_DIR=str(tmp_path / "data"),
    )
    with running_apps(env, tmp_path, 2) as apps:
        a, b = apps
        async with httpx.AsyncClient(timeout=30) as http:
            operator = await _token(http, a.url, OPERATOR, DEMO_PASSWORD)
            starts_at, ends_at = window(14.0, 6.0)
            created = await http.post(
                f"{a.url}/api/listings/{listing_id}/auctions",
                json={
                    "kind": "auction",
                    "starting_price": 70_000_000,
                    "increment": 100_000,
                    "deposit": 7_000_000,
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                    "extension_seconds": 2,
                },
                headers=operator,
            )
            assert created.status_code == 201, created.text
            aid = created.json()["id"]

            async def enrol(i: int) -> dict[str, str]:
                base = apps[i % 2].url
                email = f"mp-bidder-{i}@buyer.demo"
                reg = await http.post(
                    f"{base}/api/buyers/register",
                    json={
                        "email": email,
                        "password": "long-enough-pw",
                        "real_name": f"Bidder {i}",
                        "id_number": f"ID{i:08d}",
                    },
                )
                assert reg.status_code == 201, reg.text
                headers = await _token(http, base, email, "long-enough-pw")
                registration = await http.post(
                    f"{base}/api/auctions/{aid}/registrations", json={}, headers=headers
                )
                assert registration.status_code == 201, registration.text
                confirm = await http.post(
                    f"{base}/api/deposits/{registration.json()['deposit']['id']}/confirm", headers=operator
                )
                assert confirm.status_code == 200, confirm.text
                return headers

            bidders = await asyncio.gather(*(enrol(i) for i in range(BIDDERS)))

            seen: list[list[dict[str, Any]]] = []
            done_events: list[asyncio.Event] = []
            watchers = []
            for app in apps:
                for _ in range(WATCHERS_PER_APP):
                    log: list[dict[str, Any]] = []
                    done = asyncio.Event()
                    seen.append(log)
                    done_events.append(done)
                    watchers.append(
                        asyncio.create_task(_watch(f"{app.ws_url}/ws/auctions/{aid}?after_seq=0", log, done))
                    )

            state = (await http.get(f"{a.url}/api/auctions/{aid}")).json()
            start = datetime.fromisoformat(state["starts_at"].replace("Z", "+00:00"))
            await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.05)

            accepted: list[int] = []

            async def bidder(i: int, headers: dict[str, str]) -> None:
                base = apps[i % 2].url
                rng = random.Random(i)
                for _ in range(6):
                    current = (await http.get(f"{base}/api/auctions/{aid}")).json()
                    if current["status"] in ("sold", "failed"):
                        return
                    amount = (current["current_price"] or 69_900_000) + 100_000 * rng.randint(1, 3)
                    response = await http.post(
                        f"{base}/api/auctions/{aid}/bids", json={"amount": amount}, headers=headers
                    )
                    if response.status_code == 201:
                        accepted.append(response.json()["seq"])
                    else:
                        assert response.json()["code"] in (
                            "bid_too_low",
                            "already_leading",
                            "auction_closed",
                        ), response.text
                    await asyncio.sleep(rng.random() * 0.2)

            await asyncio.gather(*(bidder(i, h) for i, h in enumerate(bidders)))
            await asyncio.wait_for(asyncio.gather(*(d.wait() for d in done_events)), timeout=90)
            for task in watchers:
                task.cancel()

            bids = (await http.get(f"{b.url}/api/auctions/{aid}/bids")).json()
            final = (await http.get(f"{b.url}/api/auctions/{aid}")).json()
            log_body = (await http.get(f"{a.url}/api/auctions/{aid}/log")).json()

    assert sorted(accepted) == [bid["seq"] for bid in bids]
    assert final["status"] == "sold"
    assert final["bids_count"] == len(bids)
    assert final["current_price"] == bids[-1]["amount"]
    assert log_body["verified"] is True
    assert [e["type"] for e in log_body["entries"]].count("closed") == 1
    event_seqs = [e["seq"] for e in log_body["entries"]]
    assert event_seqs == list(range(1, final["seq"] + 1))
    for log in seen:
        assert log[0]["type"] == "snapshot"
        live = [m["seq"] for m in log[1:]]
        assert live == list(range(1, final["seq"] + 1)), f"watcher saw {live}"
        assert [m["type"] for m in log[1:]].count("closed") == 1
