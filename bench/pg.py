"""PostgreSQL side of the benchmark: the benchmark database, its settings, and pgbench on the bid SQL.

Invariants:
- the benchmark database is ``mp_bench_<random>`` on the server of ``DATABASE_URL``; it is created
  empty, migrated and seeded by ``python -m marketplace``, and dropped (``WITH (FORCE)``) at the end;
  nothing else on the server is touched;
- ``commit_delay``/``commit_siblings`` are set with ``ALTER DATABASE`` on the benchmark database only,
  so they reach new connections only: app processes are restarted after a change;
- :data:`BID_SCRIPT` is the transaction ``SqlLotStore.apply_batch`` issues for a batch of one
  accepted bid (captured with ``log_statement='all'``): lock the auction row and read the clock,
  update the auction head, insert the ``bid`` event (``RETURNING id``), insert the bid, commit; the
  parameters are typed as SQLAlchemy's asyncpg dialect types them, and pgbench runs it in prepared
  mode as asyncpg does; the event hash (SHA-256 in the app) is computed by the server instead;
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

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

AUCTION_COLUMNS = (
    "id, listing_id, round_no, kind, status, rules_profile, currency, starting_price, increment, "
    "deposit, starts_at, ends_at, extension_seconds, current_price, leader_user_id, leader_code, "
    "leader_rank, leader_at, bids_count, extensions, seq, last_hash, preemption, barred, "
    "stalking_horse_offer_id, closed_at, winner_user_id, hammer_price, balance_due_at, "
    "balance_paid_at, confirmation_no, created_by, created_at"
)
_SELECTED = ", ".join(f"auctions.{column}" for column in AUCTION_COLUMNS.split(", "))
_TS = "TIMESTAMP WITH TIME ZONE"
_NEXT_HASH = "encode(sha256(convert_to(:last_hash::VARCHAR || :next_seq::VARCHAR, 'UTF8')), 'hex')"
_PAYLOAD = (
    "json_build_object('amount', :next_price::BIGINT, 'bidder_code', 'BPGBEN', "
    f"'at', :clock_timestamp_1::{_TS}, 'ends_at', :ends_at::{_TS}, 'by_preemption', false)::text"
)

BID_SCRIPT = "\n".join(
    (
        "-- One accepted bid on one hot lot: the transaction SqlLotStore.apply_batch commits for a batch",
        "-- of one (variables: aid = the auction, bidder = a registered user).",
        "BEGIN;",
        f"SELECT {_SELECTED}, clock_timestamp() AS clock_timestamp_1 FROM auctions "
        "WHERE auctions.id = :aid::UUID FOR UPDATE \\gset",
        "\\set next_seq :seq + 1",
        "\\set next_price :current_price + :increment",
        "\\set next_count :bids_count + 1",
        "UPDATE auctions SET current_price=:next_price::BIGINT, leader_user_id=:bidder::UUID, "
        f"leader_code='BPGBEN'::VARCHAR, leader_at=:clock_timestamp_1::{_TS}, "
        f"bids_count=:next_count::INTEGER, seq=:next_seq::INTEGER, last_hash={_NEXT_HASH} "
        "WHERE auctions.id = :aid::UUID;",
        "INSERT INTO auction_events (auction_id, seq, type, payload, at, prev_hash, hash) "
        f"VALUES (:aid::UUID, :next_seq::INTEGER, 'bid'::VARCHAR, {_PAYLOAD}, :clock_timestamp_1::{_TS}, "
        f":last_hash::VARCHAR, {_NEXT_HASH}) RETURNING auction_events.id;",
        "INSERT INTO bids (id, auction_id, seq, user_id, bidder_code, amount, at, ends_at, extensions, "
        "idempotency_key) VALUES (gen_random_uuid(), :aid::UUID, :next_seq::INTEGER, :bidder::UUID, "
        f"'BPGBEN'::VARCHAR, :next_price::BIGINT, :clock_timestamp_1::{_TS}, :ends_at::{_TS}, "
        ":extensions::INTEGER, NULL);",
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
