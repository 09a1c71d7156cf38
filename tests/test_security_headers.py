"""Every HTTP response carries the security headers (HSTS outside development), the playground keeps its own
Content-Security-Policy, and large responses are compressed for clients that accept gzip, event streams never."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.asgi import create_app
from app.graphql.playground import CONTENT_SECURITY_POLICY
from app.settings import Secret, Settings

LISTING = {"query": "{ products(first: 50) { nodes { id title description } } }"}


@pytest.fixture(params=["test", "development"])
async def client(request: pytest.FixtureRequest, catalog_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=catalog_url, environment=request.param, secret_key=Secret("h" * 40))
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as started,
    ):
        started.environment = request.param  # type: ignore[attr-defined]
        yield started


@pytest.mark.parametrize("path", ["/healthz", "/graphql?query={__typename}", "/metrics", "/no-such-page"])
async def test_every_response_carries_the_security_headers(client, path):
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    hsts = response.headers.get("strict-transport-security")
    assert hsts == (None if client.environment == "development" else "max-age=31536000; includeSubDomains")


async def test_the_playground_keeps_its_content_security_policy(client):
    if client.environment != "development":
        pytest.skip("the playground is served in development only")
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"


async def test_large_responses_are_gzipped_for_clients_that_accept_it(client):
    compressed = await client.post("/graphql", json=LISTING, headers={"accept-encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.json()["data"]["products"]["nodes"]  # httpx decodes it
    plain = await client.post("/graphql", json=LISTING, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    small = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers


async def test_event_streams_are_never_compressed(client):
    headers = {"accept": "text/event-stream", "accept-encoding": "gzip"}
    response = await client.post("/graphql", json=LISTING, headers=headers)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize("environment", ["production", "development"])
async def test_field_and_value_suggestions_are_given_outside_production_only(catalog_url, environment):
    settings = Settings(database_url=catalog_url, environment=environment, secret_key=Secret("h" * 40))
    app = create_app(settings)
    typo = {"query": "{ prodcts(first: 1) { nodes { id } } }"}
    bad_value = {
        "query": "query($sort: ProductSortKeys!) { products(first: 1, sortKey: $sort) { nodes { id } } }",
        "variables": {"sort": "PRICEE"},
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        messages = [
            (await client.post("/graphql", json=body)).json()["errors"][0]["message"] for body in (typo, bad_value)
        ]
    suggested = ["Did you mean" in message for message in messages]
    assert suggested == ([False, False] if environment == "production" else [True, True]), messages
