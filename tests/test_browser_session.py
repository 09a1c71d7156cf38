"""The BFF cookie session in headless Chromium: a same-origin SPA signs in with useCookie, never sees the
session cookie from script, reads the viewer by cookie, and needs the CSRF header for mutations."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.asgi import create_app
from app.db import migrate
from app.settings import Secret, Settings
from tests.conftest import take_cost
from tests.support.live import live_server

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_CORE = REPO_ROOT / "playground" / "node_modules" / "playwright-core"
SCRIPT = REPO_ROOT / "tests" / "browser" / "cookie_session.mjs"


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The test environment: cookies are Secure, as in production (browsers allow them on loopback).
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('browser-session') / 'session.db'}"
    migrate.upgrade(url)
    app = create_app(Settings(database_url=url, environment="test", secret_key=Secret("b" * 40)))
    with live_server(app) as served:
        yield served


@pytest.mark.browser
def test_a_same_site_spa_keeps_its_session_in_cookies_script_cannot_read(origin: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)")
    if not PLAYWRIGHT_CORE.is_dir():
        pytest.skip(f"{PLAYWRIGHT_CORE.relative_to(REPO_ROOT)} is missing: run `npm ci` in playground/")
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, str(SCRIPT), "--origin", origin, "--chromium", str(CHROMIUM)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    for value in seen.values():  # each exchange's `extensions.cost` is checked, then set aside
        if isinstance(value, dict) and isinstance(value.get("body"), dict):
            take_cost(value["body"])
    # signed in without a token in the body; script sees sf_csrf, never sf_session
    assert seen["login"] == {
        "status": 200,
        "body": {"data": {"customerLogin": {"accessToken": None, "refreshToken": None, "errors": []}}},
    }
    assert "sf_csrf=" in seen["scriptCookies"] and "sf_session" not in seen["scriptCookies"]
    # the browser sent the cookie by itself
    assert seen["viewer"]["body"] == {"data": {"viewer": {"email": seen["email"]}}}
    # a mutation without the header is refused and changes nothing; with it, it runs
    assert seen["withoutHeader"]["status"] == 403
    assert seen["withoutHeader"]["body"]["errors"][0]["extensions"]["code"] == "CSRF_REJECTED"
    assert seen["stillIn"]["body"] == {"data": {"viewer": {"email": seen["email"]}}}
    assert seen["withHeader"]["body"] == {"data": {"customerLogout": {"errors": []}}}
    assert seen["after"]["body"] == {"data": {"viewer": None}}
    assert "sf_csrf" not in seen["cookiesAfter"]
