"""A query or mutation that outlives REQUEST_TIMEOUT is stopped: 504 with TIMEOUT, its work cancelled, its
transaction rolled back, its connection back in the pool; PostgreSQL's statement_timeout is the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import strawberry
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.catalog.models import ProductVariant
from app.graphql.pipeline import GraphQLParams, Outcome, Pipeline
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import running
from tests.test_accounts import _rows
from tests.test_checkout import _fresh_variants, _staff

ADJUST = """mutation($id: ID!) { inventoryAdjust(variantId: $id, delta: 5) { errors { code } } }"""


def _slow_schema(stopped: asyncio.Event) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field(description="Takes a minute.")
        async def slow(self) -> int:
            try:
                await asyncio.sleep(60)
            finally:
                stopped.set()
            return 1

    return strawberry.Schema(query=Query)


class _NoContext:
    async def __aenter__(self) -> object:
        return object()

    async def __aexit__(self, *_exc: object) -> None:
        return None


@pytest.mark.parametrize("executor", ["planned", "reference"])
async def test_a_request_past_its_deadline_is_stopped_with_timeout(executor):
    stopped = asyncio.Event()
    pipeline = Pipeline(_slow_schema(stopped), lambda _request, _viewer: _NoContext(), executor=executor, timeout=0.2)
    result = await asyncio.wait_for(pipeline.run(GraphQLParams("{ slow }")), 5)
    assert result.outcome is Outcome.TIMEOUT
    assert result.payload() == {
        "errors": [{"message": "The request took longer than 0.2 s and was stopped", "extensions": {"code": "TIMEOUT"}}]
    }
    assert stopped.is_set(), "the resolver was cancelled"


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with seeded_database(backend, tmp_path_factory.mktemp(f"deadlines-{backend}"), products=3, seed=5) as url:
        yield url


async def test_a_mutation_waiting_past_the_deadline_is_rolled_back_and_its_connection_returned(shop_url, backend):
    # given: an app with a one-second deadline, and a variant locked by another connection
    settings = replace(settings_for(shop_url, secret_key=Secret("d" * 40)), request_timeout_seconds=1.0)
    async with running(settings) as started:
        client = started.client()
        staff = await _staff(client, shop_url)
        [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
        blocker = create_async_engine(shop_url)
        try:
            async with blocker.connect() as connection:
                if backend == "sqlite":
                    await connection.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    await connection.execute(text("BEGIN"))
                    await connection.execute(select(ProductVariant.id).where(ProductVariant.id == pk).with_for_update())
                # when: a staff stock change waits on it
                response = await client.post(ADJUST, {"id": variant}, headers=staff)
                await connection.rollback()
        finally:
            await blocker.dispose()
        # then: 504 TIMEOUT, nothing changed, the connection back in the pool, and the app still answers
        assert response.status_code == 504, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
        assert (await _rows(shop_url, select(ProductVariant.stock_quantity).where(ProductVariant.id == pk)))[0][0] == 10
        assert started.app.state.engine.pool.checkedout() == 0
        again = await client.gql(ADJUST, {"id": variant}, headers=staff)
        assert again["data"]["inventoryAdjust"]["errors"] == []
        await client.aclose()


async def test_postgresql_stops_any_statement_at_the_deadline(shop_url, backend):
    if backend != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    settings = replace(settings_for(shop_url, secret_key=Secret("d" * 40)), request_timeout_seconds=3.0)
    async with running(settings) as started, started.app.state.engine.connect() as connection:
        assert (await connection.execute(text("SHOW statement_timeout"))).scalar_one() == "3s"


async def test_a_query_sent_over_a_streaming_transport_has_the_same_deadline():
    # a WebSocket or an event stream runs a query through `subscribe`: it is stopped the same way
    stopped = asyncio.Event()
    pipeline = Pipeline(_slow_schema(stopped), lambda _request, _viewer: _NoContext(), timeout=0.2)
    results = await asyncio.wait_for(_all(pipeline.subscribe(GraphQLParams("{ slow }"))), 5)
    assert [result.outcome for result in results] == [Outcome.TIMEOUT]
    assert results[0].payload()["errors"][0]["extensions"] == {"code": "TIMEOUT"}
    assert stopped.is_set(), "the resolver was cancelled"


_TICK_CANCELLED: list[asyncio.Event] = []  # the running test's: set when the slow tick's resolver is cancelled


@strawberry.type(description="A tick of the slow subscription.")
class Tick:
    number: int = strawberry.field(description="Which tick.")

    @strawberry.field(description="Slow for the first tick only.")
    async def detail(self) -> int:
        if self.number == 1:
            try:
                await asyncio.sleep(60)
            finally:
                _TICK_CANCELLED[-1].set()
        return self.number * 10


@strawberry.type
class TickSubscription:
    @strawberry.subscription(description="Two ticks.")
    async def ticks(self) -> AsyncIterator[Tick]:
        for number in (1, 2):
            yield Tick(number=number)


@strawberry.type
class TickQuery:
    hello: str = strawberry.field(default="hi", description="Hello.")


def _slow_events_schema(stopped: asyncio.Event) -> strawberry.Schema:
    _TICK_CANCELLED.append(stopped)
    return strawberry.Schema(query=TickQuery, subscription=TickSubscription)


async def test_an_event_past_the_deadline_is_skipped_and_the_subscription_goes_on():
    stopped = asyncio.Event()
    pipeline = Pipeline(_slow_events_schema(stopped), lambda _request, _viewer: _NoContext(), timeout=0.2)
    stream = pipeline.subscribe(GraphQLParams("subscription { ticks { number detail } }"))
    results = await asyncio.wait_for(_all(stream), 5)
    assert [result.payload() for result in results] == [
        {
            "data": None,
            "errors": [
                {
                    "message": "The event took longer than 0.2 s to deliver and was skipped",
                    "extensions": {"code": "TIMEOUT"},
                }
            ],
        },
        {"data": {"ticks": {"number": 2, "detail": 20}}},
    ]
    assert stopped.is_set(), "the first event's resolver was cancelled"


async def _all(stream: AsyncIterator) -> list:
    return [result async for result in stream]
