"""redis-benchmark of a PUBLISH: the raw fan-out limit of the Redis the app publishes through.

Invariants:
- the run targets 127.0.0.1 only, on a channel no app subscribes to, bounded by ``-n`` and a
  process timeout;
- the parsed figure is what redis-benchmark printed (requests per second, and p50 when printed).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
CHANNEL = "mp_bench_publish_probe"


@dataclass(frozen=True)
class RedisEndpoint:
    host: str
    port: int
    db: int

    @classmethod
    def from_url(cls, redis_url: str) -> RedisEndpoint:
        parts = urlsplit(redis_url)
        db = int(parts.path.strip("/") or 0)
        return cls(parts.hostname or "127.0.0.1", parts.port or 6379, db)


@dataclass(frozen=True)
class RedisBenchResult:
    requests: int
    clients: int
    pipeline: int
    payload_bytes: int
    rps: float
    p50_ms: float | None
    command: str


_LINE = re.compile(r"PUBLISH[^:]*:\s*([0-9.]+) requests per second(?:, p50=([0-9.]+) msec)?")


def parse_redis_benchmark(output: str) -> tuple[float, float | None]:
    """``(requests per second, p50 ms or None)`` from ``redis-benchmark -q`` output."""
    matches = _LINE.findall(output.replace("\r", "\n"))
    if not matches:
        raise ValueError(f"redis-benchmark printed no PUBLISH figure:\n{output[-2000:]}")
    rps, p50 = matches[-1]
    return float(rps), float(p50) if p50 else None


def run_publish(
    endpoint: RedisEndpoint, *, requests: int, clients: int = 50, pipeline: int = 1, payload_bytes: int = 200
) -> RedisBenchResult:
    message = "x" * payload_bytes
    args = ["redis-benchmark", "-h", endpoint.host, "-p", str(endpoint.port), "-n", str(requests)]
    args += ["-c", str(clients), "-P", str(pipeline), "-q", "PUBLISH", CHANNEL, message]
    completed = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed:\n{completed.stderr[-2000:]}")
    rps, p50 = parse_redis_benchmark(completed.stdout)
    shown = " ".join([*args[:-1], f"<{payload_bytes} bytes>"])
    return RedisBenchResult(requests, clients, pipeline, payload_bytes, rps, p50, shown)
