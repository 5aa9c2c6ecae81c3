"""Optional sampling profile of an app process during a phase (``--profile``), with py-spy.

py-spy is not a project dependency: install it into the venv (``.venv/bin/pip install py-spy``) to
use ``--profile``; without it the run goes on and says so.

Invariants:
- the profiler attaches to one app process by pid (pausing it for each sample, so stacks are
  exact) and records only the thread holding the GIL: the profile is of Python CPU time, not of
  waiting; it runs for a bounded duration and is
  killed if it outlives it by 30 s;
- the summary is computed from py-spy's collapsed stacks: a function's inclusive share is the
  share of samples with it anywhere on the stack, its own share the samples where it is the leaf,
  both in basis points of all samples.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.stats import BASIS_POINTS


@dataclass
class Tracer:
    process: subprocess.Popen[bytes]
    output: Path
    label: str
    seconds: float


def py_spy() -> str | None:
    beside_python = Path(sys.executable).parent / "py-spy"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("py-spy")


def start(pid: int, seconds: float, output: Path, label: str) -> Tracer | None:
    binary = py_spy()
    if binary is None:
        return None
    process = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, int(seconds))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--gil",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Tracer(process, output, label, seconds)


def finish(tracer: Tracer | None) -> None:
    if tracer is None:
        return
    try:
        tracer.process.wait(timeout=tracer.seconds + 30)
    except subprocess.TimeoutExpired:
        tracer.process.kill()
        tracer.process.wait(timeout=5)


REPOSITORY = str(Path(__file__).resolve().parent.parent) + "/"
"""The checkout's root as py-spy prints it in the app's frames."""


def _frame_name(frame: str) -> str:
    """``handle (marketplace/auctions/routes.py:97)`` → ``handle (marketplace/auctions/routes.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", REPOSITORY, "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


COMPONENTS = (
    ("marketplace/", "app code (marketplace)"),
    ("auction/", "app code (auction)"),
    ("frontend/", "app code (frontend)"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("redis/", "redis-py"),
    ("litestar/", "Litestar"),
    ("uvicorn/", "uvicorn"),
    ("websockets/", "websockets"),
    ("anyio/", "anyio"),
    ("msgspec/", "msgspec"),
    ("structlog/", "structlog"),
    ("asyncio/", "asyncio"),
)


def component(frame_name: str) -> str:
    """The library (or the app) a frame belongs to, from its path."""
    _, _, path = frame_name.partition(" (")
    for prefix, name in COMPONENTS:
        if path.startswith(prefix):
            return name
    return "other (stdlib, runtime)"


@dataclass(frozen=True)
class Shares:
    """Basis points of all samples, largest first."""

    samples: int
    inclusive: list[tuple[str, int]]
    own: list[tuple[str, int]]
    own_by_component: list[tuple[str, int]]
    app_inclusive: list[tuple[str, int]]


def shares(collapsed: Iterable[str]) -> Shares:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    by_component: Counter[str] = Counter()
    total = 0
    for line in collapsed:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
        by_component[component(frames[-1])] += count
    if total == 0:
        return Shares(0, [], [], [], [])

    def bp(counter: Counter[str]) -> list[tuple[str, int]]:
        return [(name, count * BASIS_POINTS // total) for name, count in counter.most_common()]

    app = Counter(
        {name: count for name, count in inclusive.items() if component(name).startswith("app code")}
    )
    app_entry = {"main (marketplace/__main__.py)", "<module> (marketplace/__main__.py)"}
    for name in app_entry:
        app.pop(name, None)
    return Shares(total, bp(inclusive), bp(own), bp(by_component), bp(app))


def summary(tracer: Tracer | None, top: int = 12) -> list[str]:
    if tracer is None:
        return ["--profile: py-spy not found (install it into the venv: .venv/bin/pip install py-spy)"]
    if not tracer.output.exists():
        return [f"--profile: py-spy wrote no profile for {tracer.label} (ptrace not permitted?)"]
    with tracer.output.open(encoding="utf-8", errors="replace") as collapsed:
        found = shares(collapsed)
    if found.samples == 0:
        return [f"--profile: no samples for {tracer.label}"]

    def fmt(rows: list[tuple[str, int]]) -> str:
        return "; ".join(f"{name} {value // 100}.{value % 100 // 10}%" for name, value in rows[:top])

    head = f"profile of {tracer.label} ({found.samples} GIL-holding samples at 200 Hz, {tracer.output.name})"
    return [
        f"{head}: own time by component — {fmt(found.own_by_component)}",
        f"{head}: app functions, inclusive — {fmt(found.app_inclusive)}",
        f"{head}: hottest functions, own time — {fmt(found.own)}",
    ]
