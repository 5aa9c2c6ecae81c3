"""The tamper-evident log: a faithful chain verifies, any edit is found at its seq."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.chain import GENESIS, LogEntry, append, canonical_json, event_hash, rfc3339, verify_chain
from auction.engine import Close, event_payload
from tests.auction.factories import END_S, START, at, bid, make_round, run


def recorded_chain() -> list[LogEntry]:
    """The log of a real round: opened, three bids (one extending), closed."""
    _, decisions = run(
        make_round(),
        [
            (10, bid("alice", START)),
            (20, bid("bob", START + 10_000)),
            (END_S - 5, bid("alice", START + 20_000)),
            (END_S + 300, Close()),
        ],
    )
    entries: list[LogEntry] = []
    for seconds, decision in zip([10, 20, END_S - 5, END_S + 300], decisions, strict=True):
        for event in decision.events:
            previous = entries[-1] if entries else None
            entries.append(append(previous, "a-1", event.type, event_payload(event), at(seconds)))
    return entries


CHAIN = recorded_chain()


def test_a_faithful_chain_verifies() -> None:
    assert [e.type for e in CHAIN] == ["opened", "bid", "bid", "bid", "extended", "closed"]
    assert [e.seq for e in CHAIN] == [1, 2, 3, 4, 5, 6]
    assert CHAIN[0].prev_hash == GENESIS
    verdict = verify_chain(CHAIN, head_hash=CHAIN[-1].hash)
    assert (verdict.ok, verdict.broken_at_seq, verdict.reason) == (True, None, None)


def test_an_empty_chain_verifies() -> None:
    assert verify_chain([]).ok


def changed(index: int, **edits: Any) -> list[LogEntry]:
    entries = list(CHAIN)
    entries[index] = replace(entries[index], **edits)
    return entries


def with_payload(index: int, **edits: Any) -> list[LogEntry]:
    return changed(index, payload={**CHAIN[index].payload, **edits})


TAMPERED = [
    pytest.param(with_payload(2, amount=START + 1), 3, "hash", id="a changed amount"),
    pytest.param(with_payload(3, bidder_code="#bob"), 4, "hash", id="a changed bidder"),
    pytest.param(changed(5, type="defaulted"), 6, "hash", id="a changed type"),
    pytest.param(changed(1, at=CHAIN[1].at + timedelta(microseconds=1)), 2, "hash", id="a changed time"),
    pytest.param(changed(2, hash="f" * 64), 3, "hash", id="a changed hash"),
    pytest.param(changed(0, prev_hash="1" * 64), 1, "prev_hash", id="a changed genesis link"),
    pytest.param(changed(4, auction_id="a-2"), 5, "auction", id="an entry of another auction"),
    pytest.param(CHAIN[:2] + CHAIN[3:], 3, "seq", id="a removed entry"),
    pytest.param([CHAIN[0], CHAIN[2], CHAIN[1], *CHAIN[3:]], 2, "seq", id="two swapped entries"),
    pytest.param(
        [CHAIN[0], replace(CHAIN[2], seq=2), replace(CHAIN[1], seq=3), *CHAIN[3:]],
        2,
        "prev_hash",
        id="swapped and renumbered",
    ),
    pytest.param(
        CHAIN[:2] + [replace(e, seq=e.seq - 1) for e in CHAIN[3:]],
        3,
        "prev_hash",
        id="removed and renumbered",
    ),
    pytest.param([CHAIN[0], CHAIN[0], *CHAIN[1:]], 2, "seq", id="a duplicated entry"),
]


@pytest.mark.parametrize(("entries", "broken_at", "reason_word"), TAMPERED)
def test_tampering_is_found_at_its_seq(entries: list[LogEntry], broken_at: int, reason_word: str) -> None:
    verdict = verify_chain(entries)
    assert not verdict.ok
    assert verdict.broken_at_seq == broken_at
    assert verdict.reason is not None
    assert reason_word in verdict.reason


def test_a_removed_tail_is_found_against_the_known_head() -> None:
    assert verify_chain(CHAIN[:-1]).ok
    verdict = verify_chain(CHAIN[:-1], head_hash=CHAIN[-1].hash)
    assert (verdict.ok, verdict.broken_at_seq) == (False, len(CHAIN))


def test_the_hash_is_sha256_of_documented_canonical_json() -> None:
    moment = datetime(2026, 6, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    payload = {"type": "bid", "amount": 1_000_000, "bidder_code": "竞买人-07", "by_preemption": False}
    document = (
        '{"at":"2026-06-01T08:00:00Z","auction_id":"a-1",'
        '"payload":{"amount":1000000,"bidder_code":"竞买人-07","by_preemption":false,"type":"bid"},'
        '"prev_hash":"' + GENESIS + '","seq":1,"type":"bid"}'
    )
    assert (
        event_hash(GENESIS, "a-1", 1, "bid", payload, moment) == hashlib.sha256(document.encode()).hexdigest()
    )


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(datetime(2026, 6, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))) == "2026-06-01T08:00:00Z"
    assert rfc3339(datetime(2026, 6, 1, 8, 0, 0, 250_000, tzinfo=UTC)) == "2026-06-01T08:00:00.250000Z"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"amount": 1.5}, id="float"),
        pytest.param({1: "x"}, id="non-string key"),
        pytest.param({"at": datetime(2026, 1, 1)}, id="naive datetime"),  # noqa: DTZ001
        pytest.param({"x": object()}, id="object"),
    ],
)
def test_canonical_json_refuses_ambiguous_values(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json(value)


def test_an_unhashable_stored_payload_is_reported_not_raised() -> None:
    verdict = verify_chain(with_payload(1, amount=1.5))
    assert (verdict.ok, verdict.broken_at_seq) == (False, 2)


entry_fields = st.sampled_from(["payload", "at", "type", "prev_hash", "hash", "seq", "auction_id"])


@settings(max_examples=200, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(CHAIN) - 1), field=entry_fields, data=st.data())
def test_any_single_edit_is_detected(index: int, field: str, data: st.DataObject) -> None:
    entry = CHAIN[index]
    edits: dict[str, Any] = {
        "payload": {**entry.payload, "tampered": data.draw(st.integers() | st.text(max_size=5))},
        "at": entry.at + timedelta(microseconds=data.draw(st.integers(min_value=1, max_value=10**9))),
        "type": entry.type + data.draw(st.text(min_size=1, max_size=3)),
        "prev_hash": data.draw(
            st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda h: h != entry.prev_hash)
        ),
        "hash": data.draw(
            st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda h: h != entry.hash)
        ),
        "seq": entry.seq + data.draw(st.integers(min_value=1, max_value=5)),
        "auction_id": entry.auction_id + "x",
    }
    verdict = verify_chain(changed(index, **{field: edits[field]}), head_hash=CHAIN[-1].hash)
    assert not verdict.ok
    assert verdict.broken_at_seq == index + 1
