"""One request, one connection: sibling resolvers run concurrently but never share it at the same time."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import database as db
from app.db.database import RequestDatabase
from tests.conftest import POSTGRES_ADMIN_URL, serve, settings_for

SIBLINGS = """
{
  a: products(first: 20, sortKey: PRICE) { nodes { title variants { sku } category { name } } }
  b: products(first: 20, sortKey: TITLE) { nodes { title rating { count } images(first: 2) { altText } } }
  c: products(first: 20, sortKey: BEST_RATED) { nodes { reviews(first: 2) { nodes { rating } } } }
  d: categories(first: 30) { nodes { children { name } products(first: 2) { totalCount } } }
}
"""

ALONE = {
    "a": "{ a: products(first: 20, sortKey: PRICE) { nodes { title variants { sku } category { name } } } }",
    "b": "{ b: products(first: 20, sortKey: TITLE) { nodes { title rating { count } images(first: 2) { altText } } } }",
    "c": "{ c: products(first: 20, sortKey: BEST_RATED) { nodes { reviews(first: 2) { nodes { rating } } } } }",
    "d": "{ d: categories(first: 30) { nodes { children { name } products(first: 2) { totalCount } } } }",
}


class _Overlap:
    """Records how many statements were in flight at once on each DBAPI connection."""

    def __init__(self) -> None:
        self.in_flight: dict[int, int] = {}
        self.worst = 0
        self.connections: set[int] = set()

    def before(self, conn, *_args) -> None:
        key = id(conn.connection.dbapi_connection)
        self.connections.add(key)
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.worst = max(self.worst, self.in_flight[key])

    def after(self, conn, *_args) -> None:
        self.in_flight[id(conn.connection.dbapi_connection)] -= 1


async def test_sibling_loaders_share_one_connection_one_statement_at_a_time(api):
    # given
    overlap = _Overlap()
    event.listen(api.engine.sync_engine, "before_cursor_execute", overlap.before)
    event.listen(api.engine.sync_engine, "after_cursor_execute", overlap.after)
    try:
        # when
        together = await api.query(SIBLINGS)
    finally:
        event.remove(api.engine.sync_engine, "before_cursor_execute", overlap.before)
        event.remove(api.engine.sync_engine, "after_cursor_execute", overlap.after)
    # then
    assert (overlap.worst, len(overlap.connections)) == (1, 1)
    for alias, query in ALONE.items():
        assert together["data"][alias] == (await api.query(query))["data"][alias]


async def test_concurrent_requests_each_get_their_own_answer(api):
    # given: 12 requests in flight at once, each asking something different
    queries = [f'{{ product(slug: "{slug}") {{ slug variants {{ sku }} }} }}' for slug in await _slugs(api, 12)]
    # when
    results = await asyncio.gather(*(api.query(query) for query in queries))
    # then
    for query, result in zip(queries, results, strict=True):
        assert result == await api.query(query)
        assert result["data"]["product"]["slug"] in query


async def test_request_database_serialises_concurrent_statements(api):
    # given: one request handle and 20 statements started at once
    database = RequestDatabase(api.engine)
    overlap = _Overlap()
    event.listen(api.engine.sync_engine, "before_cursor_execute", overlap.before)
    event.listen(api.engine.sync_engine, "after_cursor_execute", overlap.after)
    try:
        # when
        rows = await asyncio.gather(*(database.fetch_all(text(f"SELECT {n}")) for n in range(20)))
    finally:
        await database.close()
        event.remove(api.engine.sync_engine, "before_cursor_execute", overlap.before)
        event.remove(api.engine.sync_engine, "after_cursor_execute", overlap.after)
    # then
    assert [r[0][0] for r in rows] == list(range(20))
    assert (overlap.worst, len(overlap.connections)) == (1, 1)


async def _slugs(api, count):
    result = await api.query(f"{{ products(first: {count}) {{ nodes {{ slug }} }} }}")
    return [node["slug"] for node in result["data"]["products"]["nodes"]]


async def test_a_pool_timeout_is_a_clear_error_on_both_executors(catalog_url, backend, executor):
    # given: a pool of one connection, held by someone else, and a short pool timeout
    if backend != "postgresql":
        pytest.skip("the SQLite engine does not use the sized pool")
    settings = replace(
        settings_for(catalog_url, fast_executor=executor == "fast"),
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout=0.3,
    )
    async with serve(settings) as api:
        holder = RequestDatabase(api.engine)
        await holder.fetch_all(text("SELECT 1"))
        try:
            # when
            response = await api.client.post("/graphql", json={"query": "{ products(first: 1) { nodes { id } } }"})
        finally:
            await holder.close()
        # then: the view's answer for an unreachable database, not a 500 or a cancelled request
        assert response.status_code == 503
        assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        # and the app recovers once a connection is free
        assert (await api.query("{ products(first: 1) { nodes { id } } }"))["data"]["products"]["nodes"]


async def _terminate_backends(url: str) -> None:
    """Kill every server process serving the app's database, as a database restart would."""
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": url.rsplit("/", 1)[1]},
            )
    finally:
        await admin.dispose()


@pytest.mark.parametrize("idle_seconds", [0.0, 3600.0])
async def test_a_pooled_connection_that_died_while_idle_is_replaced_after_a_ping(
    catalog_url, backend, monkeypatch, idle_seconds
):
    # given: an app whose pooled connection was killed while it sat idle
    if backend != "postgresql":
        pytest.skip("SQLite connections cannot be killed from outside")
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", idle_seconds)
    query = "{ products(first: 1) { nodes { id } } }"
    async with serve(settings_for(catalog_url)) as api:
        assert (await api.query(query))["data"]["products"]["nodes"]
        await _terminate_backends(catalog_url)
        # when
        response = await api.client.post("/graphql", json={"query": query})
        # then: past the idle limit the dead connection fails its ping and is replaced unseen; within it, the
        # request gets the clear 503 (no ping, by design) and the next one a fresh connection
        if idle_seconds == 0.0:
            assert response.status_code == 200 and "errors" not in response.json()
        else:
            assert response.status_code == 503
        assert (await api.query(query))["data"]["products"]["nodes"]


async def test_reads_on_postgresql_send_no_begin(catalog_url, backend, monkeypatch):
    # given: a count of the BEGINs SQLAlchemy's asyncpg adapter sends (it sends one before the first
    # statement of every transaction, unless the connection is in autocommit)
    if backend != "postgresql":
        pytest.skip("SQLite's driver never begins a transaction for a read")
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    begins: list[object] = []
    start = AsyncAdapt_asyncpg_connection._start_transaction

    async def counted_start(self):
        await start(self)
        if self._transaction is not None:  # BEGIN was sent
            begins.append(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "_start_transaction", counted_start)
    query = "{ products(first: 2) { nodes { id category { name } } } }"
    async with serve(settings_for(catalog_url)) as api:
        await api.query(query)  # the first connection also runs the dialect's setup queries
        begins.clear()
        # when
        for _ in range(2):
            assert len((await api.query(query))["data"]["products"]["nodes"]) == 2
    # then
    assert begins == []
