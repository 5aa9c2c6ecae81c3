"""The benchmark harness's pure parts: percentiles, ratios, the pgbench script, output parsing,
feed checking, lot checking, target verdicts and report rendering. No timing, no services.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.lots import Lot, check_lot
from bench.pg import BID_SCRIPT, WRITE_ARGUMENTS, PgbenchResult, parse_pgbench, pgbench_sql
from bench.profile import REPOSITORY, shares
from bench.rawhttp import parse_head, request_head
from bench.redisbench import RedisEndpoint, parse_redis_benchmark
from bench.report import (
    LoadRow,
    Machine,
    RunReport,
    WatchRow,
    evaluate_targets,
    machine_ceiling_bp,
    render_markdown,
    to_json,
)
from bench.stats import Histogram, Spread, format_bp_as_times, format_us_as_ms, percentile, ratio_bp
from bench.watchers import FeedCheck, FeedMessage, frame_run
from marketplace.auctions.bidwriter import LOCK_SQL, WRITE_SQL

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LOT = Lot("a0000000-0000-0000-0000-000000000001", T0, T0 + timedelta(seconds=10), 70_000_000, 10_000)


# --- percentiles and ratios ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "percentile_bp", "expected"),
    [
        pytest.param([7], 5000, 7, id="one sample is every percentile"),
        pytest.param([1, 2, 3, 4], 5000, 2, id="p50 of four is the second"),
        pytest.param([4, 3, 2, 1], 5000, 2, id="order of samples does not matter"),
        pytest.param(list(range(1, 101)), 9900, 99, id="p99 of 1..100 is 99"),
        pytest.param(list(range(1, 1001)), 9900, 990, id="p99 of 1..1000 is 990"),
        pytest.param([1, 1000], 9900, 1000, id="p99 of two is the larger"),
        pytest.param(list(range(1, 101)), 10000, 100, id="p100 is the maximum"),
    ],
)
def test_nearest_rank_percentile(samples: list[int], percentile_bp: int, expected: int) -> None:
    assert percentile(samples, percentile_bp) == expected


@pytest.mark.parametrize(
    ("measured", "baseline", "expected"),
    [
        pytest.param(452.0, 452.0, 10_000, id="equal is 1.00x"),
        pytest.param(1500.0, 500.0, 30_000, id="three times"),
        pytest.param(1.0, 3.0, 3_333, id="a third rounds down"),
        pytest.param(2.0, 3.0, 6_667, id="two thirds rounds up"),
        pytest.param(5.0, 0.0, None, id="no baseline, no ratio"),
    ],
)
def test_ratio_in_basis_points(measured: float, baseline: float, expected: int | None) -> None:
    assert ratio_bp(measured, baseline) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(10_000, "1.00×", id="one"),
        pytest.param(16_049, "1.60×", id="truncated to hundredths"),
        pytest.param(1_666, "0.16×", id="below one"),
        pytest.param(None, "n/a", id="missing"),
    ],
)
def test_ratio_formatting(value: int | None, text: str) -> None:
    assert format_bp_as_times(value) == text


@pytest.mark.parametrize(
    ("microseconds", "text"),
    [
        pytest.param(12_345, "12.3", id="tenths of a millisecond"),
        pytest.param(999, "0.9", id="below a millisecond"),
        pytest.param(None, "–", id="missing"),
    ],
)
def test_millisecond_formatting(microseconds: int | None, text: str) -> None:
    assert format_us_as_ms(microseconds) == text


@settings(max_examples=200, deadline=None)
@given(
    samples=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=300),
    percentile_bp=st.integers(min_value=1, max_value=10_000),
)
def test_percentile_is_a_sample_with_enough_below(samples: list[int], percentile_bp: int) -> None:
    value = percentile(samples, percentile_bp)
    assert value in samples
    at_or_below = sum(1 for sample in samples if sample <= value)
    below = sum(1 for sample in samples if sample < value)
    assert at_or_below * 10_000 >= len(samples) * percentile_bp
    assert below * 10_000 < len(samples) * percentile_bp


@settings(max_examples=200, deadline=None)
@given(
    samples=st.lists(st.integers(min_value=0, max_value=5_000_000), min_size=1, max_size=300),
    percentile_bp=st.sampled_from([5000, 9000, 9900, 10_000]),
)
def test_histogram_percentile_is_within_one_bucket_above_the_exact_one(
    samples: list[int], percentile_bp: int
) -> None:
    histogram = Histogram(bucket_width=100, buckets=100_000)
    for sample in samples:
        histogram.add(sample)
    exact = percentile(samples, percentile_bp)
    approximate = histogram.percentile(percentile_bp)
    assert exact <= approximate <= exact + 100
    again = Histogram.from_sparse(100, 100_000, histogram.to_sparse(), histogram.largest)
    assert again.percentile(percentile_bp) == approximate


@settings(max_examples=200, deadline=None)
@given(
    later=st.lists(st.integers(min_value=0, max_value=80_000), max_size=12),
    earlier=st.lists(st.integers(min_value=0, max_value=80_000), max_size=12),
)
def test_adding_differences_is_adding_each_difference(later: list[int], earlier: list[int]) -> None:
    at_once, one_by_one = Histogram(100, 500), Histogram(100, 500)
    at_once.add_differences(later, earlier)
    for value in later:
        for base in earlier:
            one_by_one.add(value - base)
    assert (at_once.counts, at_once.total) == (one_by_one.counts, one_by_one.total)
    if later and earlier:
        assert at_once.largest == one_by_one.largest


def test_histograms_merge_by_adding_counts() -> None:
    first, second = Histogram(10, 10), Histogram(10, 10)
    for value in (5, 15, 500):
        first.add(value)
    second.add(25)
    first.merge(second)
    assert first.total == 4
    assert first.largest == 500
    assert first.counts[9] == 1
    with pytest.raises(ValueError, match="different buckets"):
        first.merge(Histogram(20, 10))


# --- the pgbench script ----------------------------------------------------------------------------


def _statements(script: str) -> list[str]:
    return [line for line in script.splitlines() if line and not line.startswith(("--", "\\"))]


def test_the_pgbench_script_is_the_bid_transaction_in_the_apps_order() -> None:
    statements = _statements(BID_SCRIPT)
    assert statements[0] == "BEGIN;"
    assert statements[-1] == "COMMIT;"
    middle = statements[1:-1]
    assert len(middle) == 2
    assert middle[0] == pgbench_sql(LOCK_SQL, {1: ":aid::UUID"}) + " \\gset"
    assert middle[0].endswith("FOR UPDATE \\gset")
    assert middle[1] == pgbench_sql(WRITE_SQL, WRITE_ARGUMENTS) + ";"
    assert "$" not in BID_SCRIPT


def _selected_names(select: str) -> set[str]:
    columns = select.removeprefix("SELECT ").split(" FROM auctions")[0]
    return {column.split(" AS ")[-1].strip() for column in columns.split(",")}


def test_every_pgbench_variable_is_defined() -> None:
    """A ``:name`` pgbench cannot resolve becomes a bad parameter (``"by_preemption":false`` once did)."""
    from_gset = _selected_names(LOCK_SQL)
    from_set = set(re.findall(r"^\\set (\w+)", BID_SCRIPT, flags=re.MULTILINE))
    from_command_line = {"aid", "bidder"}
    used = set(re.findall(r"(?<!:):([a-z_][a-z0-9_]*)", BID_SCRIPT))
    assert used <= from_gset | from_set | from_command_line, used - (from_gset | from_set | from_command_line)
    assert {"seq", "aid", "now", "last_hash"} <= used


def test_every_parameter_of_the_write_has_a_pgbench_expression() -> None:
    assert set(WRITE_ARGUMENTS) == {int(n) for n in re.findall(r"\$(\d+)", WRITE_SQL)}
    with pytest.raises(ValueError, match="no pgbench expression"):
        pgbench_sql(WRITE_SQL, {1: ":aid"})
    assert pgbench_sql("SELECT $1, $10, $1", {1: "a", 10: "b"}) == "SELECT a, b, a"


PGBENCH_OUTPUT = """pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: bid.sql
scaling factor: 1
query mode: prepared
number of clients: 8
number of threads: 8
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 6473
number of failed transactions: 0 (0.000%)
latency average = 6.180 ms
initial connection time = 9.140 ms
tps = 1294.545385 (without initial connection time)
"""


def test_pgbench_summary_parsing() -> None:
    assert parse_pgbench(PGBENCH_OUTPUT) == (6473, 0, 1294.545385, 6.18)
    with pytest.raises(ValueError, match="no summary"):
        parse_pgbench("pgbench: error: connection refused")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param(
            "\rPUBLISH ch msg: rps=0.0 (overall: 0.0) avg_msec=-nan\r"
            "\rPUBLISH ch msg: 90909.09 requests per second, p50=0.263 msec\n",
            (90909.09, 0.263),
            id="with progress lines and p50",
        ),
        pytest.param("PUBLISH chan x: 1234.50 requests per second\n", (1234.5, None), id="older, no p50"),
    ],
)
def test_redis_benchmark_parsing(output: str, expected: tuple[float, float | None]) -> None:
    assert parse_redis_benchmark(output) == expected


def test_redis_endpoint_keeps_the_db_index() -> None:
    assert RedisEndpoint.from_url("redis://127.0.0.1:6379/9") == RedisEndpoint("127.0.0.1", 6379, 9)


# --- the raw HTTP client's framing -------------------------------------------------------------------


def test_request_head_and_response_head() -> None:
    head = request_head("POST", "/api/x", "127.0.0.1:8000", {"Authorization": "Bearer t"}, 12)
    assert head.startswith(b"POST /api/x HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: 12\r\n")
    assert head.endswith(b"Authorization: Bearer t\r\n\r\n")
    status, headers = parse_head(b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\nConnection: close\r\n\r\n")
    assert status == 201
    assert headers[b"content-length"] == b"5"
    assert headers[b"connection"] == b"close"


# --- what a watcher saw ------------------------------------------------------------------------------


def _feed(*items: tuple[str, int]) -> FeedCheck:
    check = FeedCheck()
    for kind, seq in items:
        status = "sold" if kind == "snapshot" and seq == 99 else None
        check.see(FeedMessage(type=kind, seq=seq, status=status))
    return check


@pytest.mark.parametrize(
    ("items", "gaps", "duplicates", "resyncs", "superseded", "closed"),
    [
        pytest.param([("snapshot", 0), ("bid", 1), ("bid", 2), ("closed", 3)], 0, 0, 0, 0, True, id="clean"),
        pytest.param([("snapshot", 0), ("bid", 1), ("bid", 3), ("closed", 4)], 1, 0, 0, 0, True, id="a gap"),
        pytest.param(
            [("snapshot", 0), ("bid", 1), ("bid", 1), ("bid", 2)], 0, 1, 0, 0, False, id="a duplicate"
        ),
        pytest.param(
            [("snapshot", 0), ("bid", 1), ("snapshot", 5), ("bid", 6), ("closed", 7)],
            0,
            0,
            1,
            4,
            True,
            id="a resync supersedes dropped updates without a gap",
        ),
        pytest.param([("bid", 1), ("bid", 2)], 1, 0, 0, 0, False, id="no snapshot first"),
        pytest.param([("snapshot", 0), ("snapshot", 99)], 0, 0, 1, 99, True, id="a snapshot of a closed lot"),
    ],
)
def test_feed_check(
    items: list[tuple[str, int]], gaps: int, duplicates: int, resyncs: int, superseded: int, closed: bool
) -> None:
    check = _feed(*items)
    assert (check.gaps, check.duplicates, check.resyncs, check.superseded, check.closed) == (
        gaps,
        duplicates,
        resyncs,
        superseded,
        closed,
    )


@settings(max_examples=100, deadline=None)
@given(length=st.integers(min_value=1, max_value=200), drop=st.data())
def test_a_feed_is_clean_exactly_when_no_seq_is_missing(length: int, drop: st.DataObject) -> None:
    seqs = list(range(1, length + 1))
    missing = drop.draw(st.sets(st.sampled_from(seqs[:-1]), max_size=5)) if length > 1 else set()
    check = FeedCheck()
    check.see(FeedMessage(type="snapshot", seq=0))
    for seq in seqs:
        if seq not in missing:
            check.see(FeedMessage(type="closed" if seq == length else "bid", seq=seq))
    assert (check.gaps == 0) == (not missing)
    assert check.missing == len(missing)
    assert check.last_seq == length


_KINDS = st.sampled_from(["bid", "bid", "bid", "extended", "closed", "snapshot", "opened"])


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(min_value=-1, max_value=3),
    steps=st.lists(st.tuples(_KINDS, st.sampled_from([1, 1, 1, 1, 0, 2, -1, 5])), max_size=40),
    cuts=st.sets(st.integers(min_value=1, max_value=39), max_size=10),
)
def test_folding_a_frame_at_once_is_folding_its_messages_one_by_one(
    start: int, steps: list[tuple[str, int]], cuts: set[int]
) -> None:
    messages, seq = [], start
    for kind, step in steps:
        seq += step
        messages.append(FeedMessage(type=kind, seq=seq, amount=100 + seq if kind == "bid" else None))
    frames, begin = [], 0
    for cut in [*sorted(cut for cut in cuts if cut < len(messages)), len(messages)]:
        if cut > begin:
            frames.append(messages[begin:cut])
            begin = cut
    by_message, by_frame = FeedCheck(), FeedCheck()
    for number, frame in enumerate(frames):
        for message in frame:
            by_message.see(message)
        by_frame.see_frame(frame_run(number, frame if len(frame) > 1 else frame[0]))
    assert asdict(by_frame) == asdict(by_message)


def test_a_frame_run_is_unbroken_only_without_snapshots_or_breaks() -> None:
    bids = [FeedMessage(type="bid", seq=seq, amount=seq) for seq in (4, 5, 6)]
    run = frame_run(0, bids)
    summary = (run.unbroken, run.first_seq, run.last_seq, run.bids, run.bid_amounts)
    assert summary == (True, 4, 6, 3, (4, 5, 6))
    assert not frame_run(0, [*bids, FeedMessage(type="bid", seq=8)]).unbroken
    assert not frame_run(0, [FeedMessage(type="snapshot", seq=3), *bids]).unbroken
    assert frame_run(0, [*bids, FeedMessage(type="closed", seq=7)]).closed


# --- a closed lot against what was acknowledged --------------------------------------------------------


def _closed_lot(amounts: list[int], *, closes: int = 1, verified: bool = True) -> dict[str, Any]:
    at = "2026-11-22T08:00:01Z"
    entries: list[dict[str, Any]] = [{"seq": 1, "type": "opened", "payload": {}, "at": at}]
    bids = []
    for index, amount in enumerate(amounts):
        seq = index + 2
        code = "BAAAAA" if index % 2 == 0 else "BBBBBB"
        bids.append({"seq": seq, "amount": amount, "bidder_code": code, "at": at})
        entries.append({"seq": seq, "type": "bid", "payload": {"amount": amount}, "at": f"{at}.{index // 2}"})
    top = bids[-1] if bids else None
    for _ in range(closes):
        entries.append(
            {
                "seq": len(entries) + 1,
                "type": "closed",
                "payload": {
                    "outcome": "sold" if top else "failed",
                    "price": top["amount"] if top else None,
                    "bidder_code": top["bidder_code"] if top else None,
                },
                "at": at,
            }
        )
    final = {
        "status": "sold" if top else "failed",
        "seq": len(entries),
        "current_price": top and top["amount"],
    }
    return {"bids": bids, "log": {"entries": entries, "verified": verified}, "final": final}


AMOUNTS = [70_000_000, 70_010_000, 70_020_000, 70_030_000]


def test_a_clean_lot_passes_and_counts_its_commits() -> None:
    lot = _closed_lot(AMOUNTS)
    acknowledged = {bid["seq"]: bid["amount"] for bid in lot["bids"]}
    check = check_lot(LOT, acknowledged, lot["bids"], lot["log"], lot["final"])
    assert check.ok, check.problems
    assert check.commits == 2
    assert (check.acknowledged, check.stored, check.final_seq) == (4, 4, 6)


def test_an_acknowledged_bid_missing_from_the_database_fails() -> None:
    lot = _closed_lot(AMOUNTS)
    acknowledged = {bid["seq"]: bid["amount"] for bid in lot["bids"]} | {99: 71_000_000}
    check = check_lot(LOT, acknowledged, lot["bids"], lot["log"], lot["final"])
    assert not check.ok
    assert check.missing == 1


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param({"closes": 2}, "2 closed events", id="two closes"),
        pytest.param({"verified": False}, "does not verify", id="a broken chain"),
    ],
)
def test_a_bad_log_fails(change: dict[str, Any], problem: str) -> None:
    lot = _closed_lot(AMOUNTS, **change)
    acknowledged = {bid["seq"]: bid["amount"] for bid in lot["bids"]}
    check = check_lot(LOT, acknowledged, lot["bids"], lot["log"], lot["final"])
    assert any(problem in text for text in check.problems), check.problems


def test_a_winner_that_is_not_the_highest_bidder_fails() -> None:
    lot = _closed_lot(AMOUNTS)
    lot["log"]["entries"][-1]["payload"]["bidder_code"] = "BZZZZZ"
    acknowledged = {bid["seq"]: bid["amount"] for bid in lot["bids"]}
    check = check_lot(LOT, acknowledged, lot["bids"], lot["log"], lot["final"])
    assert not check.winner_ok


def test_the_bid_ladder_round_trips() -> None:
    assert LOT.amount(0) == LOT.starting_price
    assert LOT.index_of(LOT.amount(37)) == 37


# --- targets and the report --------------------------------------------------------------------------


def _load(scenario: str, processes: int, bidders: int, accepted: int, delay: int = 0) -> LoadRow:
    return LoadRow(
        scenario=scenario,  # type: ignore[arg-type]
        processes=processes,
        lots=1 if scenario == "hot lot" else 8,
        bidders=bidders,
        commit_delay_us=delay,
        seconds=10.0,
        sent=accepted + 10,
        accepted=accepted,
        decided=accepted + 10,
        rejected={"bid_too_low": 10},
        failed={},
        latency_us=Spread(accepted, 5_000, 20_000, 30_000),
        commits=accepted // 4,
        checks_ok=True,
        cpu_percent={"machine": 190, "app": 90, "other": 10},
    )


def _watch(processes: int, watchers: int, p99_us: int) -> WatchRow:
    return WatchRow(
        processes=processes,
        watchers=watchers,
        connected=watchers,
        rate=200,
        seconds=8.0,
        accepted=1600,
        skipped=0,
        bid_latency_us=Spread(1600, 3_000, 9_000, 12_000),
        latency_us=Spread(1600 * watchers, p99_us // 2, p99_us, p99_us + 1),
        bid_receipts=1600 * watchers,
        expected_receipts=1600 * watchers,
        complete_watchers=watchers,
        gaps=0,
        duplicates=0,
        resynced_watchers=0,
        superseded=0,
        errors={},
        connect_seconds=1.0,
        checks_ok=True,
        cpu_percent={},
    )


def _pgbench(clients: int, tps: float, delay: int = 0) -> PgbenchResult:
    return PgbenchResult(clients, 10, delay, int(tps * 10), 0, tps, 1.0, "pgbench …")


def _report() -> RunReport:
    machine = Machine(2, "3.11.7", "15.20", "7.0.15", "pgbench 15.20", "Linux x86_64", {"fsync": "on"})
    report = RunReport(started_at="20261122T080000Z", mode="full", machine=machine, database="mp_bench_0")
    report.pgbench += [_pgbench(1, 1000.0), _pgbench(8, 1100.0), _pgbench(1, 400.0, 1000)]
    report.loads += [
        _load("hot lot", 1, 1, 800),
        _load("hot lot", 1, 64, 12_000),
        _load("hot lot", 1, 64, 9_000, delay=1000),
        _load("many lots", 1, 64, 10_000),
        _load("many lots", 2, 64, 15_000),
    ]
    report.watches += [_watch(1, 1000, 80_000), _watch(2, 5000, 300_000)]
    return report


def test_targets_are_ratios_of_the_same_run() -> None:
    verdicts = {target.name.split(" ≥")[0].split(" ≤")[0]: target for target in evaluate_targets(_report())}
    assert [t.verdict for t in evaluate_targets(_report())] == ["met", "not met", "met", "not met", "not met"]
    hot = verdicts["hot lot, 1 process"]
    assert hot.ratio_bp == 12_000
    delayed = verdicts["hot lot, 1 process, commit_delay=1000"]
    assert delayed.ratio_bp == 22_500
    many = verdicts["many lots, 2 processes"]
    assert many.ratio_bp == 15_000


def test_the_baseline_is_the_faster_pgbench_run_around_the_app() -> None:
    report = _report()
    report.pgbench += [_pgbench(1, 1500.0), _pgbench(1, 600.0), _pgbench(1, 800.0, 1000)]
    verdicts = {target.name.split(" ≥")[0].split(" ≤")[0]: target for target in evaluate_targets(report)}
    assert verdicts["hot lot, 1 process"].ratio_bp == 8_000  # 1 200 bids/s against 1 500 tps, not 1 000
    assert verdicts["hot lot, 1 process, commit_delay=1000"].ratio_bp == 11_250
    assert verdicts["hot lot, 1 process"].verdict == "not met"


def test_a_target_without_its_measurements_is_not_measured_never_met() -> None:
    report = _report()
    report.pgbench = []
    report.watches = []
    outcomes = evaluate_targets(report)
    assert [t.verdict for t in outcomes][:4] == ["not measured"] * 4


@settings(max_examples=100, deadline=None)
@given(
    app=st.integers(min_value=1, max_value=100_000),
    baseline=st.integers(min_value=1, max_value=100_000),
)
def test_a_throughput_target_is_met_exactly_when_the_ratio_reaches_it(app: int, baseline: int) -> None:
    report = _report()
    report.loads = [_load("hot lot", 1, 64, app)]
    report.pgbench = [_pgbench(1, baseline / 10)]
    (first, *_) = evaluate_targets(report)
    if app >= baseline:
        assert first.verdict == "met"
    elif app * 10_000 < baseline * 9_999:
        assert first.verdict == "not met"
    assert first.ratio_bp is not None
    assert (first.verdict == "met") == (first.ratio_bp >= 10_000)


def test_the_report_renders_every_section_and_serialises() -> None:
    report = _report()
    text = render_markdown(report)
    for heading in (
        "## Targets",
        "## Raw limits",
        "## The app under bid load",
        "## Live feed",
        "## Correctness",
    ):
        assert heading in text
    assert (
        "| hot lot, 1 process ≥ 1.0× pgbench (1 client) | 1200 accepted bids/s (N=64; 1201 decided/s) "
        "| 1000 tps | 1.20× |"
    ) in text
    assert "p99 300.0 ms" in text
    assert "Verdict: correct." in text
    assert render_markdown(report) == text
    data = to_json(report)
    assert data["correct"] is True
    assert data["loads"][1]["accepted_per_s"] == 1200.0
    assert len(data["targets"]) == 5


def test_many_lots_takes_the_faster_routing_and_names_it() -> None:
    report = _report()
    by_lot = dataclasses.replace(_load("many lots", 2, 64, 16_500), routing="by lot")
    report.loads.append(by_lot)
    many = evaluate_targets(report)[-1]
    assert (many.ratio_bp, many.verdict) == (16_500, "met")
    assert "2 processes, by lot" in many.measured
    text = render_markdown(report)
    assert "| many lots (by lot) | 2 | 8 | 64 |" in text
    assert "| many lots (spread) | 2 | 8 | 64 |" in text
    assert "| many lots | 1 | 8 | 64 |" in text


@pytest.mark.parametrize(
    ("cores", "busy", "ceiling"),
    [
        pytest.param(2, 190, 10_526, id="nearly full: little room for a second process"),
        pytest.param(2, 100, 20_000, id="half busy: twice the rate at most"),
        pytest.param(8, 160, 50_000, id="more cores, more room"),
    ],
)
def test_the_machine_ceiling_is_cores_over_what_one_process_kept_busy(
    cores: int, busy: int, ceiling: int
) -> None:
    report = _report()
    report.machine = dataclasses.replace(report.machine, cores=cores)
    report.loads = [
        dataclasses.replace(_load("many lots", 1, 64, 10_000), cpu_percent={"machine": busy, "app": 90})
    ]
    assert machine_ceiling_bp(report) == ceiling
    assert f"at most {format_bp_as_times(ceiling)} of its rate" in render_markdown(report)


def test_no_ceiling_without_a_one_process_many_lots_run() -> None:
    report = _report()
    report.loads = [row for row in report.loads if row.scenario != "many lots"]
    assert machine_ceiling_bp(report) is None
    assert "Many lots on this machine" not in render_markdown(report)


def test_a_failed_check_makes_the_run_incorrect() -> None:
    report = _report()
    lot = _closed_lot(AMOUNTS)
    report.checks.append(check_lot(LOT, {99: 1}, lot["bids"], lot["log"], lot["final"]))
    assert not report.correct
    assert "Verdict: INCORRECT." in render_markdown(report)


# --- profile summary ---------------------------------------------------------------------------------


def test_profile_shares_from_collapsed_stacks() -> None:
    collapsed = [
        f"run (uvicorn/main.py:10);handle ({REPOSITORY}marketplace/auctions/routes.py:97);"
        "execute (asyncpg/c.py:5) 3\n",
        "run (uvicorn/main.py:10);encode (x.py:1) 1\n",
        "garbage line\n",
    ]
    found = shares(collapsed)
    assert found.samples == 4
    assert found.inclusive[0] == ("run (uvicorn/main.py)", 10_000)
    assert ("handle (marketplace/auctions/routes.py)", 7_500) in found.inclusive
    assert found.own[0] == ("execute (asyncpg/c.py)", 7_500)
    assert found.own_by_component == [("asyncpg", 7_500), ("other (stdlib, runtime)", 2_500)]
    assert found.app_inclusive == [("handle (marketplace/auctions/routes.py)", 7_500)]


# --- choosing the watcher phases ---------------------------------------------------------------------


def test_watcher_phases_are_chosen_by_processes_and_watchers() -> None:
    from bench.__main__ import _with_watchers
    from bench.plan import FULL

    assert _with_watchers(FULL, "") == FULL
    chosen = _with_watchers(FULL, "1:1000, 2:5000,2:1000")
    assert (chosen.watchers_one, chosen.watchers_two) == ((1000,), (5000, 1000))
    assert _with_watchers(FULL, "2:5000").watchers_one == ()


@pytest.mark.parametrize("pairs", ["3:100", "1:", "1:-5", "1:0", "x:10", "1000"])
def test_a_bad_watcher_phase_is_refused(pairs: str) -> None:
    from bench.__main__ import _with_watchers
    from bench.plan import FULL

    with pytest.raises(SystemExit, match="processes:watchers"):
        _with_watchers(FULL, pairs)
