"""PostgreSQL side of the benchmark: the benchmark database, its settings, and pgbench on the bid SQL.

Invariants:
- the benchmark database is ``mp_bench_<random>`` on the server of ``DATABASE_URL``; it is created
  empty, migrated and seeded by ``python -m marketplace``, and dropped (``WITH (FORCE)``) at the end;
  nothing else on the server is touched;
- ``commit_delay``/``commit_siblings`` are set with ``ALTER DATABASE`` on the benchmark database only,
  so they reach new connections only: app processes are restarted after a change;
- :data:`BID_SCRIPT` is the transaction ``PgBidWriter`` issues for a batch of one accepted bid,
  built from the app's own ``LOCK_SQL`` and ``WRITE_SQL`` (each ``$n`` replaced by a pgbench
  expression): lock the auction row and read the clock, write the event, the bid and the auction
  head in one statement, commit; pgbench runs it in prepared mode as asyncpg does; the event hash
  (SHA-256 in the app) is computed by the server instead;
- a pgbench run is bounded by ``-T`` and a process timeout.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL, make_url

from marketplace.auctions.bidwriter import LOCK_SQL, WRITE_SQL

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

_TS = "TIMESTAMP WITH TIME ZONE"
_NEXT_HASH = "encode(sha256(convert_to(:last_hash::VARCHAR || :next_seq::VARCHAR, 'UTF8')), 'hex')"
_PAYLOAD = (
    "json_build_object('amount', :next_price::BIGINT, 'bidder_code', 'BPGBEN', "
    f"'at', :now::{_TS}, 'ends_at', :ends_at::{_TS}, 'by_preemption', false)::text"
)

WRITE_ARGUMENTS: dict[int, str] = {
    1: ":aid::UUID",
    2: f":now::{_TS}",
    3: "ARRAY[:next_seq]",
    4: "ARRAY['bid']",
    5: f"ARRAY[{_PAYLOAD}]",
    6: "ARRAY[:last_hash]",
    7: f"ARRAY[{_NEXT_HASH}]",
    8: "ARRAY[gen_random_uuid()]",
    9: "ARRAY[:next_seq]",
    10: "ARRAY[:bidder::UUID]",
    11: "ARRAY['BPGBEN']",
    12: "ARRAY[:next_price]",
    13: f"ARRAY[:ends_at::{_TS}]",
    14: "ARRAY[:extensions]",
    15: "ARRAY[NULL]",
    16: ":status",
    17: f":ends_at::{_TS}",
    18: ":next_price::BIGINT",
    19: ":bidder::UUID",
    20: "'BPGBEN'",
    21: "NULL",
    22: f":now::{_TS}",
    23: ":next_count::INTEGER",
    24: ":extensions::INTEGER",
    25: ":next_seq::INTEGER",
    26: _NEXT_HASH,
}
"""What pgbench puts for each ``$n`` of the app's write statement: one accepted bid; the event hash
(SHA-256 over the canonical event in the app) is computed by the server instead."""


def pgbench_sql(statement: str, arguments: Mapping[int, str]) -> str:
    """The app's statement with each ``$n`` replaced by its pgbench expression."""
    missing = {int(n) for n in re.findall(r"\$(\d+)", statement)} - set(arguments)
    if missing:
        raise ValueError(f"no pgbench expression for ${sorted(missing)}")
    return re.sub(r"\$(\d+)", lambda match: arguments[int(match.group(1))], statement)


BID_SCRIPT = "\n".join(
    (
        "-- One accepted bid on one hot lot: the transaction PgBidWriter commits for a batch of one,",
        "-- made from the app's own statements (variables: aid = the auction, bidder = a registered user).",
        "BEGIN;",
        pgbench_sql(LOCK_SQL, {1: ":aid::UUID"}) + " \\gset",
        "\\set next_seq :seq + 1",
        "\\set next_price :current_price + :increment",
        "\\set next_count :bids_count + 1",
        pgbench_sql(WRITE_SQL, WRITE_ARGUMENTS) + ";",
        "COMMIT;",
        "",
    )
)


@dataclass(frozen=True)
class Server:
    """Where PostgreSQL listens, from ``DATABASE_URL``."""

    host: str
    port: int
    user: str
    password: str | None

    @classmethod
    def from_url(cls, database_url: str) -> Server:
        url = make_url(database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432, url.username or "postgres", url.password)

    def sqlalchemy_url(self, database: str) -> str:
        url = URL.create(
            "postgresql+asyncpg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=database,
        )
        return url.render_as_string(hide_password=False)

    def libpq_env(self) -> dict[str, str]:
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def new_database_name() -> str:
    return f"mp_bench_{secrets.token_hex(4)}"


