"""Redis stops in the middle of a round on two app processes: the database stays the truth.

While Redis is down bids are still accepted and recorded (sessions, rate limits and idempotency
fall back to each process); watchers that stay connected and watchers that reconnect with
``after_seq`` both end with every event exactly once, in order, once Redis is back. The test's
Redis keeps nothing on disk, so it comes back empty: sessions are gone then and bidders sign in
again (``token_expired``), which is what a client does; with AOF persistence they would survive.
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
    bid_for,
    enrol,
    healthy,
    schedule_round,
    stored_round,
    wait_for,
)
from tests.reliability.services import Services

pytestmark = [pytest.mark.fault, pytest.mark.multiprocess]


async def test_bids_survive_a_redis_outage_and_watchers_catch_up(services: Services, tmp_path: Path) -> None:
    listing_id = await approved_listing(Settings(database_url=services.postgres.url()))
    with running_apps(services.env(tmp_path / "data"), tmp_path, 2) as apps:
        a, b = apps
        async with httpx.AsyncClient(timeout=30) as http:
            created = await schedule_round(http, a.url, listing_id, start_in=2, duration=24)
            aid = created["id"]
            bidders = list(await asyncio.gather(*(enrol(http, apps[i % 2].url, aid) for i in range(6))))
            steady = [LiveWatcher(f"{app.ws_url}/ws/auctions/{aid}") for app in apps]
            returning = [LiveWatcher(f"{app.ws_url}/ws/auctions/{aid}") for app in apps]
            steady_tasks = [asyncio.create_task(w.run()) for w in steady]
            returning_tasks = [asyncio.create_task(w.run()) for w in returning]
            assert await wait_for(lambda: _opened(http, a.url, aid), 15)

            log = BidLog()
            await bid_for(http, bidders, aid, log, "before", 2.0, seed=1)

            services.redis.stop()
            for task in returning_tasks:
                task.cancel()
            await asyncio.gather(*returning_tasks, return_exceptions=True)
            await bid_for(http, bidders, aid, log, "redis down", 4.0, seed=2)

            services.redis.start()
            for app in apps:
                assert await wait_for(lambda app=app: healthy(http, app.url), 20), (
                    "Redis is back but not seen"
                )
            returning_tasks = [asyncio.create_task(w.run()) for w in returning]
            await bid_for(http, bidders, aid, log, "after", 2.0, seed=3)

            watchers = steady + returning
            await asyncio.wait_for(asyncio.gather(*(w.finished.wait() for w in watchers)), timeout=90)
            await asyncio.gather(*steady_tasks, *returning_tasks, return_exceptions=True)
            log_body = (await http.get(f"{b.url}/api/auctions/{aid}/log")).json()

    stored = await stored_round(services.postgres.url(), aid)
    assert log.accepted_in("redis down") > 0, log.answers
    for phase in ("before", "redis down"):
        assert log.statuses(phase) <= {201, 409, 422}, (phase, log.answers)
        assert log.codes(phase) <= BUSINESS_REFUSALS, (phase, log.answers)
    assert log.statuses("after") <= {201, 401, 409, 422}, log.answers
    assert log.codes("after") <= BUSINESS_REFUSALS | {"token_expired"}, log.answers
    assert sorted(log.accepted) == stored.bids
    assert stored.status == "sold"
    assert stored.event_types.count("closed") == 1
    assert log_body["verified"] is True
    for watcher in watchers:
        assert watcher.jumps == []
        assert watcher.seqs() == list(range(1, stored.seq + 1)), watcher.seqs()
    assert all(w.connections >= 2 for w in returning)


async def _opened(http: httpx.AsyncClient, base: str, auction_id: str) -> bool:
    return bool((await http.get(f"{base}/api/auctions/{auction_id}")).json()["status"] == "open")
