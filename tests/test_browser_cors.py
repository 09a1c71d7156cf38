"""The CORS allow-list in headless Chromium, as an SPA on another origin sees it: a page of a listed origin
(another port of 127.0.0.1) may POST JSON with credentials and read the answer; a page of an unlisted origin
has its preflight refused, so the browser never sends the POST, and cannot read the answer to a simple GET."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.asgi import create_app
from app.db import migrate
from app.settings import Secret, Settings
from tests.conftest import take_cost
from tests.support.live import live_server

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_CORE = REPO_ROOT / "playground" / "node_modules" / "playwright-core"
SCRIPT = REPO_ROOT / "tests" / "browser" / "cors_origins.mjs"

# `{ __typename }` costs nothing but every request takes at least a point (the bucket refills 1,000 a second,
# so the page's one request may find the point back already)
THROTTLE_STATUS = {"maximumAvailable": 20000, "restoreRate": 1000}
# (method, path, status, access-control-allow-origin) of one request, as the API answered it
Seen = tuple[str, str, int, str | None]


@dataclass
class Recorder:
    """An ASGI wrapper recording, per Origin header, each HTTP request that reaches the app and its answer."""

    app: ASGIApp
    seen: dict[str | None, list[Seen]] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                allowed = Headers(raw=message["headers"]).get("access-control-allow-origin")
                self.seen.setdefault(origin, []).append((scope["method"], scope["path"], message["status"], allowed))
            await send(message)

        await self.app(scope, receive, recording)


def _page() -> Starlette:
    """A blank page to run a script from: its origin is the server's."""
    return Starlette(routes=[Route("/", lambda _: HTMLResponse("<!doctype html><title>spa</title>"))])


@dataclass(frozen=True)
class Served:
    api: str
    listed: str
    unlisted: str
    recorder: Recorder


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('browser-cors') / 'cors.db'}"
    migrate.upgrade(url)
    with ExitStack() as stack:
        # the pages first: the listed origin must be known when the API's settings are made
        listed = stack.enter_context(live_server(_page()))
        unlisted = stack.enter_context(live_server(_page()))
        settings = Settings(database_url=url, environment="test", secret_key=Secret("d" * 40), cors_origins=(listed,))
        recorder = Recorder(create_app(settings))
        api = stack.enter_context(live_server(recorder))
        yield Served(api=api, listed=listed, unlisted=unlisted, recorder=recorder)


def _run_browser(served: Served) -> dict:
    node = shutil.which("node") or "node"
    origins = ["--api", served.api, "--listed", served.listed, "--unlisted", served.unlisted]
    done = subprocess.run(
        [node, str(SCRIPT), *origins, "--chromium", str(CHROMIUM)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.browser
def test_only_a_listed_origins_page_may_call_the_api_and_read_its_answers(served: Served) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)")
    if not PLAYWRIGHT_CORE.is_dir():
        pytest.skip(f"{PLAYWRIGHT_CORE.relative_to(REPO_ROOT)} is missing: run `npm ci` in playground/")
    seen = _run_browser(served)
    # the listed page's preflighted, credentialed POST went through and its script read the answer
    listed = seen["listedPost"]
    cost = take_cost(listed["body"])
    remaining = listed.pop("remaining")
    assert listed == {"threw": None, "status": 200, "body": {"data": {"__typename": "Query"}}}
    assert remaining == "19999"  # the rate-limit headers are exposed to the listed origin
    assert cost is not None and cost.pop("throttleStatus").items() >= THROTTLE_STATUS.items()
    assert cost == {"requestedQueryCost": 0, "actualQueryCost": 0}
    # the unlisted page's POST was blocked, and the answer to its simple GET withheld from its script
    assert seen["unlistedPost"] == {"threw": "TypeError", "message": "Failed to fetch"}
    assert seen["unlistedGet"] == {"threw": "TypeError", "message": "Failed to fetch"}
    # at the server: the unlisted origin's preflight was refused without CORS headers and its POST never
    # arrived; its GET (no preflight) did arrive and was answered, only without CORS headers
    assert served.recorder.seen == {
        served.listed: [("OPTIONS", "/graphql", 200, served.listed), ("POST", "/graphql", 200, served.listed)],
        served.unlisted: [("OPTIONS", "/graphql", 400, None), ("GET", "/graphql", 200, None)],
    }