async def execute(server: Server, *statements: str, database: str = "postgres") -> None:
    conn = await asyncpg.connect(
        host=server.host, port=server.port, user=server.user, password=server.password, database=database
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def fetch_value(server: Server, query: str, database: str = "postgres") -> Any:
    conn = await asyncpg.connect(
        host=server.host, port=server.port, user=server.user, password=server.password, database=database
    )
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def _ident(name: str) -> str:
    if not re.fullmatch(r"mp_bench_[0-9a-f]{8}", name):
        raise ValueError(f"{name!r} is not a benchmark database name")
    return f'"{name}"'


async def create_database(server: Server, name: str) -> None:
    await execute(server, f"CREATE DATABASE {_ident(name)}")


async def drop_database(server: Server, name: str) -> None:
    await execute(server, f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")


async def set_commit_delay(server: Server, name: str, delay_us: int | None) -> None:
    """``commit_delay = delay_us, commit_siblings = 0`` on the benchmark database (``None``: reset)."""
    if delay_us is None:
        await execute(
            server,
            f"ALTER DATABASE {_ident(name)} RESET commit_delay",
            f"ALTER DATABASE {_ident(name)} RESET commit_siblings",
        )
        return
    await execute(
        server,
        f"ALTER DATABASE {_ident(name)} SET commit_delay = {int(delay_us)}",
        f"ALTER DATABASE {_ident(name)} SET commit_siblings = 0",
    )


async def server_settings(server: Server, name: str) -> dict[str, str]:
    """The settings a new connection to the benchmark database sees (durability and group commit)."""
    conn = await asyncpg.connect(
        host=server.host, port=server.port, user=server.user, password=server.password, database=name
    )
    try:
        rows = await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
            [
                "fsync",
                "synchronous_commit",
                "wal_sync_method",
                "commit_delay",
                "commit_siblings",
                "max_connections",
                "shared_buffers",
                "full_page_writes",
            ],
        )
        return {row["name"]: row["setting"] for row in rows}
    finally:
        await conn.close()


@dataclass(frozen=True)
class PgbenchResult:
    clients: int
    seconds: int
    commit_delay_us: int
    transactions: int
    failed: int
    tps: float
    latency_avg_ms: float
    command: str


_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_PROCESSED = re.compile(r"number of transactions actually processed: (\d+)")
_FAILED = re.compile(r"number of failed transactions: (\d+)")
_LATENCY = re.compile(r"latency average = ([0-9.]+) ms")


def parse_pgbench(output: str) -> tuple[int, int, float, float]:
    """``(transactions, failed, tps, latency_avg_ms)`` from pgbench's summary."""
    tps = _TPS.search(output)
    processed = _PROCESSED.search(output)
    if tps is None or processed is None:
        raise ValueError(f"pgbench printed no summary:\n{output[-2000:]}")
    failed = _FAILED.search(output)
    latency = _LATENCY.search(output)
    return (
        int(processed.group(1)),
        int(failed.group(1)) if failed else 0,
        float(tps.group(1)),
        float(latency.group(1)) if latency else 0.0,
    )


def run_pgbench(
    server: Server,
    database: str,
    script: Path,
    variables: Mapping[str, str],
    *,
    clients: int,
    seconds: int,
    commit_delay_us: int,
    env: Mapping[str, str],
) -> PgbenchResult:
    args = ["pgbench", "-n", "-M", "prepared", "-f", str(script), "-c", str(clients), "-j", str(clients)]
    args += ["-T", str(seconds)]
    for key, value in variables.items():
        args += ["-D", f"{key}={value}"]
    args.append(database)
    completed = subprocess.run(
        args,
        env={**env, **server.libpq_env()},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise RuntimeError(f"pgbench failed ({completed.returncode}):\n{output[-3000:]}")
    transactions, failed, tps, latency = parse_pgbench(output)
    return PgbenchResult(
        clients=clients,
        seconds=seconds,
        commit_delay_us=commit_delay_us,
        transactions=transactions,
        failed=failed,
        tps=tps,
        latency_avg_ms=latency,
        command=" ".join([*args[:-1], "<db>"]),
    )
