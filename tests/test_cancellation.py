"""Cancelled requests (client gone, a deadline) leak no connection from the pool, on either executor.

A request can end while its connection is being checked out, while a statement runs, or with a loader batch
still running in a task of its own. The planned executor cancels the awaitables it drives as tasks would
be cancelled (and closes those never started), graphql-core cancels their tasks; both are covered.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.catalog.loaders import VariantsByProductLoader
from app.db.database import RequestDatabase, RequestDatabaseClosed, _sqlite_pragmas, create_engine
from tests.conftest import serve, settings_for

LISTING = """
{ products(first: 8) { nodes { title variants { sku } category { name } reviews(first: 2) { nodes { rating } } } } }
"""


def slow_statement(backend: str, seconds: float) -> Any:
    """A statement that keeps the database busy for about this long."""
    if backend == "postgresql":
        return text(f"SELECT pg_sleep({seconds})")
    rows = int(seconds * 4_000_000)  # a recursive count: SQLite has no sleep
    return text(
        f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) SELECT count(*) FROM c"
    )


@pytest.fixture
async def engine(catalog_url: str, backend: str) -> AsyncIterator[AsyncEngine]:
    """The app's engine with a pool of one connection (the app sizes only PostgreSQL's pool)."""
    if backend == "postgresql":
        engine = create_engine(replace(settings_for(catalog_url), db_pool_size=1, db_max_overflow=0))
    else:
        engine = create_async_engine(catalog_url, pool_size=1, max_overflow=0, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, busy_ms=30_000))
    try:
        yield engine
    finally:
        await engine.dispose()


async def settled(engine: AsyncEngine) -> int:
    """Checked-out connections once what the cancelled work left behind has run."""
    for _ in range(50):
        if engine.pool.checkedout() == 0:
            return 0
        await asyncio.sleep(0.02)
    return engine.pool.checkedout()


async def answers(engine: AsyncEngine) -> int:
    """A fresh request's answer on the same pool (a connection left mid-statement would fail it)."""
    database = RequestDatabase(engine)
    try:
        return (await database.fetch_all(text("SELECT 42")))[0][0]
    finally:
        await database.close()


async def drive_then_close(awaitable: Coroutine[Any, Any, Any], after: float) -> None:
    """Drive an awaitable as the planned executor does (without a task), then close it as the executor does
    when its request is cancelled: GeneratorExit at the `await` it is blocked on."""
    iterator = awaitable.__await__()
    deadline = time.monotonic() + after
    try:
        while (left := deadline - time.monotonic()) > 0:
            future = iterator.send(None)
            if future is None:
                await asyncio.sleep(0)
                continue
            future._asyncio_future_blocking = False
            await asyncio.wait([future], timeout=left)
    except StopIteration:
        pytest.fail("the awaitable finished before it could be closed")
    finally:
        iterator.close()


async def holding_the_only_connection(engine: AsyncEngine) -> RequestDatabase:
    holder = RequestDatabase(engine)
    await holder.fetch_all(text("SELECT 1"))
    return holder


@pytest.mark.parametrize("how", ["cancelled", "closed"])
async def test_a_request_that_ends_while_waiting_for_a_checkout_returns_the_connection(engine, how):
    # given: the pool's only connection is taken, and a request waits for it
    holder = await holding_the_only_connection(engine)
    database = RequestDatabase(engine)
    # when: the request ends while it waits
    if how == "cancelled":
        waiting = asyncio.ensure_future(database.fetch_all(text("SELECT 1")))
        await asyncio.sleep(0.1)
        waiting.cancel()
        await asyncio.wait([waiting])
    else:
        await drive_then_close(database.fetch_all(text("SELECT 1")), after=0.1)
    await database.close()
    await holder.close()  # the checkout, had it gone on, would get the connection now
    # then
    assert await settled(engine) == 0
    assert await answers(engine) == 42


