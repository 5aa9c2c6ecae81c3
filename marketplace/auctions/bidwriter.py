"""The PostgreSQL fast path of the sequencer: a batch of bids in four round trips, without the ORM.

Invariants (the same as :class:`marketplace.auctions.store.SqlLotStore`, whose ORM path it replaces
for batches made only of bids):
- the transaction locks the auction row (``SELECT … FOR UPDATE``) and reads the database's clock
  there; that time decides every bid of the batch;
- each bid is decided by the pure engine against the state the previous one left; a rejected bid
  changes nothing; accepted events get the next ``seq`` and the hash of the one before;
- the events, the bids and the new auction head are written by ONE statement (data-modifying CTEs
  over ``unnest`` arrays), then committed: ``BEGIN``, the lock, the write, ``COMMIT`` — a retried
  ``Idempotency-Key`` adds one read under the lock;
- connections come from a small asyncpg pool of their own (no reset query on release: every
  transaction here ends in ``COMMIT`` or ``ROLLBACK``); a database that does not answer is a 503
  with ``Retry-After``, and nothing of the batch was committed.

Batches holding an ``open``, ``close`` or ``default`` stay on the ORM path: their effects (deposits,
the listing, the balance due date) belong to the service's close hook.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec
from sqlalchemy.engine import make_url

from auction import engine
from auction.chain import event_hash
from auction.errors import AuctionError
from auction.sequencer import BatchOutcome
from marketplace.auctions.store import (
    BidAccepted,
    BidCommand,
    LifecycleDone,
    engine_command,
    idempotency_key,
    to_state,
)
from marketplace.errors import Unavailable

Outcome = BatchOutcome[BidAccepted | LifecycleDone]

LOCK_SQL = (
    "SELECT id, kind, status, rules_profile, starting_price, increment, deposit, starts_at, ends_at, "
    "extension_seconds, current_price, leader_user_id, leader_code, leader_rank, leader_at, bids_count, "
    "extensions, seq, last_hash, preemption::text AS preemption, barred::text AS barred, "
    "clock_timestamp() AS now FROM auctions WHERE id = $1 FOR UPDATE"
)

ANSWERED_SQL = (
    "SELECT user_id, idempotency_key, seq, amount, bidder_code, ends_at, extensions, at FROM bids "
    "WHERE auction_id = $1 AND idempotency_key = ANY($2::varchar[])"
)

WRITE_SQL = (
    "WITH events AS ("
    "INSERT INTO auction_events (auction_id, seq, type, payload, at, prev_hash, hash) "
    "SELECT $1, e.seq, e.type, e.payload, $2, e.prev_hash, e.hash "
    "FROM unnest($3::integer[], $4::varchar[], $5::text[], $6::varchar[], $7::varchar[]) "
    "AS e(seq, type, payload, prev_hash, hash)"
    "), placed AS ("
    "INSERT INTO bids (id, auction_id, seq, user_id, bidder_code, amount, at, ends_at, extensions, "
    "idempotency_key) "
    "SELECT b.id, $1, b.seq, b.user_id, b.bidder_code, b.amount, $2, b.ends_at, b.extensions, b.key "
    "FROM unnest($8::uuid[], $9::integer[], $10::uuid[], $11::varchar[], $12::bigint[], "
    "$13::timestamptz[], $14::integer[], $15::varchar[]) "
    "AS b(id, seq, user_id, bidder_code, amount, ends_at, extensions, key)"
    ") "
    "UPDATE auctions SET status = $16, ends_at = $17, current_price = $18, leader_user_id = $19, "
    "leader_code = $20, leader_rank = $21, leader_at = $22, bids_count = $23, extensions = $24, "
    "seq = $25, last_hash = $26 WHERE id = $1"
)

CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)
BROKEN_CONNECTION = (*CONNECTION_ERRORS, asyncpg.InternalClientError)
"""What the writer answers with 503: the connection or the server failed, not the batch. An
``InternalClientError`` is a connection left mid-operation by an earlier failure (seen while
PostgreSQL shut down: "cannot switch to state …; another operation is in progress")."""


def asyncpg_dsn(database_url: str) -> dict[str, Any]:
    """Connection arguments for asyncpg from the app's SQLAlchemy URL."""
    url = make_url(database_url)
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }


async def _keep(_connection: Any) -> None:
    """Release without a reset query: every transaction of the writer ends before release."""


