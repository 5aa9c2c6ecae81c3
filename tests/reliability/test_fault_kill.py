"""App processes are killed (SIGKILL): one while bids are in flight on it, one as its round's close
falls due (its closing loop races the survivor's, with a late bid in flight).

Every bid that got a 201 is in the database, whatever happened to the process that answered; the
surviving process closes the round, exactly once.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from marketplace.settings import Settings
from tests.auctions.factories import approved_listing
from tests.procs import running_apps
from tests.reliability.market import (
    BUSINESS_REFUSALS,
    FINAL,
    Bidder,
    BidLog,
    Phase,
    bid_once,
    enrol,
    schedule_round,
    stored_round,
    wait_for,
)
from tests.reliability.services import Services

pytestmark = [pytest.mark.fault, pytest.mark.multiprocess]


async def _bid_until_gone(
    http: httpx.AsyncClient, bidder: Bidder, auction_id: str, log: BidLog, phase: Phase, seed: int
) -> None:
    rng = random.Random(seed)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        before = len(log.answers)
        await bid_once(http, bidder, auction_id, log, phase, rng)
        if len(log.answers) > before and log.answers[-1][1] == 0:
            return
        try:
            state = await http.get(f"{bidder.base}/api/auctions/{auction_id}")
        except httpx.TransportError:
            return
        if state.json()["status"] in FINAL:
            return


async def test_killed_processes_lose_no_acknowledged_bid_and_the_survivor_closes_once(
    services: Services, tmp_path: Path
) -> None:
    listing_id = await approved_listing(Settings(database_url=services.postgres.url()))
    with running_apps(services.env(tmp_path / "data"), tmp_path, 3) as apps:
        hammered, closing, survivor = apps
        async with httpx.AsyncClient(timeout=30) as http:
            created = await schedule_round(
                http, survivor.url, listing_id, start_in=2, duration=8, extension_seconds=1
            )
            aid = created["id"]
            on_hammered = list(await asyncio.gather(*(enrol(http, hammered.url, aid) for _ in range(4))))
            late = await enrol(http, closing.url, aid)
            on_survivor = list(await asyncio.gather(*(enrol(http, survivor.url, aid) for _ in range(2))))
            assert await wait_for(lambda: _status_is(http, survivor.url, aid, "open"), 15)

            log, phase = BidLog(), Phase("running")
            hammering = [
                asyncio.create_task(_bid_until_gone(http, bidder, aid, log, phase, seed))
                for seed, bidder in enumerate(on_hammered)
            ]
            for seed, bidder in enumerate(on_survivor):
                await bid_once(http, bidder, aid, log, phase, random.Random(100 + seed))
            await asyncio.sleep(2.0)
            hammered.kill()
            await asyncio.gather(*hammering)

            racing = asyncio.create_task(_bid_until_gone(http, late, aid, log, phase, 7))
            assert await wait_for(lambda: _close_due_within(http, survivor.url, aid, 0.05), 30, 0.02)
            closing.kill()
            await racing
            assert await wait_for(lambda: _final(http, survivor.url, aid), 30), "the survivor never closed"
            log_body = (await http.get(f"{survivor.url}/api/auctions/{aid}/log")).json()

    stored = await stored_round(services.postgres.url(), aid)
    assert log.accepted, "no bid was acknowledged"
    assert set(log.accepted) <= set(stored.bids), "an acknowledged bid is missing"
    assert {status for _, status, _ in log.answers} <= {0, 201, 409, 422}, log.answers
    assert log.codes("running") <= BUSINESS_REFUSALS | {"no_answer"}
    assert stored.event_types.count("closed") == 1
    assert stored.status == "sold"
    assert log_body["verified"] is True
    assert [e["seq"] for e in log_body["entries"]] == list(range(1, stored.seq + 1))


async def _status_is(http: httpx.AsyncClient, base: str, auction_id: str, status: str) -> bool:
    return bool((await http.get(f"{base}/api/auctions/{auction_id}")).json()["status"] == status)


async def _final(http: httpx.AsyncClient, base: str, auction_id: str) -> bool:
    return bool((await http.get(f"{base}/api/auctions/{auction_id}")).json()["status"] in FINAL)


async def _close_due_within(http: httpx.AsyncClient, base: str, auction_id: str, seconds: float) -> bool:
    body = (await http.get(f"{base}/api/auctions/{auction_id}")).json()
    ends_at = datetime.fromisoformat(body["ends_at"].replace("Z", "+00:00"))
    return (ends_at - datetime.now(UTC)).total_seconds() <= seconds
