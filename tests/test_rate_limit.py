"""Rate limiting: a leaky bucket of cost points per client (a signed-in customer, else the client address,
X-Forwarded-For believed only from TRUSTED_PROXIES), in process or shared by every instance through Redis.

An operation's requested cost is taken before it runs and what its response did not use is given back; a
client whose bucket does not hold the cost gets 429 THROTTLED with `retryAfter`, and is charged nothing.
Responses carry `extensions.cost.throttleStatus`, `X-RateLimit-Limit` and `X-RateLimit-Remaining`, and
`Retry-After` when throttled. With Redis unreachable the buckets carry on in process, never an error."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings, SettingsError, load_settings
from tests.conftest import settings_for, take_cost
from tests.support.accounts import Running, bearer, running, sign_in, sign_up

REDIS_URL = "redis://127.0.0.1:6379/0"
CAPACITY = 500
# requested 1 + totalCount 10 + 50 = 61, and the test catalog's 52 products fill the page: 61 actual too
FULL = "{ products(first: 50) { totalCount nodes { id } } }"
FULL_COST = 61
# requested 1 + 2 x 50 = 101; it returns 1 (no product has this vendor): 100 come back
EMPTY = '{ products(first: 50, filter: { vendor: "nobody at all" }) { nodes { id category { id } } } }'


def _limited(url: str, **overrides: Any) -> Settings:
    """Buckets of 500 points refilled at 1 a second: what a test takes does not come back while it runs."""
    overrides = {"rate_limit_points": CAPACITY, "rate_limit_restore_rate": 1, "max_query_cost": CAPACITY} | overrides
    return settings_for(url, **overrides)


def _client(app: Any, address: str | None = None) -> httpx.AsyncClient:
    """A client of its own address (so its bucket is its own, in process and in Redis alike)."""
    address = address or f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _post(client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=headers or {})


def _remaining(response: httpx.Response) -> int:
    return int(response.headers["x-ratelimit-remaining"])


def _near(value: float, expected: float) -> bool:
    """Within the few points a bucket refills (1 a second) while a test runs."""
    return expected <= value <= expected + 5


async def _run_until_throttled(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    """Send FULL until one is throttled; how many ran."""
    ran = 0
    while (await _post(client, FULL, headers)).status_code == 200:
        ran += 1
        assert ran < 100
    return ran


async def test_each_request_takes_its_cost_and_gets_back_what_it_did_not_use(catalog_url: str) -> None:
    async with running(_limited(catalog_url)) as served, _client(served.app) as client:
        empty = await _post(client, EMPTY)
        full = await _post(client, FULL)
    cost = take_cost(empty.json())
    assert empty.status_code == 200 and empty.headers["x-ratelimit-limit"] == str(CAPACITY)
    # 101 taken, 100 given back: the response held one object
    assert cost is not None and (cost["requestedQueryCost"], cost["actualQueryCost"]) == (101, 1)
    status = cost["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (CAPACITY, 1)
    assert _near(status["currentlyAvailable"], CAPACITY - 1)
    assert _near(_remaining(full), CAPACITY - 1 - FULL_COST)


async def test_a_client_whose_bucket_cannot_hold_the_cost_is_throttled_and_charged_nothing(catalog_url: str) -> None:
    async with running(_limited(catalog_url)) as served, _client(served.app) as client:
        ran = await _run_until_throttled(client)
        refused = await _post(client, FULL)
        cheap = await _post(client, "{ products(first: 1) { nodes { id } } }")  # 2
    assert ran == CAPACITY // FULL_COST  # 8 x 61 = 488: the ninth does not fit in what is left
    assert refused.status_code == 429
    available = _remaining(refused)
    assert _near(available, CAPACITY - ran * FULL_COST)
    wait = FULL_COST - available  # seconds, at 1 point a second
    body = refused.json()
    assert body == {
        "errors": [
            {
                "message": f"Throttled: the query costs 61 points and {available} are available; try again in "
                f"{wait} seconds",
                "extensions": {"code": "THROTTLED", "retryAfter": wait, "cost": FULL_COST},
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": FULL_COST,
                "actualQueryCost": 0,
                "throttleStatus": body["extensions"]["cost"]["throttleStatus"],
            }
        },
    }
    assert refused.headers["retry-after"] == str(wait)
    # the refusal took nothing: a cheap query still runs, from the same bucket
    assert cheap.status_code == 200 and _near(_remaining(cheap), available - 2)


async def test_a_throttled_request_runs_no_sql(catalog_url: str) -> None:
    async with running(_limited(catalog_url)) as served, _client(served.app) as client:
        await _run_until_throttled(client)
        served.sql.reset()
        assert (await _post(client, FULL)).status_code == 429
        assert served.sql.count == 0


async def test_a_signed_in_customer_has_a_bucket_of_their_own(empty_url: str) -> None:
    async with running(_limited(empty_url)) as served:
        account = served.client()
        customer = await sign_up(account)
        token = (await sign_in(account, customer["email"]))["accessToken"]
        address = f"10.9.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
        async with _client(served.app, address) as anonymous, _client(served.app, address) as signed_in:
            # on an empty catalog FULL costs 11 (its count): drain the address's bucket with EMPTY's 1s...
            while (await _post(anonymous, "{ products(first: 1) { totalCount } }")).status_code == 200:
                pass
            mine = await _post(signed_in, "{ products(first: 1) { totalCount } }", bearer(token))
            theirs = await _post(anonymous, "{ products(first: 1) { totalCount } }")
    # ...while the customer's, at the same address, is full
    assert mine.status_code == 200 and _near(_remaining(mine), CAPACITY - 11)
    assert theirs.status_code == 429


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(catalog_url: str) -> None:
    proxy = f"10.8.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    one = {"x-forwarded-for": "203.0.113.5"}
    other = {"x-forwarded-for": "203.0.113.5, 198.51.100.7"}  # the proxy appends whom it was reached from
    async with running(_limited(catalog_url, trusted_proxies=(proxy,))) as served, _client(served.app, proxy) as via:
        await _run_until_throttled(via, one)
        # behind the trusted proxy, another client (the right-most address it forwarded) has its own bucket
        assert (await _post(via, FULL, other)).status_code == 200
        assert (await _post(via, FULL, one)).status_code == 429
    async with running(_limited(catalog_url)) as served, _client(served.app) as direct:
        # trusting no proxy, the header is only the client's own claim: every request is the peer's
        await _run_until_throttled(direct, one)
        assert (await _post(direct, FULL, {"x-forwarded-for": "198.51.100.9"})).status_code == 429
        assert (await _post(direct, FULL, {"x-forwarded-for": "198.51.100.9, 198.51.100.10"})).status_code == 429


def test_settings_check_the_rate_limit() -> None:
    with pytest.raises(SettingsError, match=r"RATE_LIMIT_POINTS \(500\) must be at least MAX_QUERY_COST"):
        load_settings({"RATE_LIMIT_POINTS": "500", "MAX_QUERY_COST": "1000"})
    for proxy in ("proxy.internal", "10.0.0.1/8"):  # a network with host bits set would match nothing
        with pytest.raises(SettingsError, match="TRUSTED_PROXIES holds addresses or networks"):
            load_settings({"TRUSTED_PROXIES": proxy})
    settings = load_settings({"RATE_LIMIT_POINTS": "0", "TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    assert (settings.rate_limit_points, settings.trusted_proxies) == (0, ("10.0.0.0/8", "127.0.0.1"))
    defaults = load_settings({})
    assert (defaults.max_query_cost, defaults.rate_limit_points, defaults.rate_limit_restore_rate) == (
        10_000,
        20_000,
        1_000,
    )


# --- shared through Redis ------------------------------------------------------------------------------------


@asynccontextmanager
async def _instances(url: str, count: int, **overrides: Any) -> AsyncIterator[list[Running]]:
    """`count` apps on one database, each with its own Redis client and buckets: instances, in process."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running(_limited(url, **overrides))) for _ in range(count)]


