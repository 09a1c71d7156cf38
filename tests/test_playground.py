"""GraphiQL served by the app itself: the page, its assets and a real browser run.

The unit tests need no browser. The ``browser`` test runs the page in headless
Chromium through ``tests/browser/graphiql_smoke.mjs``; it needs
``/usr/bin/chromium`` (Debian's ``chromium`` package) and
``playground/node_modules`` (``npm ci`` in playground/), plus the built assets
(``node playground/build.mjs``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.types import ASGIApp

from app.asgi import create_app
from app.catalog.seed import seed_catalog
from app.db import migrate
from app.graphql import playground
from app.graphql.playground import (
    ASSET_PREFIX,
    CONTENT_SECURITY_POLICY,
    PLAYGROUND_DIR,
    graphiql_html,
    playground_available,
    playground_response,
    playground_routes,
)
from app.settings import Settings
from tests.support.live import live_server as serve_live

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_CORE = REPO_ROOT / "playground" / "node_modules" / "playwright-core"
SMOKE_SCRIPT = REPO_ROOT / "tests" / "browser" / "graphiql_smoke.mjs"
SCREENSHOT = Path(os.environ.get("GRAPHIQL_SCREENSHOT", REPO_ROOT / "var" / "test-artifacts" / "graphiql_smoke.png"))

# What the browser test runs and expects to see in GraphiQL's result pane. It
# holds for any schema whose root query type is called Query, so it stays
# valid when `playground_app` is switched to the real app.
SMOKE_QUERY = "{ products(first: 1) { nodes { title } } }"
SMOKE_EXPECT = '"title": "'

EXPECTED_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".txt": "text/plain",
}


# --------------------------------------------------------------------------- helpers


class _AssetRefs(HTMLParser):
    """Collects src/href values and the bodies of <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.script_srcs: list[str | None] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if tag == "script":
            self.script_srcs.append(values.get("src"))
            self.script_bodies.append("")
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_bodies[-1] += data


def _parse(page: str) -> _AssetRefs:
    parser = _AssetRefs()
    parser.feed(page)
    parser.close()
    return parser


