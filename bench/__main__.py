"""``python -m bench [--quick]``: the whole benchmark in one run, on this machine, then the report.

Invariants:
- the run creates its own database (``mp_bench_<random>``) and uses its own Redis DB index
  (``/9`` by default), talks to 127.0.0.1 only, and drops the database at the end (``--keep-db``
  keeps it for inspection); app processes it started are always stopped;
- phases run in order — raw limits, one app process, two app processes, the commit_delay
  variant — each bounded; a failing phase is recorded in the report and the run goes on;
- the whole run is bounded by the plan's ``max_minutes``;
- results go to stdout and to ``bench/results/<timestamp>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import platform
import secrets
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench import lots, pg, profile
from bench.apps import (
    AppProcess,
    app_env,
    cpu_percent,
    cpu_snapshot,
    run_cli,
    running_apps,
    wait_for_quiet,
)
from bench.load import Target, closed_loop, paced
from bench.plan import FULL, PHASES, QUICK, Plan
from bench.redisbench import DEFAULT_REDIS_URL, RedisEndpoint, run_publish
from bench.report import LoadRow, Machine, Routing, RunReport, WatchRow, render_markdown, write
from bench.watchers import WatchPlan, report_from, run_watchers

RESULTS = Path(__file__).resolve().parent / "results"
LOOPBACK = frozenset({"127.0.0.1", "localhost"})
QUIET_BUSY_PERCENT = 40


@dataclass
class Run:
    plan: Plan
    phases: frozenset[str]
    server: pg.Server
    database: str
    redis_url: str
    log_dir: Path
    report: RunReport
    profile: bool
    script: Path
    feed_batch: bool = True
    bidders: list[lots.Bidder] = field(default_factory=list)
    pgbench_lot: tuple[str, str] | None = None

    @property
    def database_url(self) -> str:
        return self.server.sqlalchemy_url(self.database)

    def env(self) -> dict[str, str]:
        return app_env(
            os.environ,
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            DATA_DIR=str(self.log_dir / "data"),
        )


def _loopback_only(url: str, what: str) -> None:
    host = urlsplit(url.replace("+asyncpg", "")).hostname or "127.0.0.1"
    if host not in LOOPBACK:
        raise SystemExit(f"{what} must point at 127.0.0.1 (the benchmark stays on loopback), not {host}")


def _version(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except OSError:
        return "unavailable"


async def _machine(run: Run) -> Machine:
    postgres = await pg.fetch_value(run.server, "SHOW server_version")
    redis_version = "unknown"
    for line in _version(["redis-cli", "-u", run.redis_url, "INFO", "server"]).splitlines():
        if line.startswith("redis_version:"):
            redis_version = line.split(":", 1)[1].strip()
    return Machine(
        cores=os.cpu_count() or 0,
        python=platform.python_version(),
        postgres=str(postgres),
        redis=redis_version,
        pgbench=_version(["pgbench", "--version"]),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        postgres_settings=await pg.server_settings(run.server, run.database),
    )


async def _phase(run: Run, name: str, action: Callable[[], Awaitable[None]]) -> None:
    started = time.monotonic()
    print(f"[bench] {name} …", flush=True)
    try:
        await action()
    except Exception as exc:
        run.report.phase_errors.append(f"{name}: {type(exc).__name__}: {exc}".strip()[:2000])
        traceback.print_exc()
    print(f"[bench] {name} done in {time.monotonic() - started:.0f} s", flush=True)


# --- raw limits -----------------------------------------------------------------------------------


async def raw_limits(run: Run, commit_delay_us: int, clients_list: Sequence[int] | None = None) -> None:
    if run.pgbench_lot is None:
        run.pgbench_lot = await lots.create_pgbench_lot(run.database_url)
    auction_id, bidder = run.pgbench_lot
    for clients in clients_list or run.plan.pgbench_clients:
        result = await asyncio.to_thread(
            pg.run_pgbench,
            run.server,
            run.database,
            run.script,
            {"aid": auction_id, "bidder": bidder},
            clients=clients,
            seconds=run.plan.pgbench_seconds,
            commit_delay_us=commit_delay_us,
            env=os.environ,
        )
        run.report.pgbench.append(result)
        print(
            f"[bench]   pgbench c={clients} commit_delay={commit_delay_us}: {result.tps:.0f} tps", flush=True
        )


async def redis_limit(run: Run) -> None:
    endpoint = RedisEndpoint.from_url(run.redis_url)
    result = await asyncio.to_thread(run_publish, endpoint, requests=run.plan.redis_requests)
    run.report.redis.append(result)
    print(f"[bench]   redis PUBLISH: {result.rps:.0f} req/s", flush=True)


# --- app phases -----------------------------------------------------------------------------------


@dataclass
class Stage:
    run: Run
    apps: list[AppProcess]
    http: httpx.AsyncClient
    operator: dict[str, str]
    commit_delay_us: int

    @property
    def base(self) -> str:
        return self.apps[0].url

    @property
    def bases(self) -> list[str]:
        return [app.url for app in self.apps]

    def roles(self, extra: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
        return {"app": [app.pid for app in self.apps], "load": [os.getpid()], **(extra or {})}


def _start_profile(stage: Stage, wanted: bool, what: str, seconds: float) -> profile.Tracer | None:
    """py-spy on the first app process, for phases of one process without commit_delay only."""
    if not (stage.run.profile and wanted and len(stage.apps) == 1 and stage.commit_delay_us == 0):
        return None
    label = f"app process, 1 process, {what}"
    slug = "".join(char if char.isalnum() else "-" for char in what)
    output = stage.run.log_dir / f"profile-{slug}.txt"
    tracer = profile.start(stage.apps[0].pid, seconds, output, label)
    if tracer is None:
        stage.run.report.notes.extend(profile.summary(None))
    return tracer


async def _finish_profile(stage: Stage, tracer: profile.Tracer | None) -> None:
    if tracer is not None:
        await asyncio.to_thread(profile.finish, tracer)
        stage.run.report.notes.extend(profile.summary(tracer))


def _enrol_budget(accounts: int) -> float:
    return 1.5 + 0.04 * accounts


async def _lots(stage: Stage, count: int, accounts_per_lot: int, length: float) -> list[lots.Lot]:
    listings = await lots.create_listings(stage.run.database_url, count)
    start_in = _enrol_budget(accounts_per_lot * count)
    return [
        await lots.schedule_lot(stage.http, stage.base, stage.operator, listing, start_in, length)
        for listing in listings
    ]


async def _bid_window(stage: Stage, lot_list: Sequence[lots.Lot], seconds: float) -> float:
    """Wait for the lots to open; the seconds of bidding left before the soft-close window."""
    await lots.sleep_until(max(lot.starts_at for lot in lot_list), slack=0.05)
    ends = min(lot.ends_at for lot in lot_list)
    left = (ends - datetime.now(UTC)).total_seconds() - lots.SOFT_CLOSE_SECONDS - 0.5
    return max(0.5, min(seconds, left))


async def hot_lot(
    stage: Stage, scenario: str, lot_count: int, clients: int, routing: Routing = "spread"
) -> None:
    run, plan = stage.run, stage.run.plan
    accounts = run.bidders[: 2 * clients]
    lot_list = await _lots(stage, lot_count, len(accounts) // lot_count, plan.hot_seconds + 2.5)
    per_lot: dict[str, list[lots.Bidder]] = {lot.auction_id: [] for lot in lot_list}
    targets = []
    for worker in range(clients):
        lot = lot_list[worker % lot_count]
        spot = worker % lot_count if routing == "by lot" else worker // lot_count
        process = stage.apps[spot % len(stage.apps)]
        pair = (accounts[2 * worker], accounts[2 * worker + 1])
        per_lot[lot.auction_id].extend(pair)
        targets.append(Target(process.port, lot, pair))
    enrol_started = time.monotonic()
    for lot in lot_list:
        await lots.enrol(stage.http, stage.bases, stage.operator, lot, per_lot[lot.auction_id])
    enrol_seconds = time.monotonic() - enrol_started
    seconds = await _bid_window(stage, lot_list, plan.hot_seconds)
    profiled = scenario == "hot" and clients in (min(plan.hot_bidders), max(plan.hot_bidders))
    tracer = _start_profile(stage, profiled, f"hot lot N={clients}", seconds)
    before = cpu_snapshot(stage.roles())
    result, tally = await closed_loop(targets, seconds=seconds, max_bids=plan.max_bids)
    after = cpu_snapshot(stage.roles())
    await _finish_profile(stage, tracer)
    checks = []
    for lot in lot_list:
        acknowledged = tally.acknowledged.get(lot.auction_id, {})
        checks.append(await lots.verify_lot(stage.http, stage.base, stage.operator, lot, acknowledged))
    run.report.checks.extend(checks)
    row = LoadRow(
        scenario="hot lot" if lot_count == 1 else "many lots",
        processes=len(stage.apps),
        lots=lot_count,
        bidders=clients,
        commit_delay_us=stage.commit_delay_us,
        seconds=result.seconds,
        sent=result.sent,
        accepted=result.accepted,
        decided=result.decided,
        rejected=result.rejected,
        failed=result.failed,
        latency_us=result.latency_us,
        commits=sum(check.commits for check in checks),
        checks_ok=all(check.ok for check in checks),
        cpu_percent=cpu_percent(before, after),
        routing=routing,
    )
    run.report.loads.append(row)
    print(
        f"[bench]   {row.label} P={row.processes} L={lot_count} N={clients} "
        f"delay={stage.commit_delay_us}: "
        f"{row.accepted_per_s:.0f} accepted/s, {row.decided_per_s:.0f} decided/s, "
        f"{row.accepted}/{row.commits or 1} per commit, checks {'ok' if row.checks_ok else 'FAILED'} "
        f"(enrol {enrol_seconds:.1f} s) cpu {row.cpu_percent}",
        flush=True,
    )


async def watch(stage: Stage, watchers: int) -> None:
    run, plan = stage.run, stage.run.plan
    accounts = run.bidders[:32]
    connect_budget = 3.0 + watchers / 150
    longest = connect_budget + plan.watch_seconds
    length = longest + 2.5
    (lot,) = await _lots(stage, 1, len(accounts), length)
    context = multiprocessing.get_context("spawn")
    send_times: Any = context.RawArray("q", int(plan.watch_rate * longest) + 16)
    ready = context.Event()
    results = context.Queue()
    watch_plan = WatchPlan(
        ws_urls=tuple(app.ws_url for app in stage.apps),
        auction_id=lot.auction_id,
        watchers=watchers,
        starting_price=lot.starting_price,
        increment=lot.increment,
        deadline_seconds=length + _enrol_budget(len(accounts)) + plan.drain_seconds,
        batch=run.feed_batch,
    )
    process = context.Process(
        target=run_watchers, args=(watch_plan, send_times, ready, results), name="bench-watchers", daemon=True
    )
    process.start()
    try:
        await lots.enrol(stage.http, stage.bases, stage.operator, lot, accounts)
        connect_started = time.monotonic()
        while not ready.is_set() and time.monotonic() - connect_started < connect_budget + 60:
            await asyncio.sleep(0.1)
        connected_in = time.monotonic() - connect_started
        seconds = await _bid_window(stage, [lot], longest)
        roles = stage.roles({"watchers": [process.pid or 0]})
        wanted = watchers == max(plan.watchers_one, default=0)
        tracer = _start_profile(
            stage, wanted, f"{watchers} watchers at {plan.watch_rate} bids per s", seconds
        )
        before = cpu_snapshot(roles)
        result, tally = await paced(
            [app.port for app in stage.apps],
            lot,
            accounts,
            rate=plan.watch_rate,
            seconds=seconds,
            max_in_flight=64,
            send_times=send_times,
        )
        await _finish_profile(stage, tracer)
        check = await lots.verify_lot(
            stage.http, stage.base, stage.operator, lot, tally.acknowledged.get(lot.auction_id, {})
        )
        run.report.checks.append(check)
        data = await asyncio.to_thread(results.get, True, plan.drain_seconds + 30)
        after = cpu_snapshot(roles)
    finally:
        await asyncio.to_thread(process.join, 15)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, 5)
    report = report_from(data)
    histogram = report.histogram()
    complete = report.complete(check.final_seq)
    row = WatchRow(
        processes=len(stage.apps),
        watchers=watchers,
        connected=report.connected,
        rate=plan.watch_rate,
        seconds=result.seconds,
        accepted=result.accepted,
        skipped=result.skipped,
        bid_latency_us=result.latency_us,
        latency_us=histogram.spread(),
        bid_receipts=report.bid_receipts,
        expected_receipts=result.accepted * report.connected,
        complete_watchers=complete,
        gaps=report.gaps,
        duplicates=report.duplicates,
        resynced_watchers=report.resynced_watchers,
        superseded=report.superseded,
        errors={**report.errors, **{f"connect {k}": v for k, v in report.connect_failures.items()}},
        connect_seconds=report.connect_seconds,
        checks_ok=check.ok
        and complete == watchers
        and report.gaps == 0
        and report.duplicates == 0
        and not report.errors
        and not report.connect_failures,
        cpu_percent=cpu_percent(before, after),
    )
    run.report.watches.append(row)
    spread = row.latency_us
    print(
        f"[bench]   watchers P={row.processes} W={watchers} "
        f"(connected {row.connected} in {connected_in:.1f} s): "
        f"{row.accepted} bids at {row.rate}/s asked, p50/p99 "
        f"{(spread.p50 / 1000 if spread else 0):.1f}/{(spread.p99 / 1000 if spread else 0):.1f} ms, "
        f"complete {complete}/{watchers}, resynced {row.resynced_watchers}, gaps {row.gaps}, "
        f"cpu {row.cpu_percent}",
        flush=True,
    )


async def app_stage(run: Run, processes: int, commit_delay_us: int, phases: Sequence[str]) -> None:
    plan = run.plan
    with running_apps(run.env(), run.log_dir, processes) as apps:
        async with httpx.AsyncClient(timeout=60) as http:
            operator = await lots.token(http, apps[0].url, lots.OPERATOR, lots.DEMO_PASSWORD)
            if not run.bidders:
                run.bidders = await lots.create_bidders(
                    http, apps[0].url, plan.accounts, secrets.token_hex(3)
                )
            stage = Stage(run, apps, http, operator, commit_delay_us)
            label = f"{processes} process{'es' if processes > 1 else ''}"
            if commit_delay_us:
                label += f", commit_delay={commit_delay_us}"
            if "hot" in phases:
                sizes = plan.hot_bidders if processes == 1 else plan.hot_bidders_two
                if commit_delay_us:
                    sizes = plan.delay_bidders
                for clients in sizes:
                    await _phase(
                        run, f"hot lot, {label}, N={clients}", partial(hot_lot, stage, "hot", 1, clients)
                    )
            if "many" in phases:
                routings: tuple[Routing, ...] = ("spread", "by lot") if processes > 1 else ("spread",)
                for routing in routings:
                    await _phase(
                        run,
                        f"many lots, {label}, L={plan.many_lots}, N={plan.many_bidders}, {routing}",
                        partial(hot_lot, stage, "many", plan.many_lots, plan.many_bidders, routing),
                    )
            if "watch" in phases:
                for watchers in plan.watchers_one if processes == 1 else plan.watchers_two:
                    await _phase(run, f"watchers, {label}, W={watchers}", partial(watch, stage, watchers))


async def main_async(run: Run) -> None:
    plan, phases = run.plan, run.phases
    await pg.create_database(run.server, run.database)
    try:
        env = run.env()
        await asyncio.to_thread(run_cli, ["migrate"], env)
        await asyncio.to_thread(run_cli, ["seed"], env)
        run.report.machine = await _machine(run)
        if "raw" in phases:
            await _phase(run, "redis-benchmark PUBLISH", lambda: redis_limit(run))
            await _phase(run, "pgbench, the bid transaction", lambda: raw_limits(run, 0))
        app_phases = [phase for phase in ("hot", "many", "watch") if phase in phases]
        if app_phases:
            for processes in (1, 2):
                watchers = plan.watchers_one if processes == 1 else plan.watchers_two
                stage_phases = [phase for phase in app_phases if phase != "watch" or watchers]
                if stage_phases:
                    name = f"app, {processes} process{'es' if processes > 1 else ''}"
                    await _phase(run, name, partial(app_stage, run, processes, 0, stage_phases))
        if "raw" in phases and "hot" in app_phases:
            # the disk's flush time drifts between minutes on a shared machine: pgbench runs again
            # after the app, and the ratio takes the faster of the two (report.pgbench_tps)
            await _phase(run, "pgbench again, after the app", lambda: raw_limits(run, 0, (1,)))
        if "delay" in phases:
            await pg.set_commit_delay(run.server, run.database, plan.commit_delay_us)
            seen = await pg.server_settings(run.server, run.database)
            run.report.notes.append(
                "commit_delay phase: a new connection to the benchmark database sees "
                f"commit_delay={seen.get('commit_delay')}, commit_siblings={seen.get('commit_siblings')}, "
                f"fsync={seen.get('fsync')}, synchronous_commit={seen.get('synchronous_commit')}."
            )
            try:
                await _phase(
                    run,
                    f"pgbench, commit_delay={plan.commit_delay_us}",
                    lambda: raw_limits(run, plan.commit_delay_us),
                )
                await _phase(
                    run,
                    f"app, 1 process, commit_delay={plan.commit_delay_us}",
                    lambda: app_stage(run, 1, plan.commit_delay_us, ["hot"]),
                )
                await _phase(
                    run,
                    f"pgbench again, commit_delay={plan.commit_delay_us}",
                    lambda: raw_limits(run, plan.commit_delay_us, (1,)),
                )
            finally:
                await pg.set_commit_delay(run.server, run.database, None)
    finally:
        if run.report.machine.cores == 0:
            run.report.phase_errors.append("setup failed before the machine was described")


def _with_watchers(plan: Plan, pairs: str) -> Plan:
    """The plan with only the watcher phases ``pairs`` names (``"1:1000,2:5000"``), if any."""
    if not pairs.strip():
        return plan
    chosen: dict[int, list[int]] = {1: [], 2: []}
    for pair in pairs.split(","):
        processes, _, watchers = pair.strip().partition(":")
        if processes not in ("1", "2") or not watchers.isdigit() or int(watchers) <= 0:
            raise SystemExit(f"--watchers wants processes:watchers pairs with 1 or 2 processes, not {pair!r}")
        chosen[int(processes)].append(int(watchers))
    return dataclasses.replace(plan, watchers_one=tuple(chosen[1]), watchers_two=tuple(chosen[2]))


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--quick", action="store_true", help="a ~2-minute subset")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "")
        if os.environ.get("DATABASE_URL", "").startswith("postgresql")
        else pg.DEFAULT_DATABASE_URL,
        help="the PostgreSQL server to create the benchmark database on (its database name is ignored)",
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help="Redis for the app (a DB index of its own)"
    )
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated phases out of {','.join(PHASES)}"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the .md and .json results")
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="first wait up to MINUTES for the machine to be mostly idle (other work skews every figure)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the app during the largest hot-lot phase"
    )
    parser.add_argument(
        "--watchers",
        default="",
        metavar="P:W,...",
        help="watcher phases to run, as processes:watchers pairs (default: the plan's; e.g. 1:1000,2:5000)",
    )
    parser.add_argument(
        "--feed",
        choices=("batch", "single"),
        default="batch",
        help="watchers take batched frames (batch=true, the default) or one frame per event",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    plan = _with_watchers(QUICK if args.quick else FULL, args.watchers)
    phases = frozenset(part.strip() for part in args.only.split(",") if part.strip())
    unknown = phases - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases {sorted(unknown)}; known: {', '.join(PHASES)}")
    _loopback_only(args.database_url, "--database-url")
    _loopback_only(args.redis_url, "--redis-url")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = args.results / f"{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    script = log_dir / "bid.pgbench.sql"
    script.write_text(pg.BID_SCRIPT, encoding="utf-8")
    server = pg.Server.from_url(args.database_url)
    database = pg.new_database_name()
    unknown_machine = Machine(0, platform.python_version(), "?", "?", "?", platform.platform(), {})
    run = Run(
        plan=plan,
        phases=phases,
        server=server,
        database=database,
        redis_url=args.redis_url,
        log_dir=log_dir,
        report=RunReport(started_at=stamp, mode=plan.mode, machine=unknown_machine, database=database),
        profile=args.profile,
        script=script,
        feed_batch=args.feed == "batch",
    )
    run.report.notes.append(
        "Watchers took "
        + (
            "batched frames (`batch=true`: the events of one 20–100 ms tick per frame)."
            if run.feed_batch
            else "one frame per event (`--feed single`)."
        )
    )
    busy, waited = wait_for_quiet(QUIET_BUSY_PERCENT, args.wait_quiet)
    run.report.notes.append(
        f"Before the run the machine was {busy}% busy (of {100 * (os.cpu_count() or 1)}%) with other work"
        + (f", after waiting {waited:.0f} s for it to quieten." if args.wait_quiet else ".")
        + " The 'other' CPU column is work on the machine that is not the benchmark's."
    )
    started = time.monotonic()
    print(
        f"[bench] {plan.mode} run on database {database}, Redis {args.redis_url}; logs in {log_dir}",
        flush=True,
    )

    async def bounded() -> None:
        try:
            async with asyncio.timeout(plan.max_minutes * 60):
                await main_async(run)
        except TimeoutError:
            run.report.phase_errors.append(f"the run hit its {plan.max_minutes}-minute bound")
        finally:
            if not args.keep_db:
                await pg.drop_database(server, database)

    try:
        import uvloop

        runner: Callable[[Any], None] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    runner(bounded())
    run.report.seconds = time.monotonic() - started
    markdown = render_markdown(run.report)
    print()
    print(markdown)
    md_path, json_path = write(run.report, args.results, stamp)
    print(f"[bench] wrote {md_path} and {json_path}", flush=True)
    return 0 if run.report.correct and not run.report.phase_errors else 1


if __name__ == "__main__":
    sys.exit(main())
