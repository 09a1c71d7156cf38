"""The one SQL statement counter (app.db.sql_counter): what reaches the database, transaction control included,
whether a statement or the driver sends it, and nothing for the events SQLAlchemy fires in autocommit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.database import create_engine
from app.db.sql_counter import counting
from tests.conftest import settings_for
from tests.support.rows import VARIANTS, add_product, decrement_stock


@pytest.fixture
async def engine(empty_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings_for(empty_url))
    await add_product(engine)
    async with engine.connect() as connection:  # the dialect's first-connect queries happen here
        await connection.execute(select(1))
    try:
        yield engine
    finally:
        await engine.dispose()


def words(statements: list[str]) -> list[str]:
    return [s.split()[0] for s in statements]


async def test_a_sqlalchemy_transaction_counts_the_begin_and_commit_the_driver_sends(engine, backend):
    # when: asyncpg sends BEGIN before the first statement, sqlite3 before the first write; neither is a cursor
    # statement
    with counting(engine) as counter:
        async with engine.begin() as connection:
            await connection.execute(select(VARIANTS.c.id))
            await connection.execute(decrement_stock())
            async with connection.begin_nested():
                await connection.execute(decrement_stock())
    # then
    begun = ["BEGIN", "SELECT"] if backend == "postgresql" else ["SELECT", "BEGIN"]
    assert words(counter.statements) == [*begun, "UPDATE", "SAVEPOINT", "UPDATE", "RELEASE", "COMMIT"]


async def test_a_read_and_the_pool_s_rollback(engine, backend):
    # when
    with counting(engine) as counter:
        async with engine.connect() as connection:
            await connection.execute(select(VARIANTS.c.id))
    # then: PostgreSQL outside autocommit begins and rolls back; sqlite3 begins nothing for a read
    expected = ["BEGIN", "SELECT", "ROLLBACK"] if backend == "postgresql" else ["SELECT"]
    assert words(counter.statements) == expected


async def test_autocommit_sends_no_transaction_control(engine):
    # when: SQLAlchemy still fires begin, commit and rollback events, but nothing reaches the database
    with counting(engine) as counter:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(select(VARIANTS.c.id))
            await connection.commit()
            await connection.execute(decrement_stock())
            await connection.rollback()
    # then
    assert words(counter.statements) == ["SELECT", "UPDATE"]


async def test_detached_counts_nothing(engine):
    with counting(engine) as counter:
        pass
    async with engine.begin() as connection:
        await connection.execute(decrement_stock())
    assert counter.count == 0
