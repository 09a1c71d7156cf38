"""The GraphQL-over-HTTP spec's public audit suite against the real server, on each backend.

Starts `storefront serve` in a subprocess on a migrated and seeded database and runs
``tools/http-audit/audit.mjs`` (graphql-http's ``serverAudits``) against it; every audit must be
``ok`` (a warning or notice fails the test too). Needs Node and ``tools/http-audit/node_modules``
(``npm ci`` in tools/http-audit).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.catalog.seed import seed_catalog
from app.db import migrate
from tests.conftest import fresh_database

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
AUDIT_DIR = REPO_ROOT / "tools" / "http-audit"
AUDIT_SCRIPT = AUDIT_DIR / "audit.mjs"
STOREFRONT = Path(sys.executable).with_name("storefront")
STARTUP_TIMEOUT = 30.0
AUDIT_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _wait_healthy(base_url: str, server: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"the server exited with {server.returncode}:\n{log_file.read_text()}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"the server did not answer /healthz within {STARTUP_TIMEOUT} s:\n{log_file.read_text()}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


async def test_every_graphql_over_http_audit_is_ok(backend: str, tmp_path: Path) -> None:
    if not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        pytest.skip("tools/http-audit/node_modules is missing; run `npm ci` in tools/http-audit")
    async with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = create_async_engine(url)
        try:
            await seed_catalog(engine, products=20, seed=3)
        finally:
            await engine.dispose()

        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": url, "STOREFRONT_ENV": "test", "LOG_LEVEL": "WARNING"}
        log_file = tmp_path / "server.log"
        with log_file.open("wb") as log:
            server = subprocess.Popen(
                [str(STOREFRONT), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            await _wait_healthy(base_url, server, log_file)
            audit = await asyncio.create_subprocess_exec(
                "node",
                str(AUDIT_SCRIPT),
                f"{base_url}/graphql",
                cwd=REPO_ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                output, _ = await asyncio.wait_for(audit.communicate(), AUDIT_TIMEOUT)
            except TimeoutError:
                audit.kill()
                await audit.wait()
                pytest.fail(f"the audit did not finish within {AUDIT_TIMEOUT} s")
        finally:
            _stop(server)
    report = output.decode()
    assert audit.returncode == 0, f"audit.mjs exited {audit.returncode}:\n{report}\nserver log:\n" + (
        log_file.read_text()
    )
    assert "PASS: every audit is ok" in report, report
