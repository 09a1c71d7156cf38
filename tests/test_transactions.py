"""The write path: one transaction on the request's connection, row locks, retries, loaders that see the
request's own writes, and work queued until commit. Real rows, real databases, state checked after."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.catalog.loaders import ReviewPageByProductLoader, VariantByIdLoader
from app.catalog.models import Review
from app.db import database as db_module
from app.db.database import RequestDatabase, create_engine, is_retryable, request_database
from app.db.loaders import Loaders
from app.db.pagination import Window
from app.db.sql_counter import StatementCounter
from tests.conftest import settings_for
from tests.support.rows import (
    PRODUCT,
    STOCK,
    VARIANT,
    VARIANT_2,
    VARIANTS,
    add_product,
    decrement_stock,
    stock_of,
    stocks,
)


@pytest.fixture
async def engine(empty_url: str) -> AsyncIterator[AsyncEngine]:
    """The app's engine (its SQLite pragmas, its PostgreSQL session settings) on a database with one product."""
    engine = create_engine(settings_for(empty_url))
    await add_product(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def database(engine: AsyncEngine) -> AsyncIterator[RequestDatabase]:
    """One request's database handle."""
    async with request_database(engine) as database:
        yield database


@pytest.fixture
def counter(engine: AsyncEngine):
    counter = StatementCounter(engine).attach()
    yield counter
    counter.detach()


def begin(backend: str) -> str:
    return "BEGIN IMMEDIATE" if backend == "sqlite" else "BEGIN"


def control(counter: StatementCounter) -> list[str]:
    """The statements counted, with the catalog's reads and writes shortened to their first word."""
    return [
        s if s.split()[0] in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE") else s.split()[0]
        for s in counter.statements
    ]


async def test_a_transaction_commits_its_writes_on_one_connection(engine, database, counter, backend):
    # when
    async with database.transaction():
        assert await database.execute(decrement_stock(by=3)) == 1
        rows = await database.fetch_all(select(VARIANTS.c.stock_quantity).where(VARIANTS.c.id == VARIANT))
    sent = control(counter)
    # then: the read inside saw the write; the write is committed; BEGIN and COMMIT reached the database
    assert rows[0][0] == STOCK - 3
    assert await stock_of(engine) == STOCK - 3
    assert sent == [begin(backend), "UPDATE", "SELECT", "COMMIT"]


async def test_a_block_that_raises_rolls_back(engine, database, counter, backend):
    # when
    with pytest.raises(LookupError):
        async with database.transaction():
            await database.execute(decrement_stock(by=3))
            raise LookupError("out of stock")
    sent = control(counter)
    # then
    assert await stock_of(engine) == STOCK
    assert sent == [begin(backend), "UPDATE", "ROLLBACK"]
    assert not database.in_transaction


async def test_uncommitted_writes_are_seen_inside_the_transaction_only(engine):
    # given
    database = RequestDatabase(engine)
    loaders = Loaders(database)

    async def sell_and_read() -> tuple[int, int]:
        async with database.transaction():
            await database.execute(decrement_stock(by=4))
            # when: a loader (its batch runs in a task of its own, on the request's connection) reads the row
            inside = await loaders.get(VariantByIdLoader).load(VARIANT)
            return inside.stock_quantity, await stock_of(engine)

    # a transaction holding the statement lock for its whole block would deadlock here, in its cleanup too:
    # the handle is closed only when the work finished
    work = asyncio.ensure_future(sell_and_read())
    done, _ = await asyncio.wait([work], timeout=5)
    assert done, "the loader's read waited for the transaction's block to end"
    await database.close()
    # then: the loader ran inside the open transaction; other connections saw the write only after COMMIT
    assert work.result() == (STOCK - 4, STOCK)
    assert await stock_of(engine) == STOCK - 4


async def test_reads_after_a_transaction_send_no_begin(database, counter, backend):
    # given
    async with database.transaction():
        await database.execute(decrement_stock())
    counter.reset()
    # when
    await database.fetch_all(select(VARIANTS.c.id))
    await database.fetch_all(select(VARIANTS.c.id))
    # then: back in autocommit (PostgreSQL) / no implicit BEGIN for reads (SQLite)
    assert control(counter) == ["SELECT", "SELECT"]


async def test_isolation_level_on_postgresql(database, backend):
    # given
    if backend != "postgresql":
        pytest.skip("SQLite transactions are always serializable")
    # when
    async with database.transaction(isolation="REPEATABLE READ"):
        inside = await database.fetch_all(text("SHOW transaction_isolation"))
    # then
    assert inside[0][0] == "repeatable read"
    with pytest.raises(ValueError, match="isolation"):
        async with database.transaction(isolation="READ UNCOMMITTED"):
            pass


async def test_a_nested_transaction_is_a_savepoint(engine, database, counter, backend):
    # when: the inner block fails and rolls back alone; a second inner block succeeds
    async with database.transaction() as outer:
        await database.execute(decrement_stock(VARIANT, 1))
        with pytest.raises(LookupError):
            async with database.transaction() as inner:
                assert (outer.depth, inner.depth, inner.savepoint) == (0, 1, "sp_1")
                await database.execute(decrement_stock(VARIANT, 5))
                raise LookupError
        async with database.transaction():
            await database.execute(decrement_stock(VARIANT_2, 2))
        with pytest.raises(ValueError, match="isolation"):
            async with database.transaction(isolation="SERIALIZABLE"):
                pass
    sent = control(counter)
    # then
    assert await stocks(engine) == {VARIANT: STOCK - 1, VARIANT_2: STOCK - 2}
    assert sent == [
        begin(backend),
        "UPDATE",
        "SAVEPOINT sp_1",
        "UPDATE",
        "ROLLBACK TO SAVEPOINT sp_1",
        "SAVEPOINT sp_1",
        "UPDATE",
        "RELEASE SAVEPOINT sp_1",
        "COMMIT",
    ]


async def test_writes_and_row_locks_need_a_transaction(database):
    with pytest.raises(RuntimeError, match="transaction"):
        await database.execute(decrement_stock())
    with pytest.raises(RuntimeError, match="transaction"):
        await database.lock_rows(select(VARIANTS))
    with pytest.raises(RuntimeError, match="transaction"):
        database.after_commit(lambda: None)


# -- after commit -------------------------------------------------------------------------------------


async def test_after_commit_work_runs_in_order_once_committed(engine, database, caplog):
    # given: work that checks what other connections see when it runs, and one that fails
    ran: list[tuple[str, int]] = []

    async def publish() -> None:
        ran.append(("publish", await stock_of(engine)))

    def fail() -> None:
        raise RuntimeError("mail server down")

    # when
    with caplog.at_level(logging.ERROR, logger="storefront.db"):
        async with database.transaction() as transaction:
            await database.execute(decrement_stock())
            transaction.after_commit(publish)
            database.after_commit(fail)
            async with database.transaction():  # a released savepoint's work joins the transaction's
                database.after_commit(lambda: ran.append(("mail", -1)))
            with pytest.raises(LookupError):
                async with database.transaction():  # a rolled-back savepoint's work is dropped
                    database.after_commit(lambda: ran.append(("dropped", -1)))
                    raise LookupError
            assert ran == []
    # then: after COMMIT (the committed stock was visible), in order, the failure logged and skipped
    assert ran == [("publish", STOCK - 1), ("mail", -1)]
    assert "mail server down" in caplog.text


async def test_after_commit_work_never_runs_after_a_rollback(database):
    ran: list[str] = []
    with pytest.raises(LookupError):
        async with database.transaction():
            database.after_commit(lambda: ran.append("publish"))
            raise LookupError
    assert ran == []


# -- loaders see the request's writes ------------------------------------------------------------------


async def test_a_cleared_loader_key_reads_the_request_s_own_write(database):
    # given: the variant was read (and cached) before the write
    loaders = Loaders(database)
    assert (await loaders.get(VariantByIdLoader).load(VARIANT)).stock_quantity == STOCK
    async with database.transaction():
        await database.execute(decrement_stock(by=2))
        stale = (await loaders.get(VariantByIdLoader).load(VARIANT)).stock_quantity
        # when
        loaders.clear(VariantByIdLoader, VARIANT)
        fresh = (await loaders.get(VariantByIdLoader).load(VARIANT)).stock_quantity
    # then
    assert (stale, fresh) == (STOCK, STOCK - 2)


async def test_a_primed_value_replaces_the_cached_one(database):
    loaders = Loaders(database)
    cached = await loaders.get(VariantByIdLoader).load(VARIANT)
    async with database.transaction():
        written = await database.fetch_all(
            update(VARIANTS).where(VARIANTS.c.id == VARIANT).values(stock_quantity=3).returning(*VARIANTS.c)
        )
        loaders.prime(VariantByIdLoader, VARIANT, written[0])
    assert (cached.stock_quantity, (await loaders.get(VariantByIdLoader).load(VARIANT)).stock_quantity) == (STOCK, 3)


@pytest.mark.parametrize("clear", ["clear", "clear_all"])
async def test_clearing_a_loader_class_reaches_every_parametrised_loader(database, clear):
    # given: the product's reviews read through two windows (two loaders of one class), then a review written
    loaders = Loaders(database)
    windows = [Window(limit=2, forward=True, cursor=None), Window(limit=5, forward=True, cursor=None)]
    before = [len((await loaders.get(ReviewPageByProductLoader, w).load(PRODUCT)).rows) for w in windows]
    async with database.transaction():
        await database.execute(
            Review.__table__.insert().values(product_id=PRODUCT, customer_id=1, rating=5, title="Good")
        )
        # when
        if clear == "clear":
            loaders.clear(ReviewPageByProductLoader, PRODUCT)
        else:
            loaders.clear_all(ReviewPageByProductLoader)
        after = [len((await loaders.get(ReviewPageByProductLoader, w).load(PRODUCT)).rows) for w in windows]
    # then
    assert (before, after) == ([0, 0], [1, 1])


async def test_a_rollback_clears_every_loader_cache(engine, database):
    # given: a loader cached a row as the failed transaction had written it
    loaders = Loaders(database)
    with pytest.raises(LookupError):
        async with database.transaction():
            await database.execute(decrement_stock(by=STOCK))
            assert (await loaders.get(VariantByIdLoader).load(VARIANT)).stock_quantity == 0
            raise LookupError
    # when
    after = await loaders.get(VariantByIdLoader).load(VARIANT)
    # then
    assert after.stock_quantity == STOCK == await stock_of(engine)


# -- row locks and retries, with real concurrency --------------------------------------------------------


async def test_two_writers_that_read_then_write_lose_no_update(engine, backend):
    # given: two requests that each read the stock, then write it back one lower
    first_read = asyncio.Event()

    async def sell_one(database: RequestDatabase, wait: asyncio.Event | None) -> None:
        if wait is not None:
            await wait.wait()
        async with database.transaction():
            rows = await database.lock_rows(select(VARIANTS.c.stock_quantity).where(VARIANTS.c.id == VARIANT))
            first_read.set()
            await asyncio.sleep(0.2)  # the other writer tries to read now
            await database.execute(
                update(VARIANTS).where(VARIANTS.c.id == VARIANT).values(stock_quantity=rows[0][0] - 1)
            )

    a, b = RequestDatabase(engine), RequestDatabase(engine)
    try:
        # when
        await asyncio.wait_for(asyncio.gather(sell_one(a, None), sell_one(b, first_read)), 20)
    finally:
        await a.close()
        await b.close()
    # then: FOR UPDATE (PostgreSQL) or BEGIN IMMEDIATE (SQLite) made the second wait for the first
    assert await stock_of(engine) == STOCK - 2


async def test_a_serialization_failure_is_retried_from_scratch(engine, backend):
    # given: two REPEATABLE READ transactions that read the same row; the first commits its write after the
    # second read it, so the second's write fails with SQLSTATE 40001
    if backend != "postgresql":
        pytest.skip("a PostgreSQL isolation level; SQLite serialises writers with BEGIN IMMEDIATE")
    both_read, first_done = asyncio.Event(), asyncio.Event()
    read_count = 0
    attempts: list[int] = []
    published: list[int] = []

    async def sell_first(database: RequestDatabase) -> None:
        rows = await database.fetch_all(select(VARIANTS.c.stock_quantity).where(VARIANTS.c.id == VARIANT))
        await both_read.wait()
        await database.execute(update(VARIANTS).where(VARIANTS.c.id == VARIANT).values(stock_quantity=rows[0][0] - 1))

    async def sell_second(database: RequestDatabase) -> None:
        nonlocal read_count
        attempt = len(attempts) + 1
        attempts.append(attempt)
        # read through the request's loaders: the retry must not reuse what the failed attempt cached
        variant = await loaders.get(VariantByIdLoader).load(VARIANT)
        database.after_commit(lambda: published.append(attempt))
        read_count += 1
        if read_count == 1:
            both_read.set()
            await first_done.wait()
        await database.execute(
            update(VARIANTS).where(VARIANTS.c.id == VARIANT).values(stock_quantity=variant.stock_quantity - 1)
        )

    a, b = RequestDatabase(engine), RequestDatabase(engine)
    loaders = Loaders(b)

    async def first() -> None:
        await a.run_in_transaction(sell_first, isolation="REPEATABLE READ")
        first_done.set()

    try:
        # when
        await asyncio.wait_for(
            asyncio.gather(first(), b.run_in_transaction(sell_second, attempts=3, isolation="REPEATABLE READ")), 20
        )
    finally:
        await a.close()
        await b.close()
    # then: the second ran twice, its first attempt's after-commit work was dropped
    assert (attempts, published) == ([1, 2], [2])
    assert await stock_of(engine) == STOCK - 2


async def test_a_deadlock_is_retried(engine, backend):
    # given: two transactions that lock two rows in opposite orders
    if backend != "postgresql":
        pytest.skip("SQLite writers never hold row locks: BEGIN IMMEDIATE serialises them")
    locked = {VARIANT: asyncio.Event(), VARIANT_2: asyncio.Event()}
    runs: list[int] = []

    def transfer(first: int, second: int):  # type: ignore[no-untyped-def]
        async def work(database: RequestDatabase) -> None:
            runs.append(first)
            await database.execute(decrement_stock(first))
            locked[first].set()
            await locked[second].wait()
            await database.execute(decrement_stock(second))

        return work

    a, b = RequestDatabase(engine), RequestDatabase(engine)
    try:
        # when: PostgreSQL detects the deadlock (after deadlock_timeout, 1 s) and aborts one with 40P01
        await asyncio.wait_for(
            asyncio.gather(
                a.run_in_transaction(transfer(VARIANT, VARIANT_2)),
                b.run_in_transaction(transfer(VARIANT_2, VARIANT)),
            ),
            20,
        )
    finally:
        await a.close()
        await b.close()
    # then: one of them ran twice; both transfers happened
    assert sorted(runs) in ([1, 1, 2], [1, 2, 2])
    assert await stocks(engine) == {VARIANT: STOCK - 2, VARIANT_2: STOCK - 2}


async def test_sqlite_database_is_locked_is_retried(engine, database, counter, backend):
    # given: another process holds SQLite's write lock for a moment, longer than our busy timeout
    if backend != "sqlite":
        pytest.skip("SQLite's lock")
    other = sqlite3.connect(make_url(str(engine.url)).database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    await database.fetch_all(text("PRAGMA busy_timeout = 50"))
    attempts: list[int] = []

    async def release_soon() -> None:
        await asyncio.sleep(0.15)
        other.execute("COMMIT")

    async def sell(db: RequestDatabase) -> None:
        attempts.append(1)
        await db.execute(decrement_stock())

    releasing = asyncio.ensure_future(release_soon())
    try:
        # when
        await database.run_in_transaction(sell, attempts=10)
    finally:
        await releasing
        other.close()
    # then: the first attempts could not even begin (database is locked); a later one did, once
    begins = [s for s in counter.statements if s.startswith("BEGIN")]
    assert len(begins) > 1
    assert control(counter)[-3:] == ["BEGIN IMMEDIATE", "UPDATE", "COMMIT"]
    assert len(attempts) == 1
    assert await stock_of(engine) == STOCK - 1


async def test_run_in_transaction_does_not_retry_other_errors_or_nest(database):
    calls: list[int] = []

    async def fail(_db: RequestDatabase) -> None:
        calls.append(1)
        raise LookupError

    with pytest.raises(LookupError):
        await database.run_in_transaction(fail, attempts=3)
    assert calls == [1]
    async with database.transaction():
        with pytest.raises(RuntimeError, match="inside another"):
            await database.run_in_transaction(fail)


def test_retryable_errors(monkeypatch):
    from sqlalchemy import exc

    class Orig(Exception):
        def __init__(self, message: str, sqlstate: str | None = None) -> None:
            super().__init__(message)
            self.sqlstate = sqlstate

    assert is_retryable(exc.DBAPIError("UPDATE", {}, Orig("could not serialize", "40001")))
    assert is_retryable(exc.DBAPIError("UPDATE", {}, Orig("deadlock detected", "40P01")))
    assert is_retryable(exc.OperationalError("BEGIN IMMEDIATE", {}, Orig("database is locked")))
    assert not is_retryable(exc.IntegrityError("INSERT", {}, Orig("duplicate key", "23505")))
    assert not is_retryable(LookupError())
    assert db_module.RETRY_BACKOFF_SECONDS < 0.1