@pytest.mark.parametrize("how", ["cancelled", "left running"])
async def test_a_request_that_ends_while_its_statement_runs_returns_the_connection(engine, backend, how):
    # given: a statement that takes half a minute (PostgreSQL's is cancelled by asyncpg, SQLite's interrupted)
    database = RequestDatabase(engine)
    await database.fetch_all(text("SELECT 1"))
    slow = slow_statement(backend, 30)
    started = time.monotonic()
    # when: the request is cancelled, or it ends with the statement still running in a task of its own (a
    # loader batch nobody waits for any more).
    running = asyncio.ensure_future(database.fetch_all(slow))
    await asyncio.sleep(0.2)
    if how == "cancelled":
        running.cancel()
    await database.close()
    # then: the request ended without waiting for the statement (a liveness bound, a third of its time, so
    # a loaded machine cannot fail it), and the pool has its connection back, usable
    assert running.cancelled()
    assert time.monotonic() - started < 10
    assert await settled(engine) == 0
    assert await answers(engine) == 42


async def test_a_closed_request_database_takes_no_more_statements(engine):
    # given: a loader batch dispatched after its request ended
    database = RequestDatabase(engine)
    await database.close()
    # when / then
    with pytest.raises(RequestDatabaseClosed):
        await database.fetch_all(text("SELECT 1"))
    assert engine.pool.checkedout() == 0


async def test_a_transaction_left_open_is_rolled_back_when_the_request_ends(engine):
    # given: a request closed while its transaction's block was running (its coroutine closed)
    database = RequestDatabase(engine)
    gate = asyncio.Event()

    async def write() -> None:
        async with database.transaction():
            await database.fetch_all(text("SELECT 1"))
            await gate.wait()

    await drive_then_close(write(), after=0.2)
    # when
    await database.close()
    # then: the connection went back with no transaction open (SQLite would refuse the next BEGIN IMMEDIATE
    # of another connection; PostgreSQL would keep the transaction idle)
    assert await settled(engine) == 0
    other = RequestDatabase(engine)
    try:
        async with other.transaction():
            assert (await other.fetch_all(text("SELECT 7")))[0][0] == 7
    finally:
        await other.close()


@pytest.fixture
def slow_variants(monkeypatch, backend):
    """Every variants batch first runs a statement of about 50 ms, so cancellations land mid-statement."""
    batch = VariantsByProductLoader.batch_load_fn

    async def slow_batch(self, keys):  # type: ignore[no-untyped-def]
        await self.db.fetch_all(slow_statement(backend, 0.05))
        return await batch(self, keys)

    monkeypatch.setattr(VariantsByProductLoader, "batch_load_fn", slow_batch)


async def test_cancelled_graphql_requests_leak_no_connection(catalog_url, executor, slow_variants):
    # given: an app with a tiny pool, many requests at once, each cancelled at a random moment: waiting for
    # a connection, in a statement, between levels
    settings = replace(
        settings_for(catalog_url, fast_executor=executor == "fast"),
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout=10,
    )
    rng = random.Random(7)
    async with serve(settings) as api:
        expected = await api.query(LISTING)
        assert "errors" not in expected
        for _round in range(3):
            requests = [asyncio.ensure_future(api.client.post("/graphql", json={"query": LISTING})) for _ in range(30)]
            await asyncio.sleep(0)
            for request in requests:
                asyncio.get_running_loop().call_later(rng.uniform(0, 0.25), request.cancel)
            # when
            await asyncio.wait(requests)
            # then
            assert await settled(api.engine) == 0
            cancelled = sum(request.cancelled() for request in requests)
            assert cancelled > 0
        # and the app answers every request again, on the same pool
        results = await asyncio.gather(*(api.query(LISTING) for _ in range(6)))
        assert results == [expected] * 6
        assert await settled(api.engine) == 0


