"""Server processes (each in its own process group, always stopped) and what /proc tells about them."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["ProcessTree", "Server", "free_port", "postgres_backends"]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# Settings the app would read from the environment; the benchmark runs it with its defaults.
APP_VARIABLES = (
    "DATABASE_URL",
    "STOREFRONT_ENV",
    "SECRET_KEY",
    "LOG_LEVEL",
    "REDIS_URL",
    "CURRENCY_CODE",
    "IMAGE_CDN_BASE",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "FAST_EXECUTOR",
    "MAX_QUERY_COST",
    "RATE_LIMIT_POINTS",
    "RATE_LIMIT_RESTORE_RATE",
    "TRUSTED_PROXIES",
    "TRUSTED_DOCUMENTS_ONLY",
)

_running: list[Server] = []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_all() -> None:
    """Stop every server still running (used on exit and on signals)."""
    for server in list(_running):
        server.stop()


@dataclass
class Server:
    """A server started as a subprocess in a new session (its own process group)."""

    name: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    log_file: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    start_seconds: float = field(default=0.0, init=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        environment = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
        environment.update(self.env)
        # The servers run the source tree the benchmark runs from (a clean clone too), not the editable install.
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _running.append(self)
        began = time.monotonic()
        deadline = began + timeout
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
                try:
                    if client.get(self.base_url + self.ready_path).status_code == 200:
                        self.start_seconds = time.monotonic() - began
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s: {self.log_tail()}")

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        # Workers left behind by a master that died first are in the same group.
        _signal_group(process.pid, signal.SIGKILL)
        self.process = None
        if self in _running:
            _running.remove(self)

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def tree(self) -> ProcessTree:
        assert self.process is not None
        return ProcessTree(self.process.pid)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces; the fields after it are fixed.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process, in seconds."""
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    return children


@dataclass
class ProcessTree:
    """A server's master process and all its descendants (uvicorn workers, the resource tracker)."""

    root: int

    def pids(self) -> list[int]:
        children = _children()
        found, queue = [], [self.root]
        while queue:
            pid = queue.pop()
            found.append(pid)
            queue.extend(children.get(pid, []))
        return found

    def cpu(self) -> dict[int, float]:
        """CPU seconds by pid."""
        result = {}
        for pid in self.pids():
            seconds = cpu_seconds(pid)
            if seconds is not None:
                result[pid] = seconds
        return result

    def reset_peak_memory(self) -> None:
        """Set each process's VmHWM back to its current RSS (writing 5 to clear_refs)."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_memory_mb(self) -> float:
        """The largest VmHWM (peak resident set) of any process of the tree, in MB."""
        peak_kb = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
            except OSError:
                pass
        return peak_kb / 1024


def postgres_backends(database: str) -> dict[int, float]:
    """CPU seconds of every PostgreSQL backend connected to the database, by pid (from the process titles)."""
    title = re.compile(rb"postgres: (?:\S+: )?postgres " + re.escape(database.encode()) + rb" ")
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if title.match(command):
            seconds = cpu_seconds(int(entry))
            if seconds is not None:
                found[int(entry)] = seconds
    return found