def _assets_client(*, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    app = Starlette(routes=playground_routes())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _fake_build(folder: Path) -> None:
    """A minimal stand-in for playground/build.mjs output, for tests that need no npm."""
    folder.mkdir(parents=True)
    files = []
    for name in playground.REQUIRED_ASSETS:
        if name == playground.MANIFEST_NAME:
            continue
        data = f"/* {name} */\n".encode()
        (folder / name).write_bytes(data)
        files.append({"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"packages": {}, "files": files}
    (folder / playground.MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")


def _built_manifest() -> dict:
    if not playground_available():
        pytest.skip("GraphiQL assets are not built: run `cd playground && npm ci && node build.mjs`")
    return json.loads((PLAYGROUND_DIR / "manifest.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the page


def test_page_loads_only_same_origin_assets() -> None:
    page = graphiql_html()
    refs = _parse(page)

    assert refs.urls, "the page references no assets"
    for url in refs.urls:
        assert "http://" not in url and "https://" not in url and not url.startswith("//"), url
    assets = [u for u in refs.urls if not u.startswith("data:")]
    assert assets and all(u.startswith(ASSET_PREFIX + "/") for u in assets), assets

    names = [u.removeprefix(ASSET_PREFIX + "/").split("?")[0] for u in assets]
    for name in ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js"):
        assert name in names
    assert "graphiql.min.css" in names
    # React and ReactDOM must load before GraphiQL's UMD bundle, the bootstrap last.
    srcs = [s.removeprefix(ASSET_PREFIX + "/").split("?")[0] for s in refs.script_srcs if s]
    assert srcs == [
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "bootstrap.js",
    ]


def test_page_has_no_inline_script_and_carries_its_settings() -> None:
    page = graphiql_html("/graphql", "/graphql/assets")
    refs = _parse(page)

    assert all(refs.script_srcs), "every <script> must have a src (CSP: script-src 'self')"
    assert all(not body.strip() for body in refs.script_bodies)
    assert 'data-endpoint="/graphql"' in page
    assert "products(first: 5)" in page
    assert "minVariantPrice" in page


def test_page_escapes_its_arguments() -> None:
    page = graphiql_html('/x"><script>alert(1)</script>', '/a"b')
    assert "<script>alert(1)</script>" not in page
    assert "&quot;&gt;&lt;script&gt;" in page
    assert 'src="/a"b' not in page


def test_asset_prefix_is_honoured() -> None:
    refs = _parse(graphiql_html(asset_prefix="/static/gql/"))
    assets = [u for u in refs.urls if not u.startswith("data:")]
    assert all(u.startswith("/static/gql/") and "//" not in u for u in assets), assets


def test_response_sets_csp_and_no_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(playground, "PLAYGROUND_DIR", tmp_path / "graphiql")
    _fake_build(tmp_path / "graphiql")

    response = playground_response()

    assert response.status_code == 200
    assert response.media_type == "text/html"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # falls back to default-src 'self'
    assert response.headers["cache-control"] == "no-cache"
    body = bytes(response.body).decode()
    assert 'id="graphiql"' in body
    # URLs carry the content hash from the manifest, so they can be cached for long.
    assert "/graphql/assets/graphiql.min.js?v=" in body


def test_response_without_built_assets_says_how_to_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(playground, "PLAYGROUND_DIR", tmp_path / "missing")

    assert not playground_available()
    response = playground_response()

    assert response.status_code == 200
    body = bytes(response.body).decode()
    assert "GraphiQL assets are not built; run `make install`" in body
    assert "<script" not in body


# --------------------------------------------------------------------------- the assets


async def test_routes_serve_a_build_with_cache_headers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(playground, "PLAYGROUND_DIR", tmp_path / "graphiql")
    _fake_build(tmp_path / "graphiql")

    async with _assets_client() as client:
        plain = await client.get("/graphql/assets/bootstrap.js")
        versioned = await client.get("/graphql/assets/bootstrap.js?v=abc")
        revalidated = await client.get("/graphql/assets/bootstrap.js", headers={"If-None-Match": plain.headers["etag"]})
        missing = await client.get("/graphql/assets/nope.js")
        escape = await client.get("/graphql/assets/%2E%2E/playground.py")

    assert plain.status_code == 200
    assert plain.text == "/* bootstrap.js */\n"
    assert plain.headers["cache-control"] == "no-cache"
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert revalidated.status_code == 304
    assert missing.status_code == 404
    assert escape.status_code == 404


async def test_routes_answer_404_not_500_when_not_built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(playground, "PLAYGROUND_DIR", tmp_path / "missing")

    async with _assets_client(raise_app_exceptions=False) as client:
        response = await client.get("/graphql/assets/graphiql.min.js")

    assert response.status_code == 404


async def test_routes_serve_every_built_file_with_its_content_type() -> None:
    manifest = _built_manifest()
    assert set(manifest["packages"]) >= {"graphiql", "react", "react-dom"}
    assert manifest["packages"]["react"].startswith("18.")
    assert manifest["packages"]["graphiql"].startswith("3.")

    async with _assets_client() as client:
        for entry in [*manifest["files"], {"name": "manifest.json"}]:
            name = entry["name"]
            response = await client.get(f"{ASSET_PREFIX}/{name}")
            assert response.status_code == 200, name
            expected = EXPECTED_TYPES[Path(name).suffix]
            assert response.headers["content-type"].split(";")[0] == expected, name
            if "sha256" in entry:
                assert len(response.content) == entry["bytes"], name
                assert hashlib.sha256(response.content).hexdigest() == entry["sha256"], name


def test_built_page_references_only_built_files() -> None:
    manifest = _built_manifest()
    built = {f["name"] for f in manifest["files"]}
    refs = _parse(graphiql_html())
    names = {u.removeprefix(ASSET_PREFIX + "/").split("?")[0] for u in refs.urls if u.startswith(ASSET_PREFIX)}
    assert names <= built, names - built


# --------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def playground_app(tmp_path_factory: pytest.TempPathFactory) -> ASGIApp:
    """The real app, in development mode, on a small seeded SQLite catalog."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('playground') / 'demo.db'}"
    migrate.upgrade(url)

    async def seed() -> None:
        engine = create_async_engine(url)
        try:
            await seed_catalog(engine, products=5, seed=11)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return create_app(Settings(database_url=url, environment="development"))


@pytest.fixture
def live_server(playground_app: ASGIApp) -> Iterator[str]:
    """Serves `playground_app` with uvicorn on a free 127.0.0.1 port, in a thread."""
    with serve_live(playground_app, ws="auto") as origin:
        yield origin


def _smoke_command(live_server: str, query: str, expect: str) -> list[str]:
    """The browser smoke script's command line for one query and the text its result must show."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)")
    if not PLAYWRIGHT_CORE.is_dir():
        pytest.skip(f"{PLAYWRIGHT_CORE.relative_to(REPO_ROOT)} is missing: run `npm ci` in playground/")
    assert playground_available(), "GraphiQL assets are not built: run `node playground/build.mjs`"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    node = shutil.which("node") or "node"
    return [
        node,
        str(SMOKE_SCRIPT),
        "--url",
        f"{live_server}/graphql",
        "--query",
        query,
        "--expect",
        expect,
        "--screenshot",
        str(SCREENSHOT),
        "--chromium",
        str(CHROMIUM),
    ]


@pytest.mark.browser
def test_graphiql_runs_a_query_in_headless_chromium(live_server: str) -> None:
    command = _smoke_command(live_server, SMOKE_QUERY, SMOKE_EXPECT)
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)

    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    assert "graphiql_smoke: OK" in result.stdout, output
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 0


@pytest.mark.browser
def test_graphiql_runs_a_subscription_in_headless_chromium(live_server: str, playground_app: Any) -> None:
    # given: a guest cart, followed from GraphiQL over its WebSocket
    with httpx.Client(base_url=live_server, timeout=10) as client:
        variant = client.post("/graphql", json={"query": "{ products(first: 1) { nodes { variants { id } } } }"})
        variant_id = variant.json()["data"]["products"]["nodes"][0]["variants"][0]["id"]
        add = {"lines": [{"merchandiseId": variant_id, "quantity": 1}]}
        made = client.post("/graphql", json={"query": CART_CREATE, "variables": add})
        cart_id = made.json()["data"]["cartCreate"]["cart"]["id"]
        query = f'subscription {{ cartChanged(cartId: "{cart_id}") {{ totalQuantity }} }}'
        browser = subprocess.Popen(
            _smoke_command(live_server, query, '"totalQuantity": 3'),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # when: the subscription is established, another device adds to the cart
            deadline = time.monotonic() + 60
            while playground_app.state.live.subscription_count == 0:
                assert browser.poll() is None and time.monotonic() < deadline, browser.communicate()
                time.sleep(0.05)
            added = client.post(
                "/graphql", json={"query": CART_ADD, "variables": {"cart": cart_id, "variant": variant_id}}
            )
            assert added.json()["data"]["cartLinesAdd"]["errors"] == []
            stdout, stderr = browser.communicate(timeout=120)
        finally:
            if browser.poll() is None:
                browser.kill()
    # then: GraphiQL shows the event in its result pane
    output = f"stdout:\n{stdout}\nstderr:\n{stderr}"
    assert browser.returncode == 0, output
    assert "graphiql_smoke: OK" in stdout, output


CART_CREATE = """mutation($lines: [CartLineInput!]!) { cartCreate(input: { lines: $lines }) { cart { id } } }"""
CART_ADD = """mutation($cart: ID!, $variant: ID!) {
  cartLinesAdd(cartId: $cart, lines: [{ merchandiseId: $variant, quantity: 2 }]) { errors { code } } }"""
