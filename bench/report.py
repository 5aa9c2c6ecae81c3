"""The run's results: what was measured, each target as a ratio of two numbers from the same run,
and the table written to stdout, ``bench/results/<timestamp>.md`` and ``.json``.

Invariants:
- every target is evaluated from this run's numbers only; a target whose inputs were not measured
  (a skipped or failed phase) is reported as ``not measured``, never as met;
- a throughput target compares rates (``ratio_bp`` = app ÷ baseline in basis points ≥ the target's
  basis points); the app's rate is its accepted (durable) bids per second, the best over N for a
  hot lot; decided bids (accepted + rejected under the lock) are shown beside it;
- a latency target compares the measured p99 with its limit (``ratio_bp`` = p99 ÷ limit, met when
  ≤ 10 000);
- correctness problems are listed in the report; the run's verdict is ``correct`` only when every
  lot and every watcher check passed;
- rendering is pure: the same report renders to the same text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.lots import LotCheck
from bench.pg import PgbenchResult
from bench.redisbench import RedisBenchResult
from bench.stats import BASIS_POINTS, Spread, format_bp_as_times, format_us_as_ms, ratio_bp

LOAD_GENERATOR_NOTE = (
    "The load generator, the watcher process, the app processes, PostgreSQL and Redis all share "
    "this machine's cores; every figure includes that contention."
)


@dataclass(frozen=True)
class Machine:
    cores: int
    python: str
    postgres: str
    redis: str
    pgbench: str
    platform: str
    postgres_settings: dict[str, str]


Routing = Literal["spread", "by lot"]


@dataclass(frozen=True)
class LoadRow:
    """One measurement of the app under bid load."""

    scenario: Literal["hot lot", "many lots"]
    processes: int
    lots: int
    bidders: int
    commit_delay_us: int
    seconds: float
    sent: int
    accepted: int
    decided: int
    rejected: dict[str, int]
    failed: dict[str, int]
    latency_us: Spread | None
    commits: int
    checks_ok: bool
    cpu_percent: dict[str, int]
    routing: Routing = "spread"
    """How bidders reach the processes: ``spread`` puts every lot's bidders on every process (a
    round-robin balancer); ``by lot`` puts each lot's bidders on one process (a balancer hashing the
    auction id in the path), so that a lot's bids meet in one sequencer."""

    @property
    def label(self) -> str:
        return self.scenario if self.processes == 1 else f"{self.scenario} ({self.routing})"

    @property
    def app_cpu_us_per_bid(self) -> int | None:
        """App CPU time per decided bid (µs): how much of a core one bid costs, whatever the contention."""
        if not self.decided:
            return None
        return self.cpu_percent.get("app", 0) * int(self.seconds * 1_000_000) // 100 // self.decided

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0

    @property
    def decided_per_s(self) -> float:
        return self.decided / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class WatchRow:
    """One measurement of the live feed: W watchers on one lot under a paced bid stream."""

    processes: int
    watchers: int
    connected: int
    rate: int
    seconds: float
    accepted: int
    skipped: int
    bid_latency_us: Spread | None
    latency_us: Spread | None
    bid_receipts: int
    expected_receipts: int
    complete_watchers: int
    gaps: int
    duplicates: int
    resynced_watchers: int
    superseded: int
    errors: dict[str, int]
    connect_seconds: float
    checks_ok: bool
    cpu_percent: dict[str, int]

    @property
    def app_cpu_us_per_delivery(self) -> int | None:
        """App CPU time per bid event delivered to one watcher (µs)."""
        if not self.bid_receipts:
            return None
        return self.cpu_percent.get("app", 0) * int(self.seconds * 1_000_000) // 100 // self.bid_receipts


@dataclass(frozen=True)
class TargetOutcome:
    name: str
    measured: str
    baseline: str
    ratio_bp: int | None
    target_bp: int
    kind: Literal["at_least", "at_most"]
    verdict: Literal["met", "not met", "not measured"]


@dataclass
class RunReport:
    started_at: str
    mode: str
    machine: Machine
    database: str
    pgbench: list[PgbenchResult] = field(default_factory=list)
    redis: list[RedisBenchResult] = field(default_factory=list)
    loads: list[LoadRow] = field(default_factory=list)
    watches: list[WatchRow] = field(default_factory=list)
    checks: list[LotCheck] = field(default_factory=list)
    phase_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def correct(self) -> bool:
        return all(check.ok for check in self.checks) and all(w.checks_ok for w in self.watches)