@pytest.mark.parametrize("redis_url", [REDIS_URL, None], ids=["redis", "in-process"])
async def test_concurrent_requests_on_two_instances_draw_on_one_bucket(catalog_url: str, redis_url: str | None) -> None:
    address = f"10.7.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    async with _instances(catalog_url, 2, redis_url=redis_url) as apps, AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(_client(app.app, address)) for app in apps]
        # 20 at once, 10 on each instance, from one client: its bucket holds 8
        responses = await asyncio.gather(*(_post(clients[i % 2], FULL) for i in range(20)))
    statuses = [response.status_code for response in responses]
    if redis_url is not None:
        assert (statuses.count(200), statuses.count(429)) == (8, 12)
    else:  # without Redis each instance has its own bucket: twice as many run
        assert (statuses.count(200), statuses.count(429)) == (16, 4)


async def test_an_unreachable_redis_falls_back_to_buckets_in_process(
    catalog_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "storefront.buckets")
    unreachable = _limited(catalog_url, redis_url="redis://127.0.0.1:1/0")
    async with running(unreachable) as served, _client(served.app) as client:
        ran = await _run_until_throttled(client)
    assert ran == CAPACITY // FULL_COST  # still limited, in process, and never an error
    warnings = [record.getMessage() for record in caplog.records if record.name == "storefront.buckets"]
    assert warnings == ["Redis is unreachable (ConnectionError); rate limiting with this process's buckets"]


