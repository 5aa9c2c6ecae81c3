"""Disposable PostgreSQL clusters and Redis servers for fault tests, never the shared ones.

A fault test stops, kills and restarts services; the PostgreSQL on 5432 and the Redis on 6379 are
shared with other suites and must never be touched. So each fault test gets its own PostgreSQL
cluster (copied from a template cluster that was initialised, migrated and seeded once per
session) and its own ``redis-server``, on free loopback ports, torn down afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis

from tests.procs import app_env, free_port, run_cli

POSTGRES_ROOT = Path("/usr/lib/postgresql")
DATABASE = "marketplace"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` directory (``/usr/lib/postgresql/<version>/bin``)."""
    if not POSTGRES_ROOT.is_dir():
        return None
    versions = sorted(
        (p for p in POSTGRES_ROOT.iterdir() if (p / "bin" / "pg_ctl").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    return versions[-1] / "bin" if versions else None


def why_unavailable() -> str | None:
    """Why disposable services cannot be started here, or ``None``."""
    if postgres_bin() is None:
        return f"no PostgreSQL server binaries under {POSTGRES_ROOT}"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "disposable PostgreSQL clusters need root (runuser -u postgres)"
    return None


def _as_postgres(*args: str, timeout: float = 60) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *args], check=True, timeout=timeout, capture_output=True
    )


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class OwnPostgres:
    """A PostgreSQL cluster in a private directory, run as the ``postgres`` user."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log = data_dir.parent / f"postgres-{port}.log"

    @classmethod
    def initialise(cls, root: Path) -> OwnPostgres:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        data_dir = root / "cluster"
        _as_postgres(
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        return cls(data_dir, free_port())

    def copy_to(self, root: Path) -> OwnPostgres:
        target = root / "cluster"
        subprocess.run(["cp", "-a", str(self.data_dir), str(target)], check=True, timeout=120)
        return OwnPostgres(target, free_port())

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_postgres(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "start",
        )
        _wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def create_database(self, name: str = DATABASE) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        _as_postgres(
            str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
        )


class OwnRedis:
    """``redis-server`` on a free port, without persistence; stop and start it at will."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._log = (self.log_dir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Services:
    postgres: OwnPostgres
    redis: OwnRedis

    def env(self, data_dir: Path, **overrides: str) -> dict[str, str]:
        return app_env(
            DATABASE_URL=self.postgres.url(),
            REDIS_URL=self.redis.url,
            AUCTION_RULES="sandbox",
            DATA_DIR=str(data_dir),
            **overrides,
        )


def private_dir(prefix: str) -> Path:
    """A directory the ``postgres`` user may use (pytest's tmp dirs are private to root)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    shutil.chown(root, "postgres", "postgres")
    return root


@contextlib.contextmanager
def template_cluster(log_dir: Path) -> Iterator[OwnPostgres]:
    """A stopped cluster holding a migrated and seeded ``marketplace`` database."""
    root = private_dir("mp-fault-template-")
    try:
        cluster = OwnPostgres.initialise(root)
        cluster.start()
        try:
            cluster.create_database()
            env = app_env(DATABASE_URL=cluster.url(), DATA_DIR=str(log_dir / "template-data"))
            run_cli(["migrate"], env)
            run_cli(["seed"], env)
        finally:
            cluster.stop()
        yield cluster
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def own_services(template: OwnPostgres, log_dir: Path) -> Iterator[Services]:
    root = private_dir("mp-fault-")
    cluster = template.copy_to(root)
    own_redis = OwnRedis(log_dir)
    try:
        cluster.start()
        own_redis.start()
        yield Services(cluster, own_redis)
    finally:
        own_redis.stop()
        with contextlib.suppress(Exception):
            if cluster.is_running():
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
