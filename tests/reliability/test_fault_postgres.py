"""PostgreSQL restarts in the middle of a round on two app processes.

While it is down every answer that needs it is a 503 problem with ``service_unavailable`` and
``Retry-After`` (never a 500); when it is back the same processes serve again without a restart,
every acknowledged bid is in the database, and the round closes once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from marketplace.settings import Settings
from tests.auctions.factories import approved_listing
from tests.procs import running_apps
from tests.reliability.market import (
    BUSINESS_REFUSALS,
    BidLog,
    LiveWatcher,
    Phase,
    bid_for,
    enrol,
    healthy,
    schedule_round,
    stored_round,
    wait_for,
)
from tests.reliability.services import Services

pytestmark = [pytest.mark.fault, pytest.mark.multiprocess]


async def test_a_postgres_restart_is_503_then_recovers_without_losing_a_bid(
    services: Services, tmp_path: Path
) -> None:
    listing_id = await approved_listing(Settings(database_url=services.postgres.url()))
    with running_apps(services.env(tmp_path / "data"), tmp_path, 2) as apps:
        a, b = apps
        async with httpx.AsyncClient(timeout=30) as http:
            created = await schedule_round(http, a.url, listing_id, start_in=2, duration=26)
            aid = created["id"]
            bidders = list(await asyncio.gather(*(enrol(http, apps[i % 2].url, aid) for i in range(6))))
            watchers = [LiveWatcher(f"{app.ws_url}/ws/auctions/{aid}") for app in apps]
            watcher_tasks = [asyncio.create_task(w.run()) for w in watchers]
            assert await wait_for(lambda: _opened(http, a.url, aid), 15)

            log, phase = BidLog(), Phase("before")
            bidding = asyncio.create_task(bid_for(http, bidders, aid, log, phase, 9.0, seed=1))
            await asyncio.sleep(2.0)
            phase.now = "stopping"
            await asyncio.to_thread(services.postgres.stop, "fast")
            phase.now = "postgres down"
            await asyncio.sleep(2.5)
            reads = [await http.get(f"{app.url}/api/auctions/{aid}") for app in apps]
            phase.now = "starting"
            await asyncio.to_thread(services.postgres.start)
            for app in apps:
                assert await wait_for(lambda app=app: healthy(http, app.url), 30), (
                    "PostgreSQL is back, unseen"
                )
            phase.now = "after"
            await bidding
            await bid_for(http, bidders, aid, log, phase, 2.0, seed=2)

            await asyncio.wait_for(asyncio.gather(*(w.finished.wait() for w in watchers)), timeout=90)
            await asyncio.gather(*watcher_tasks, return_exceptions=True)
            log_body = (await http.get(f"{b.url}/api/auctions/{aid}/log")).json()

    for read in reads:
        assert read.status_code == 503, read.text
        assert read.headers["content-type"].startswith("application/problem+json")
        assert read.json()["code"] == "service_unavailable"
        assert read.headers["retry-after"]
    assert log.statuses("postgres down") == {503}, log.answers
    assert log.codes("postgres down") == {"service_unavailable"}
    for moving in ("stopping", "starting", *phase.transitions(log)):
        assert log.statuses(moving) <= {201, 409, 422, 503}, (moving, log.answers)
        assert log.codes(moving) <= BUSINESS_REFUSALS | {"service_unavailable"}, (moving, log.answers)
    assert all(
        media.startswith("application/problem+json") and retry for _, media, retry in log.unavailable
    ), log.unavailable
    for steady in ("before", "after"):
        assert log.statuses(steady) <= {201, 409, 422}, (steady, log.answers)
        assert log.codes(steady) <= BUSINESS_REFUSALS, (steady, log.answers)
    assert log.accepted_in("after") > 0

    stored = await stored_round(services.postgres.url(), aid)
    assert set(log.accepted) <= set(stored.bids), "an acknowledged bid is missing"
    assert stored.status == "sold"
    assert stored.event_types.count("closed") == 1
    assert log_body["verified"] is True
    for watcher in watchers:
        assert watcher.jumps == []
        assert watcher.seqs() == list(range(1, stored.seq + 1))


async def _opened(http: httpx.AsyncClient, base: str, auction_id: str) -> bool:
    return bool((await http.get(f"{base}/api/auctions/{auction_id}")).json()["status"] == "open")