async def test_a_response_nulled_by_an_error_gets_nothing_back(catalog_url: str) -> None:
    # `images(first: 0)` is refused by its resolver once the products are loaded; the non-null positions
    # above it null the whole response: it holds nothing, but its work was done
    query = "{ products(first: 50) { nodes { id images(first: 0) { id } } } }"  # 1 + 50 x (1 + 0) = 51
    async with running(_limited(catalog_url)) as served, _client(served.app) as client:
        response = await _post(client, query)
    body = response.json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["extensions"]["cost"]["actualQueryCost"] == 0
    assert _near(_remaining(response), CAPACITY - 51)


async def test_each_subscription_event_is_charged_and_a_spent_budget_ends_the_subscription() -> None:
    from app.buckets import Bucket, MemoryBuckets
    from app.graphql.budget import CostBudget
    from app.graphql.cost import CostAnalysis
    from app.graphql.pipeline import GraphQLParams, Outcome, Pipeline
    from tests.test_deadlines import _NoContext, _slow_events_schema

    schema = _slow_events_schema(asyncio.Event())
    # the subscription costs 1 (a Tick), and so does each event: a bucket of 2 pays for it and one event
    budget = CostBudget(MemoryBuckets(), Bucket(2, 0.001), lambda _request, _viewer: "one client")
    pipeline = Pipeline(
        schema, lambda _request, _viewer: _NoContext(), cost=CostAnalysis(schema._schema), budget=budget
    )
    results = [result async for result in pipeline.subscribe(GraphQLParams("subscription { ticks { number } }"))]
    assert [result.outcome for result in results] == [Outcome.OK, Outcome.THROTTLED]
    assert results[0].payload() == {"data": {"ticks": {"number": 1}}}
    assert results[1].payload()["errors"][0]["extensions"]["code"] == "THROTTLED"


@pytest.mark.slow
async def test_two_serving_processes_on_one_redis_enforce_one_bucket(backend: str, tmp_path: Path) -> None:
    from tests.conftest import seeded_database
    from tests.support.serving import serving

    # 3 products: `{ products(first: 3) { totalCount nodes { id } } }` costs 14 and returns as much, so a
    # bucket of 500 (refilled a point a second) holds 35 of them and not a 36th
    query = {"query": "{ products(first: 3) { totalCount nodes { id } } }"}
    limits = {
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_POINTS": "500",
        "RATE_LIMIT_RESTORE_RATE": "1",
        "MAX_QUERY_COST": "500",
    }
    async with (
        seeded_database(backend, tmp_path, products=3, seed=5) as url,  # a database, so a namespace, of its own
        serving(url, tmp_path / "first.log", **limits) as first,
        serving(url, tmp_path / "second.log", **limits) as second,
        httpx.AsyncClient(base_url=first.origin) as one,
        httpx.AsyncClient(base_url=second.origin) as other,
    ):
        # 40 at once from one client address (127.0.0.1), 20 on each process
        responses = await asyncio.gather(*((one, other)[i % 2].post("/graphql", json=query) for i in range(40)))
    statuses = [response.status_code for response in responses]
    assert (statuses.count(200), statuses.count(429)) == (35, 5)
    served_by = {response.url.port for response in responses if response.status_code == 200}
    assert len(served_by) == 2, "both processes answered, from the one bucket"
