"""The tamper-evident event log: each entry's hash covers the previous entry's hash.

Invariants:
- ``event_hash`` is SHA-256 (lower-case hex) over the canonical JSON of
  ``{"at", "auction_id", "payload", "prev_hash", "seq", "type"}``: keys sorted at every level, no
  spaces, UTF-8 (non-ASCII kept as is), times as RFC 3339 UTC with ``Z``; the same entry hashes the
  same on every node and in every year;
- the first entry of an auction links to :data:`GENESIS`; seqs run 1..n without gaps;
- canonical JSON refuses floats (money and ratios are integers) and naive datetimes, so two
  encodings of one value cannot exist.

A chain alone cannot reveal a removed *tail*; pass the head hash published elsewhere (the last
``hash`` a client saw, or an anchor) as ``head_hash`` to :func:`verify_chain` to detect that too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

GENESIS = "0" * 64


def rfc3339(moment: datetime) -> str:
    """``2026-05-01T08:00:00Z`` (fractional seconds only when present)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: only timezone-aware datetimes are allowed")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON keys must be strings, got {key!r}")
            out[key] = _jsonable(item)
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    raise TypeError(f"{type(value).__name__} has no canonical JSON form (floats are refused)")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        _jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_hash(
    prev_hash: str, auction_id: str, seq: int, type: str, payload: Mapping[str, Any], at: datetime
) -> str:
    document = {
        "prev_hash": prev_hash,
        "auction_id": auction_id,
        "seq": seq,
        "type": type,
        "payload": payload,
        "at": at,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


class ChainEntry(Protocol):
    """What :func:`verify_chain` reads from a stored entry (an ORM row fits as well)."""

    @property
    def auction_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def at(self) -> datetime: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True)
class LogEntry:
    auction_id: str
    seq: int
    type: str
    payload: Mapping[str, Any]
    at: datetime
    prev_hash: str
    hash: str


def append(
    previous: ChainEntry | None,
    auction_id: str,
    type: str,
    payload: Mapping[str, Any],
    at: datetime,
) -> LogEntry:
    """The entry that follows ``previous`` (``None``: the auction's first entry)."""
    prev_hash = GENESIS if previous is None else previous.hash
    seq = 1 if previous is None else previous.seq + 1
    return LogEntry(
        auction_id=auction_id,
        seq=seq,
        type=type,
        payload=payload,
        at=at,
        prev_hash=prev_hash,
        hash=event_hash(prev_hash, auction_id, seq, type, payload, at),
    )


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    broken_at_seq: int | None = None
    reason: str | None = None


def verify_chain(entries: Sequence[ChainEntry], head_hash: str | None = None) -> ChainVerdict:
    """Check entries in the order given; ``broken_at_seq`` is the first seq that fails."""
    expected_prev = GENESIS
    auction_id = entries[0].auction_id if entries else None
    for expected_seq, entry in enumerate(entries, start=1):
        if entry.seq != expected_seq:
            return ChainVerdict(False, expected_seq, f"expected seq {expected_seq}, found {entry.seq}")
        if entry.auction_id != auction_id:
            return ChainVerdict(False, expected_seq, f"entry belongs to auction {entry.auction_id}")
        if entry.prev_hash != expected_prev:
            return ChainVerdict(False, expected_seq, "prev_hash does not match the previous entry's hash")
        try:
            recomputed = event_hash(
                entry.prev_hash, entry.auction_id, entry.seq, entry.type, entry.payload, entry.at
            )
        except (TypeError, ValueError) as exc:
            return ChainVerdict(False, expected_seq, f"entry cannot be hashed: {exc}")
        if recomputed != entry.hash:
            return ChainVerdict(False, expected_seq, "hash does not match the entry's content")
        expected_prev = entry.hash
    if head_hash is not None and head_hash != expected_prev:
        return ChainVerdict(False, len(entries) + 1, "the chain ends before the expected head")
    return ChainVerdict(True)
