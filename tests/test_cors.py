"""CORS from the CORS_ORIGINS allow-list: a listed origin's preflight is answered and its requests may carry
credentials (the origin echoed, never `*`); any other origin gets no CORS answer. The same list decides which
origins may open a WebSocket or an event stream outside development."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from app.asgi import create_app
from app.db import migrate
from app.settings import Secret, Settings, SettingsError, load_settings
from tests.support.live import live_server
from tests.support.subscriptions import initialised, socket_to

SPA = "http://localhost:5173"
STRANGER = "http://evil.example"
QUERY = {"query": "{ __typename }"}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cors') / 'cors.db'}"
    migrate.upgrade(url)
    return url


def _settings(database: str, origins: tuple[str, ...] = (SPA,)) -> Settings:
    return Settings(database_url=database, environment="test", secret_key=Secret("c" * 40), cors_origins=origins)


@pytest.fixture
async def client(database: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(database))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client,
    ):
        yield client


def _preflight(origin: str, headers: str = "content-type, authorization") -> dict[str, str]:
    return {"origin": origin, "access-control-request-method": "POST", "access-control-request-headers": headers}


async def test_a_listed_origins_preflight_is_answered_with_credentials(client):
    response = await client.options("/graphql", headers=_preflight(SPA, "content-type, authorization, x-csrf-token"))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = {header.strip() for header in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization", "x-csrf-token"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_another_origins_preflight_is_refused_and_gets_no_cors_headers(client):
    response = await client.options("/graphql", headers=_preflight(STRANGER))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_listed_origins_request_gets_its_origin_back_and_another_gets_none(client):
    listed = await client.post("/graphql", json=QUERY, headers={"origin": SPA})
    assert (listed.status_code, listed.headers["access-control-allow-origin"]) == (200, SPA)
    assert listed.headers["access-control-allow-credentials"] == "true"
    assert "origin" in listed.headers["vary"].lower()
    assert "x-request-id" in listed.headers["access-control-expose-headers"].lower()
    stranger = await client.post("/graphql", json=QUERY, headers={"origin": STRANGER})
    assert "access-control-allow-origin" not in stranger.headers


async def test_without_a_list_there_is_no_cross_origin_access(database):
    app = create_app(_settings(database, origins=()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        response = await client.options("/graphql", headers=_preflight(SPA))
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "value", ["*", "http://localhost:5173/app", "localhost:5173", "ftp://files.example", "http://"]
)
def test_cors_origins_must_be_exact_origins(value):
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        load_settings({"CORS_ORIGINS": value})


def test_cors_origins_is_a_comma_separated_list():
    settings = load_settings({"CORS_ORIGINS": "http://localhost:5173, https://shop.example/"})
    assert settings.cors_origins == ("http://localhost:5173", "https://shop.example")


@pytest.fixture
def served(database: str) -> Iterator[str]:
    with live_server(create_app(_settings(database)), ws="auto") as origin:
        yield origin.replace("http://", "ws://") + "/graphql"


async def test_outside_development_a_websocket_may_come_from_a_listed_origin_only(served):
    async with socket_to(served, origin=Origin(SPA)) as websocket:
        await initialised(websocket)
    with pytest.raises(InvalidStatus) as refused:
        async with socket_to(served, origin=Origin(STRANGER)):
            pass
    assert refused.value.response.status_code == 403


async def test_outside_development_an_event_stream_may_come_from_a_listed_origin_only(client):
    headers = {"accept": "text/event-stream"}
    listed = await client.post("/graphql", json=QUERY, headers={**headers, "origin": SPA})
    assert (listed.status_code, listed.headers["content-type"].split(";")[0]) == (200, "text/event-stream")
    assert "event: complete" in listed.text
    stranger = await client.post("/graphql", json=QUERY, headers={**headers, "origin": STRANGER})
    assert stranger.status_code == 403
