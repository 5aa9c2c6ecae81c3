"""Run the real app as separate processes (uvicorn via ``python -m marketplace serve``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update({"LOG_LEVEL": "WARNING", "SECRET_KEY": "test-secret", "INSECURE_FAST_PASSWORD_HASHING": "1"})
    env.update(overrides)
    return env


def run_cli(args: list[str], env: Mapping[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "marketplace", *args], env=dict(env), cwd=ROOT, check=True, timeout=120
    )


class AppProcess:
    def __init__(
        self, port: int, process: subprocess.Popen[bytes], log_path: Path, log_file: IO[bytes]
    ) -> None:
        self.port = port
        self.process = process
        self.log_path = log_path
        self.log_file = log_file

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log_file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log_file.close()


def start_app(env: Mapping[str, str], log_dir: Path, port: int | None = None) -> AppProcess:
    port = port or free_port()
    log_path = log_dir / f"app-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace", "serve", "--port", str(port)],
        env=dict(env),
        cwd=ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    app = AppProcess(port, process, log_path, log_file)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited early:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{app.url}/health", timeout=1).status_code in (200, 503):
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    app.kill()
    raise RuntimeError(f"app did not start:\n{log_path.read_text()[-3000:]}")


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