async def test_a_cancelled_sqlite_statement_is_interrupted_not_left_running(engine, sqlite_only):
    # given: a statement that would keep SQLite's driver thread busy for a minute
    database = RequestDatabase(engine)
    await database.fetch_all(text("SELECT 1"))
    assert database._connection is not None
    raw = await database._connection.get_raw_connection()
    driver_thread = raw.driver_connection._thread  # aiosqlite runs each connection in a thread of its own
    running = asyncio.ensure_future(database.fetch_all(slow_statement("sqlite", 60)))
    await asyncio.sleep(0.2)
    # when: the request is cancelled and ends
    running.cancel()
    # then: the cancellation went through without waiting for the statement (a liveness bound, a third of
    # the statement's time: SQLAlchemy's adapter alone would wait the whole minute)...
    await asyncio.wait([running], timeout=20)
    assert running.cancelled()
    await database.close()
    # ...and the statement was stopped, so the discarded connection's thread ends instead of counting on
    await asyncio.to_thread(driver_thread.join, 20)
    assert not driver_thread.is_alive()
    assert await settled(engine) == 0


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 5])
async def test_a_cancellation_before_the_sqlite_statement_starts_still_stops_it(engine, sqlite_only, turns):
    # given: a statement cancelled a few loop turns after it was asked for, while the driver may still be
    # making its cursor (an interrupt then finds nothing to stop)
    database = RequestDatabase(engine)
    await database.fetch_all(text("SELECT 1"))
    running = asyncio.ensure_future(database.fetch_all(slow_statement("sqlite", 60)))
    for _ in range(turns):
        await asyncio.sleep(0)
    # when
    running.cancel()
    # then: the cancellation goes through without waiting the minute (a liveness bound)
    await asyncio.wait([running], timeout=20)
    assert running.cancelled()
    await database.close()
    assert await settled(engine) == 0


async def test_a_write_cancelled_inside_a_transaction_never_commits_part_of_it(empty_url):
    # given: a transaction that wrote a row, then had a slow write cancelled and went on
    engine = create_async_engine(empty_url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE marks (id INTEGER PRIMARY KEY, v TEXT)"))
    backend = engine.dialect.name
    if backend == "postgresql":
        slow_write = text("INSERT INTO marks (v) SELECT 'slow' FROM pg_sleep(2) WHERE random() < 0")
    else:
        count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 8000000) "
        count += "SELECT count(*) AS n FROM c"
        slow_write = text(f"INSERT INTO marks (v) SELECT 'slow' FROM ({count}) WHERE n < 0")
    database = RequestDatabase(engine)
    try:
        # when
        with pytest.raises(Exception):  # noqa: B017 - the driver's own "roll back first" error, per database
            async with database.transaction():
                await database.execute(text("INSERT INTO marks (v) VALUES ('A')"))
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await database.execute(slow_write)
                await database.execute(text("INSERT INTO marks (v) VALUES ('B')"))
    finally:
        await database.close()
    # then: nothing of the transaction was committed (SQLite's interrupt would have rolled back A on its
    # own, and the driver would have committed B alone)
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT v FROM marks"))).all() == []
    await engine.dispose()


@pytest.mark.parametrize("turns", [1, 2, 3, 5])
async def test_a_statement_cancelled_again_while_it_stops_is_still_stopped_before_the_release(
    engine, sqlite_only, turns, caplog
):
    # given: a request with statements queued behind one that is being stopped after a cancellation
    database = RequestDatabase(engine)
    await database.fetch_all(text("SELECT 1"))
    statements = [asyncio.ensure_future(database.fetch_all(slow_statement("sqlite", 60))) for _ in range(3)]
    for _ in range(turns):
        await asyncio.sleep(0)
    statements[0].cancel()
    for _ in range(turns):
        await asyncio.sleep(0)
    # when: the request ends, which cancels the running statement again; it must not wait the minute (a
    # liveness bound of a third of it)
    await asyncio.wait_for(database.close(), timeout=20)
    # then: the statement had stopped before its connection was released: nothing ran on a closed
    # connection, nothing was left unretrieved, and the pool has the connection back
    await asyncio.wait(statements, timeout=20)
    assert statements[0].cancelled()
    assert [type(s.exception()) for s in statements[1:]] == [RequestDatabaseClosed] * 2
    gc.collect()  # asyncio reports a task's exception nobody retrieved when the task is collected
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert await settled(engine) == 0


async def test_the_first_statement_of_a_request_is_interrupted_too(engine, sqlite_only):
    # given: a request whose very first statement (the one that checks its connection out) is slow
    database = RequestDatabase(engine)
    running = asyncio.ensure_future(database.fetch_all(slow_statement("sqlite", 60)))
    await asyncio.sleep(0.2)
    # when
    running.cancel()
    # then: the cancellation goes through without waiting the minute (a liveness bound)
    await asyncio.wait([running], timeout=20)
    assert running.cancelled()
    await database.close()
    assert await settled(engine) == 0
