"""What a run measures: the full plan (``make bench``, ~10–15 min on 2 cores) and ``--quick`` (~2 min).

Invariants:
- every phase is bounded by a duration and a bid budget; the plan's sizes are the only knobs;
- a watcher phase bids at ``watch_rate`` from the moment its watchers are connected until its lot's
  soft-close window: at least ``watch_seconds``, at most ``watch_seconds`` plus the time allowed
  for connecting (the lot is scheduled before the watchers connect, so that time is spent anyway);
- the full plan covers the issue: pgbench 1 and 8 clients (plain and with commit_delay), PUBLISH,
  one hot lot with N = 1, 8, 64 bidders on 1 then 2 processes, many lots on 1 and 2 processes,
  W = 100, 1 000, 5 000 watchers at 200 bids/s (1 000 on one process, 5 000 over two).
"""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("raw", "hot", "many", "watch", "delay")


@dataclass(frozen=True)
class Plan:
    mode: str
    pgbench_seconds: int
    pgbench_clients: tuple[int, ...]
    redis_requests: int
    hot_seconds: float
    hot_bidders: tuple[int, ...]
    hot_bidders_two: tuple[int, ...]
    max_bids: int
    many_lots: int
    many_bidders: int
    watch_rate: int
    watch_seconds: float
    watchers_one: tuple[int, ...]
    watchers_two: tuple[int, ...]
    delay_bidders: tuple[int, ...]
    commit_delay_us: int
    drain_seconds: float
    max_minutes: int

    @property
    def accounts(self) -> int:
        """Bidder accounts the run needs: two per concurrent client, at least 32 for paced bids."""
        clients = max((*self.hot_bidders, *self.hot_bidders_two, *self.delay_bidders, self.many_bidders))
        return max(2 * clients, 32)


FULL = Plan(
    mode="full",
    pgbench_seconds=10,
    pgbench_clients=(1, 8),
    redis_requests=200_000,
    hot_seconds=10.0,
    hot_bidders=(1, 8, 64),
    hot_bidders_two=(1, 8, 64),
    max_bids=50_000,
    many_lots=8,
    many_bidders=64,
    watch_rate=200,
    watch_seconds=8.0,
    watchers_one=(100, 1000),
    watchers_two=(1000, 5000),
    delay_bidders=(8, 64),
    commit_delay_us=1000,
    drain_seconds=120.0,
    max_minutes=25,
)

QUICK = Plan(
    mode="quick",
    pgbench_seconds=3,
    pgbench_clients=(1, 8),
    redis_requests=50_000,
    hot_seconds=3.0,
    hot_bidders=(1, 64),
    hot_bidders_two=(64,),
    max_bids=20_000,
    many_lots=4,
    many_bidders=32,
    watch_rate=200,
    watch_seconds=3.0,
    watchers_one=(100,),
    watchers_two=(1000,),
    delay_bidders=(64,),
    commit_delay_us=1000,
    drain_seconds=30.0,
    max_minutes=6,
)
