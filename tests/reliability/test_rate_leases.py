"""Leased counting of large rate limits on Redis: a node counts several hits per round trip, and all
nodes together still never admit more than the limit (``marketplace.ratelimit.lease_size``)."""

from __future__ import annotations

import secrets

import pytest
from redis.asyncio import Redis

from marketplace.ratelimit import Limit, RateLimited, RateLimiter, lease_size
from tests.conftest import REDIS_URL, missing_service, redis_available


@pytest.fixture
async def redis_client() -> Redis:
    if not redis_available():
        missing_service("REDIS_URL is not set or Redis is not reachable")
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.mark.parametrize(
    ("max_hits", "expected"), [(1, 1), (99, 1), (100, 1), (250, 2), (1200, 12), (10**6, 16)]
)
def test_lease_size_is_one_percent_of_the_limit_between_1_and_16(max_hits: int, expected: int) -> None:
    assert lease_size(Limit("x", max_hits, 60)) == expected


async def _admitted(limiter: RateLimiter, limit: Limit, subject: str, attempts: int) -> int:
    admitted, waits = 0, []
    for _ in range(attempts):
        try:
            await limiter.hit(limit, subject)
        except RateLimited as refused:
            waits.append(refused.extra["retry_after"])
        else:
            admitted += 1
    assert all(1 <= wait <= limit.window_seconds for wait in waits)
    return admitted


@pytest.mark.redis
@pytest.mark.parametrize("max_hits", [5, 300, 1200])
async def test_three_nodes_sharing_redis_never_admit_more_than_the_limit(
    redis_client: Redis, max_hits: int
) -> None:
    prefix = f"test:rl:{secrets.token_hex(4)}:"
    nodes = [RateLimiter(redis_client, prefix=prefix) for _ in range(3)]
    limit = Limit("bid-user", max_hits, 60)
    lease = lease_size(limit)
    admitted = 0
    # interleave the nodes unevenly, then let each try far past the limit
    for round_no in range(max_hits):
        admitted += await _admitted(nodes[round_no % 3], limit, "bidder", 1 + round_no % 2)
    for node in nodes:
        admitted += await _admitted(node, limit, "bidder", max_hits)
    assert admitted <= max_hits
    assert admitted >= max_hits - 3 * (lease - 1)
    if lease == 1:
        assert admitted == max_hits
    # another subject has its own window
    assert await _admitted(nodes[0], limit, "someone else", 1) == 1


@pytest.mark.redis
async def test_a_leased_hit_is_one_round_trip_for_several_hits(redis_client: Redis) -> None:
    prefix = f"test:rl:{secrets.token_hex(4)}:"
    limiter = RateLimiter(redis_client, prefix=prefix)
    limit = Limit("bid-user", 1200, 60)
    assert await _admitted(limiter, limit, "bidder", 24) == 24
    keys = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]
    assert len(keys) == 1
    assert int(await redis_client.get(keys[0])) == 24  # two round trips of 12, counted when taken
    ttl = await redis_client.pttl(keys[0])
    assert 0 < ttl <= 60_000
