"""Real `storefront serve` processes for tests: this checkout's code on a test database, on a free port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET_KEY = "serving-test-secret-key-of-forty-characters"
POOL_SIZE = 5  # PostgreSQL's 100 connections are shared with the rest of the suite
READY_SECONDS = 30.0


@dataclass
class ServingProcess:
    """A `storefront serve` subprocess, the leader of its own process group."""

    process: subprocess.Popen[bytes]
    origin: str
    log_path: Path

    def kill(self) -> None:
        """SIGKILL the whole group: uvicorn with one worker serves in this very process (it forks no child),
        but a child forked some day, with its database connections, would die too."""
        os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        """End the process (gracefully when it still runs) and reap it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.wait()

    def log_tail(self) -> str:
        """The end of what the server wrote."""
        return self.log_path.read_text(errors="replace")[-3000:]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def storefront_command() -> list[str]:
    """The `storefront` console script of this interpreter's environment (`python -m app.cli` without one)."""
    script = Path(sys.executable).with_name("storefront")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def server_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The serving process's environment: this checkout's code on the test database, a small pool; `extra`
    adds to it (REDIS_URL, say)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),  # the code next to this test, ahead of an editable install elsewhere
        "DATABASE_URL": database_url,
        "STOREFRONT_ENV": "test",
        "SECRET_KEY": SECRET_KEY,
        "DB_POOL_SIZE": str(POOL_SIZE),
        "DB_MAX_OVERFLOW": "0",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@asynccontextmanager
async def serving(database_url: str, log_path: Path, **extra: str) -> AsyncIterator[ServingProcess]:
    """Run `storefront serve --workers 1` on a free port until the block ends; yields it once /readyz is 200.
    `extra` adds to its environment."""
    port = free_port()
    command = [*storefront_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=server_environment(database_url, **extra),
            cwd=log_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServingProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        await wait_until_ready(server)
        yield server
    finally:
        server.stop()


async def wait_until_ready(server: ServingProcess) -> None:
    """Poll /readyz until it answers 200 (AssertionError, with the server's log, when it never does)."""
    deadline = time.monotonic() + READY_SECONDS
    async with httpx.AsyncClient(base_url=server.origin, timeout=2) as client:
        while time.monotonic() < deadline:
            assert server.process.poll() is None, f"the server exited:\n{server.log_tail()}"
            with suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the server was not ready within {READY_SECONDS} s:\n{server.log_tail()}")
