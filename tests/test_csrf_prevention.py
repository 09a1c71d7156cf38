"""CSRF prevention, the rule Apollo Server and Yoga apply: a request carrying the session cookie that a
browser could send cross-site without a preflight (GET, or POST with a simple content type) needs a header
only script can set; without the cookie nothing changes (plain GETs stay cacheable)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import Client, new_email, running, sign_in, sign_up

QUERY = "{ viewer { email } }"


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with seeded_database(backend, tmp_path_factory.mktemp(f"csrf-{backend}"), products=2, seed=7) as url:
        yield url


@pytest.fixture
async def session(shop_url: str) -> AsyncIterator[tuple[Client, str]]:
    """A browser-like client signed in with the session cookie, and its email."""
    async with running(settings_for(shop_url, secret_key=Secret("x" * 40))) as started:
        client = started.client()
        email = new_email()
        await sign_up(client, email)
        await sign_in(client, email, cookie=True)
        assert "sf_session" in client.cookies
        yield client, email
        await client.aclose()


def _cookie(client: Client) -> dict[str, str]:
    return {"cookie": "; ".join(f"{name}={value}" for name, value in client.cookies.items())}


@pytest.mark.parametrize("header", [None, "x-apollo-operation-name", "apollo-require-preflight", "x-csrf-token"])
async def test_a_get_with_the_cookie_needs_a_preflight_header(session, header):
    client, email = session
    headers = _cookie(client)
    if header is not None:
        headers[header] = client.cookies["sf_csrf"] if header == "x-csrf-token" else "Viewer"
    response = await client.http.get("/graphql", params={"query": QUERY}, headers=headers)
    if header is None:
        assert response.status_code == 403
        assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_REJECTED"
    else:
        assert response.status_code == 200, response.text
        assert response.json()["data"]["viewer"]["email"] == email


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_a_post_with_a_simple_content_type_and_the_cookie_is_refused(session, content_type):
    client, _ = session
    body = orjson.dumps({"query": QUERY})
    response = await client.http.post(
        "/graphql", content=body, headers={**_cookie(client), "content-type": content_type}
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_REJECTED"


async def test_a_json_post_with_the_cookie_is_preflighted_and_answered(session):
    client, email = session
    assert (await client.gql(QUERY))["data"]["viewer"]["email"] == email


async def test_without_the_cookie_a_plain_get_is_answered(session):
    client, _ = session
    response = await client.http.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
