"""Introspection in production is for staff only by default (INTROSPECTION=on|staff|off), refused with
INTROSPECTION_DISABLED before any SQL; `__typename` is never refused, and fragments do not hide `__schema`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import update

from app.accounts.models import Customer
from app.settings import Secret, Settings
from tests.conftest import seeded_database
from tests.support.accounts import Running, bearer, new_email, running, sign_in, sign_up
from tests.test_accounts import _run

SCHEMA = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Product") { name } }'
HIDDEN = "query { ...Peek } fragment Peek on Query { __schema { queryType { name } } }"


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with seeded_database(backend, tmp_path_factory.mktemp(f"introspection-{backend}"), products=2, seed=3) as url:
        yield url


def _production(url: str, **overrides: str) -> Settings:
    return Settings(database_url=url, environment="production", secret_key=Secret("i" * 40), **overrides)


@pytest.fixture(scope="module", params=["planned", "reference"])
async def production(shop_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    """A production app on each executor: the policy is the pipeline's, before either runs."""
    settings = replace(_production(shop_url), fast_executor=request.param == "planned")
    async with running(settings) as started:
        yield started


async def _staff_headers(started: Running, url: str) -> dict[str, str]:
    client = started.client()
    email = new_email("staff")
    await sign_up(client, email)
    await _run(url, update(Customer.__table__).where(Customer.email == email).values(role="STAFF"))
    headers = bearer((await sign_in(client, email))["accessToken"])
    await client.aclose()
    return headers


@pytest.mark.parametrize("query", [SCHEMA, TYPE, HIDDEN])
async def test_production_refuses_introspection_to_customers_and_guests(production, query):
    client = production.client()
    production.sql.reset()
    response = await client.post(query)
    await client.aclose()
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert production.sql.count == 0


async def test_production_lets_staff_introspect_and_anyone_ask_for_typename(production, shop_url):
    staff = await _staff_headers(production, shop_url)
    client = production.client()
    allowed = await client.gql(SCHEMA, headers=staff)
    assert allowed["data"]["__schema"]["queryType"]["name"] == "Query"
    assert (await client.gql("{ __typename }"))["data"] == {"__typename": "Query"}
    await client.aclose()


@pytest.mark.parametrize(
    ("environment", "mode", "allowed"),
    [
        ("production", "on", True),
        ("production", "off", False),
        ("development", "", True),
        ("test", "staff", False),
    ],
)
async def test_introspection_is_configurable(shop_url, environment, mode, allowed):
    settings = replace(_production(shop_url), environment=environment, introspection=mode)
    async with running(settings) as started:
        client = started.client()
        response = await client.post(SCHEMA)
        await client.aclose()
    assert (response.status_code == 200) == allowed


async def test_a_signed_in_customer_is_no_staff(production):
    client = production.client()
    email = new_email()
    await sign_up(client, email)
    response = await client.post(SCHEMA, headers=bearer((await sign_in(client, email))["accessToken"]))
    await client.aclose()
    assert response.status_code == 403