def _pgbench_tps(report: RunReport, clients: int, commit_delay_us: int) -> float | None:
    """The baseline: the FASTER of the pgbench runs before and after the app (the disk drifts), so
    a slow minute of the disk never flatters the app's ratio."""
    rates = [
        result.tps
        for result in report.pgbench
        if result.clients == clients and result.commit_delay_us == commit_delay_us
    ]
    return max(rates, default=None)


def _best_hot_lot(report: RunReport, processes: int, commit_delay_us: int) -> LoadRow | None:
    rows = [
        row
        for row in report.loads
        if row.scenario == "hot lot" and row.processes == processes and row.commit_delay_us == commit_delay_us
    ]
    return max(rows, key=lambda row: row.accepted_per_s, default=None)


def _many_lots(report: RunReport, processes: int) -> LoadRow | None:
    rows = [row for row in report.loads if row.scenario == "many lots" and row.processes == processes]
    return max(rows, key=lambda row: row.accepted_per_s, default=None)


def _watch(report: RunReport, processes: int, watchers: int) -> WatchRow | None:
    for row in report.watches:
        if row.processes == processes and row.watchers == watchers:
            return row
    return None


def _throughput(
    name: str,
    measured: float | None,
    measured_label: str,
    baseline: float | None,
    baseline_label: str,
    target_bp: int,
) -> TargetOutcome:
    if measured is None or baseline is None:
        return TargetOutcome(name, "–", "–", None, target_bp, "at_least", "not measured")
    ratio = ratio_bp(measured, baseline)
    verdict: Literal["met", "not met"] = "met" if ratio is not None and ratio >= target_bp else "not met"
    return TargetOutcome(
        name,
        f"{measured:.0f} {measured_label}",
        f"{baseline:.0f} {baseline_label}",
        ratio,
        target_bp,
        "at_least",
        verdict,
    )