def _state_row(record: Any) -> SimpleNamespace:
    values = dict(record.items())
    values["preemption"] = msgspec.json.decode(values["preemption"] or "[]")
    values["barred"] = msgspec.json.decode(values["barred"] or "[]")
    return SimpleNamespace(**values)


def _at(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class PgBidWriter:
    def __init__(self, database_url: str, *, max_connections: int = 8) -> None:
        self._connect = asyncpg_dsn(database_url)
        self._max = max_connections
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        min_size=1, max_size=self._max, reset=_keep, timeout=10, **self._connect
                    )
        return self._pool

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def apply_bids(self, lot_id: str, commands: Sequence[BidCommand]) -> Outcome:
        try:
            pool = await self._get_pool()
            async with pool.acquire() as connection:
                try:
                    async with connection.transaction():
                        return await self._decide_and_write(connection, uuid.UUID(lot_id), commands)
                except BROKEN_CONNECTION:
                    # A connection that failed mid-protocol (the server went away during a
                    # statement) is never handed back to the pool for the next batch.
                    connection.terminate()
                    raise
        except BROKEN_CONNECTION as exc:
            raise Unavailable(
                "service_unavailable", "the database is not answering; retry shortly", retry_after=2
            ) from exc

    async def _decide_and_write(
        self, connection: Any, auction_id: uuid.UUID, commands: Sequence[BidCommand]
    ) -> Outcome:
        record = await connection.fetchrow(LOCK_SQL, auction_id)
        if record is None:
            raise AuctionError("not_found", "no such auction")
        row = _state_row(record)
        now: datetime = row.now
        state = to_state(row)
        answered = await self._answered(connection, auction_id, commands)
        seq, last_hash, lot = row.seq, row.last_hash, str(auction_id)
        results: list[BidAccepted | LifecycleDone | BaseException] = []
        events: tuple[list[Any], ...] = ([], [], [], [], [])
        bids: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
        published: list[dict[str, Any]] = []
        for command in commands:
            key = idempotency_key(command)
            if key is not None and key in answered:
                results.append(answered[key])
                continue
            try:
                decision = engine.decide(state, engine_command(command), now)
            except AuctionError as exc:
                results.append(exc)
                continue
            state = decision.state
            result: BidAccepted | LifecycleDone = LifecycleDone(state.status, seq)
            for event in decision.events:
                payload = engine.event_payload(event)
                payload.pop("type", None)
                seq += 1
                digest = event_hash(last_hash, lot, seq, event.type, payload, now)
                text = msgspec.json.encode(payload).decode()
                for column, value in zip(events, (seq, event.type, text, last_hash, digest), strict=True):
                    column.append(value)
                last_hash = digest
                published.append({**payload, "seq": seq, "type": event.type, "at": _at(now)})
                if isinstance(event, engine.BidPlaced):
                    values = (
                        uuid.uuid4(),
                        seq,
                        uuid.UUID(command.user_id),
                        command.bidder_code,
                        event.amount,
                        state.ends_at,
                        state.extensions,
                        command.idempotency_key,
                    )
                    for column, value in zip(bids, values, strict=True):
                        column.append(value)
                    result = BidAccepted(
                        seq, event.amount, command.bidder_code, state.ends_at, state.extensions, now
                    )
                    if key is not None:
                        answered[key] = result
            results.append(result)
        if published:
            await connection.execute(
                WRITE_SQL,
                auction_id,
                now,
                *events,
                *bids,
                state.status,
                state.ends_at,
                state.current_price,
                uuid.UUID(state.leader_id) if state.leader_id else None,
                state.leader_code,
                state.leader_rank,
                state.leader_at,
                state.bids_count,
                state.extensions,
                seq,
                last_hash,
            )
        return BatchOutcome(results=results, events=published)

    @staticmethod
    async def _answered(
        connection: Any, auction_id: uuid.UUID, commands: Sequence[BidCommand]
    ) -> dict[Any, BidAccepted]:
        keys = {key for key in map(idempotency_key, commands) if key is not None}
        if not keys:
            return {}
        rows = await connection.fetch(ANSWERED_SQL, auction_id, sorted({text for _, text in keys}))
        return {
            (row["user_id"], row["idempotency_key"]): BidAccepted(
                row["seq"], row["amount"], row["bidder_code"], row["ends_at"], row["extensions"], row["at"]
            )
            for row in rows
            if (row["user_id"], row["idempotency_key"]) in keys
        }
