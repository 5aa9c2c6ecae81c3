"""The app under test as real processes (``python -m marketplace serve``), and CPU accounting per role.

Invariants:
- app processes run the production set-up (PostgreSQL + Redis) with the sandbox rules and rate
  limits on, set so high that no benchmark bid is refused (the limiter's Redis round trip is
  part of the measured bid path);
- app processes listen on 127.0.0.1 only, on free ports, and are always stopped (SIGTERM, then
  SIGKILL after a timeout) when their ``running_apps`` block ends, whatever happened inside it;
- waiting for an app to come up is bounded (30 s), and an early exit reports the app's log;
- CPU figures come from ``/proc/<pid>/stat`` (user + system ticks), sampled at the start and end of
  a measurement, per role (app, load generator, watchers, PostgreSQL, Redis); PostgreSQL is every
  ``postgres`` process on the machine, so other databases' work on the same server is included.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENCH_BID_LIMIT = (
    100_000_000  # rate limits stay on (their Redis round trip is part of a bid) but never refuse
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(base: Mapping[str, str], **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update(
        {
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": "bench-secret",
            "INSECURE_FAST_PASSWORD_HASHING": "1",
            "AUCTION_RULES": "sandbox",
            "SCHEDULER": "1",
            "HOST": "127.0.0.1",
            "RATE_LIMITS": "1",
            "RATE_LIMIT_EXEMPT_LOOPBACK": "1",
            "BID_LIMIT_PER_USER": str(BENCH_BID_LIMIT),
            "BID_LIMIT_PER_IP": str(BENCH_BID_LIMIT),
        }
    )
    env.update(overrides)
    return env


def run_cli(args: list[str], env: Mapping[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "marketplace", *args], env=dict(env), cwd=ROOT, check=True, timeout=180
    )


@dataclass
class AppProcess:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log_file.close()


def start_app(env: Mapping[str, str], log_dir: Path) -> AppProcess:
    port = free_port()
    log_path = log_dir / f"app-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=dict(env),
        cwd=ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    app = AppProcess(port, process, log_path, log_file)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_file.close()
            raise RuntimeError(f"app exited early:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{app.url}/health", timeout=1).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    app.stop()
    raise RuntimeError(f"app did not become healthy:\n{log_path.read_text()[-3000:]}")


@contextmanager
def running_apps(env: Mapping[str, str], log_dir: Path, count: int) -> Iterator[list[AppProcess]]:
    apps: list[AppProcess] = []
    try:
        for _ in range(count):
            apps.append(start_app(env, log_dir))
        yield apps
    finally:
        for app in apps:
            app.stop()


def process_ticks(pid: int) -> int:
    """User + system CPU ticks of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def pids_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii", errors="replace") as comm:
                if comm.read().strip() == name:
                    found.append(int(entry))
        except OSError:
            continue
    return found


def machine_busy_ticks() -> int:
    """Busy ticks of all cores together (everything but idle and iowait) from ``/proc/stat``."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal_and_guests = sum(fields[7:])
    return sum(fields) - idle - steal_and_guests


def background_busy_percent(seconds: float) -> int:
    """Busy time of all cores over ``seconds`` (200 = two cores busy), before the run starts."""
    start_ticks, start_at = machine_busy_ticks(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start_at
    return round(100 * (machine_busy_ticks() - start_ticks) / CLOCK_TICKS / wall)


def wait_for_quiet(limit_percent: int, minutes: float, probe_seconds: float = 5.0) -> tuple[int, float]:
    """Wait (at most ``minutes``) until the machine is busy below ``limit_percent`` over a probe.

    Returns the last probe's busy percentage and the seconds waited.
    """
    started = time.monotonic()
    busy = background_busy_percent(probe_seconds)
    while busy >= limit_percent and time.monotonic() - started < minutes * 60:
        busy = background_busy_percent(probe_seconds)
    return busy, time.monotonic() - started


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    ticks: Mapping[str, Mapping[int, int]]
    machine: int


def cpu_snapshot(roles: Mapping[str, Iterable[int]]) -> CpuSnapshot:
    """Ticks per process per role; ``postgres`` and ``redis`` are found by process name."""
    found = {role: list(pids) for role, pids in roles.items()}
    found["postgres"] = pids_named("postgres")
    found["redis"] = pids_named("redis-server")
    ticks = {role: {pid: process_ticks(pid) for pid in pids} for role, pids in found.items()}
    return CpuSnapshot(time.monotonic(), ticks, machine_busy_ticks())


def cpu_percent(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, int]:
    """Per role, CPU used between two snapshots in percent of one core (200 = two cores busy).

    A process's ticks count from the start snapshot, or from zero if it started later; ticks of a
    process that ended in between are lost (short-lived PostgreSQL backends are undercounted).
    ``machine`` is every core's busy time and ``other`` what the listed roles do not explain:
    other work on the machine during the measurement.
    """
    wall = end.at - start.at
    if wall <= 0:
        return {}

    def percent(ticks: int) -> int:
        return round(100 * ticks / CLOCK_TICKS / wall)

    used = {
        role: sum(max(0, now - start.ticks.get(role, {}).get(pid, 0)) for pid, now in pids.items())
        for role, pids in end.ticks.items()
    }
    out = {role: percent(ticks) for role, ticks in used.items()}
    machine = end.machine - start.machine
    out["machine"] = percent(machine)
    out["other"] = max(0, percent(machine - sum(used.values())))
    return out