def _latency(name: str, row: WatchRow | None, limit_ms: int) -> TargetOutcome:
    target_bp = BASIS_POINTS
    if row is None or row.latency_us is None:
        return TargetOutcome(name, "–", f"{limit_ms} ms", None, target_bp, "at_most", "not measured")
    limit_us = limit_ms * 1000
    ratio = (row.latency_us.p99 * BASIS_POINTS + limit_us // 2) // limit_us
    verdict: Literal["met", "not met"] = "met" if row.latency_us.p99 <= limit_us else "not met"
    rate = row.accepted / row.seconds if row.seconds > 0 else 0.0
    measured = (
        f"p99 {format_us_as_ms(row.latency_us.p99)} ms ({row.connected} watchers; "
        f"{row.accepted} bids at {rate:.0f}/s of {row.rate}/s asked)"
    )
    return TargetOutcome(name, measured, f"{limit_ms} ms", ratio, target_bp, "at_most", verdict)


def evaluate_targets(report: RunReport) -> list[TargetOutcome]:
    one = _best_hot_lot(report, 1, 0)
    delayed = _best_hot_lot(report, 1, 1000)
    many_one = _many_lots(report, 1)
    many_two = _many_lots(report, 2)
    return [
        _throughput(
            "hot lot, 1 process ≥ 1.0× pgbench (1 client)",
            one.accepted_per_s if one else None,
            f"accepted bids/s (N={one.bidders}; {one.decided_per_s:.0f} decided/s)" if one else "",
            _pgbench_tps(report, 1, 0),
            "tps",
            BASIS_POINTS,
        ),
        _throughput(
            "hot lot, 1 process, commit_delay=1000 ≥ 3× pgbench (1 client, same setting)",
            delayed.accepted_per_s if delayed else None,
            f"accepted bids/s (N={delayed.bidders}; {delayed.decided_per_s:.0f} decided/s)"
            if delayed
            else "",
            _pgbench_tps(report, 1, 1000),
            "tps",
            3 * BASIS_POINTS,
        ),
        _latency(
            "bid→watcher p99 ≤ 100 ms, 1 000 watchers, 200 bids/s, 1 process", _watch(report, 1, 1000), 100
        ),
        _latency(
            "bid→watcher p99 ≤ 250 ms, 5 000 watchers, 200 bids/s, 2 processes", _watch(report, 2, 5000), 250
        ),
        _throughput(
            "many lots, 2 processes ≥ 1.6× 1 process",
            many_two.accepted_per_s if many_two else None,
            f"accepted bids/s (2 processes, {many_two.routing})" if many_two else "",
            many_one.accepted_per_s if many_one else None,
            "accepted bids/s (1 process)",
            16_000,
        ),
    ]


def machine_ceiling_bp(report: RunReport) -> int | None:
    """How many times the 1-process many-lots rate the whole machine could carry at that run's CPU
    cost per bid (app, load generator, PostgreSQL, Redis and the rest): cores ÷ machine busy."""
    row = _many_lots(report, 1)
    busy = row.cpu_percent.get("machine", 0) if row else 0
    if not busy or not report.machine.cores:
        return None
    return (report.machine.cores * 100 * BASIS_POINTS + busy // 2) // busy


def machine_ceiling(report: RunReport) -> str | None:
    ceiling = machine_ceiling_bp(report)
    row = _many_lots(report, 1)
    if ceiling is None or row is None:
        return None
    return (
        f"Many lots on this machine: the 1-process run kept it {row.cpu_percent.get('machine', 0)} % busy "
        f"of {report.machine.cores * 100} %; at the same CPU per bid, everything on this machine "
        f"together can carry at most {format_bp_as_times(ceiling)} of its rate, whatever the processes."
    )


def _spread_ms(value: Spread | None) -> str:
    if value is None:
        return "–"
    return f"{format_us_as_ms(value.p50)} / {format_us_as_ms(value.p99)}"


def _per_commit(accepted: int, commits: int) -> str:
    if not commits:
        return "–"
    tenths = (accepted * 10 + commits // 2) // commits
    return f"{tenths // 10}.{tenths % 10}"


def _codes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code} {count}" for code, count in sorted(counts.items())) or "–"


def _cpu(cpu: dict[str, int]) -> str:
    order = ("machine", "app", "load", "watchers", "postgres", "redis", "other")
    return " ".join(f"{role} {cpu[role]}%" for role in order if role in cpu)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_markdown(report: RunReport) -> str:
    m = report.machine
    out = [
        f"# Bidding-war benchmark — {report.started_at} ({report.mode})",
        "",
        f"Machine: {m.cores} cores, {m.platform}; Python {m.python}; PostgreSQL {m.postgres}; "
        f"Redis {m.redis}; {m.pgbench}.",
        "PostgreSQL settings on the benchmark database: "
        + ", ".join(f"{k}={v}" for k, v in sorted(m.postgres_settings.items()))
        + ".",
        LOAD_GENERATOR_NOTE,
        "",
        "## Targets",
        "",
    ]
    out += _table(
        ("target", "measured", "baseline", "ratio", "needed", "verdict"),
        [
            (
                t.name,
                t.measured,
                t.baseline,
                format_bp_as_times(t.ratio_bp),
                ("≥ " if t.kind == "at_least" else "≤ ") + format_bp_as_times(t.target_bp),
                t.verdict,
            )
            for t in evaluate_targets(report)
        ],
    )
    ceiling = machine_ceiling(report)
    if ceiling:
        out += ["", ceiling]
    out += ["", "## Raw limits", ""]
    out += _table(
        ("what", "clients", "commit_delay", "rate", "latency"),
        [
            (
                "pgbench: the app's bid transaction, one hot lot",
                str(r.clients),
                f"{r.commit_delay_us} µs",
                f"{r.tps:.0f} tps ({r.transactions} tx, {r.failed} failed)",
                f"avg {r.latency_avg_ms:.2f} ms",
            )
            for r in report.pgbench
        ]
        + [
            (
                f"redis-benchmark PUBLISH ({r.payload_bytes} B, pipeline {r.pipeline})",
                str(r.clients),
                "–",
                f"{r.rps:.0f} req/s",
                f"p50 {r.p50_ms} ms" if r.p50_ms is not None else "–",
            )
            for r in report.redis
        ],
    )
    out += ["", "## The app under bid load (HTTP, one load-generator process)", ""]
    out += _table(
        (
            "scenario",
            "procs",
            "lots",
            "N",
            "commit_delay",
            "accepted/s",
            "decided/s",
            "bids per commit",
            "HTTP p50 / p99 ms",
            "rejections",
            "errors",
            "checks",
            "app CPU µs/bid",
            "CPU %",
        ),
        [
            (
                row.label,
                str(row.processes),
                str(row.lots),
                str(row.bidders),
                f"{row.commit_delay_us} µs",
                f"{row.accepted_per_s:.0f}",
                f"{row.decided_per_s:.0f}",
                _per_commit(row.accepted, row.commits),
                _spread_ms(row.latency_us),
                _codes(row.rejected),
                _codes(row.failed),
                "ok" if row.checks_ok else "FAILED",
                str(row.app_cpu_us_per_bid) if row.app_cpu_us_per_bid is not None else "–",
                _cpu(row.cpu_percent),
            )
            for row in report.loads
        ],
    )
    out += ["", "## Live feed: bid → watcher latency (same clock)", ""]
    out += _table(
        (
            "procs",
            "W (connected)",
            "bids/s asked",
            "accepted (per s)",
            "skipped",
            "bid→watcher p50 / p99 ms",
            "max ms",
            "receipts",
            "complete watchers",
            "gaps",
            "resynced watchers (seqs superseded)",
            "checks",
            "app CPU µs/delivery",
            "CPU %",
        ),
        [
            (
                str(row.processes),
                f"{row.watchers} ({row.connected})",
                str(row.rate),
                f"{row.accepted} ({row.accepted / row.seconds if row.seconds > 0 else 0.0:.0f})",
                str(row.skipped),
                _spread_ms(row.latency_us),
                format_us_as_ms(row.latency_us.max) if row.latency_us else "–",
                f"{row.bid_receipts}/{row.expected_receipts}",
                f"{row.complete_watchers}/{row.watchers}",
                str(row.gaps),
                f"{row.resynced_watchers} ({row.superseded})",
                "ok" if row.checks_ok else "FAILED",
                str(row.app_cpu_us_per_delivery) if row.app_cpu_us_per_delivery is not None else "–",
                _cpu(row.cpu_percent),
            )
            for row in report.watches
        ],
    )
    out += ["", "## Correctness (same run)", ""]
    failing = [check for check in report.checks if not check.ok]
    out.append(
        f"{len(report.checks)} lots closed and checked: every acknowledged bid stored, the hash-chained "
        f"log verified with seqs 1..n, exactly one close, one winner — "
        + ("all passed." if not failing else f"{len(failing)} FAILED:")
    )
    out += [f"- lot {check.auction_id}: {'; '.join(check.problems)}" for check in failing]
    for row in report.watches:
        if not row.checks_ok:
            out.append(
                f"- {row.watchers} watchers on {row.processes} process(es): "
                f"{row.complete_watchers} complete, "
                f"{row.gaps} gaps, {row.duplicates} duplicates, errors {_codes(row.errors)}"
            )
    if report.phase_errors:
        out += ["", "## Phases that failed", ""]
        out += [f"- {error}" for error in report.phase_errors]
    if report.notes:
        out += ["", "## Notes", ""]
        out += [f"- {note}" for note in report.notes]
    out += [
        "",
        f"Run time: {report.seconds:.0f} s. Verdict: {'correct' if report.correct else 'INCORRECT'}.",
        "",
    ]
    return "\n".join(out)


def to_json(report: RunReport) -> dict[str, Any]:
    data = asdict(report)
    data["targets"] = [asdict(target) for target in evaluate_targets(report)]
    data["correct"] = report.correct
    for row, raw in zip(report.loads, data["loads"], strict=True):
        raw["accepted_per_s"] = round(row.accepted_per_s, 1)
        raw["decided_per_s"] = round(row.decided_per_s, 1)
        raw["app_cpu_us_per_bid"] = row.app_cpu_us_per_bid
    for watch, raw in zip(report.watches, data["watches"], strict=True):
        raw["app_cpu_us_per_delivery"] = watch.app_cpu_us_per_delivery
    return data


def write(report: RunReport, folder: Path, stamp: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    markdown = folder / f"{stamp}.md"
    data = folder / f"{stamp}.json"
    markdown.write_text(render_markdown(report), encoding="utf-8")
    data.write_text(json.dumps(to_json(report), indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return markdown, data
