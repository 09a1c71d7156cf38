"""PostgreSQL reads sent straight through asyncpg (`app.db.driver_reads`) give what SQLAlchemy gives."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import JSON, Integer, Select, String, Text, TypeDecorator, bindparam, cast, func, literal, select, text
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.catalog import sql
from app.db.database import RequestDatabase, create_engine
from app.db.driver_reads import DriverRow
from app.db.loaders import KEYS
from app.db.sql_counter import counting
from tests.conftest import settings_for


@pytest.fixture
async def engine(backend: str, catalog_url: str) -> AsyncIterator[AsyncEngine]:
    if backend != "postgresql":
        pytest.skip("driver reads are PostgreSQL's (asyncpg's)")
    engine = create_engine(settings_for(catalog_url))
    yield engine
    await engine.dispose()


async def _both(engine: AsyncEngine, statement: Any, params: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(the request database's rows, SQLAlchemy's rows) for one statement."""
    database = RequestDatabase(engine)
    try:
        ours = await database.fetch_all(statement, params)
    finally:
        await database.close()
    async with engine.connect() as connection:
        theirs = (await connection.execute(statement, params or {})).all()
    return ours, theirs


class Shouting(TypeDecorator[str]):
    """A type that processes the values it reads."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value.upper()


def _as_dicts(rows: Any, names: list[str]) -> list[dict[str, Any]]:
    return [{name: getattr(row, name) for name in names} for row in rows]


READS = [
    (sql.products_by("id", "postgresql"), {KEYS: [1, 2, 3, 999]}),
    (sql.variants_by("product_id", "postgresql"), {KEYS: [1, 2, 3]}),
    (sql.categories_with_ancestors("postgresql"), {KEYS: [1, 5]}),
    (sql.variant_aggregates("postgresql"), {KEYS: [1, 2, 3]}),
    (sql.rating_aggregates("postgresql"), {KEYS: [1, 2, 3]}),
    (sql.reviews_by_id("postgresql"), {KEYS: [1, 2]}),
    (select(sql.products.c.id, sql.products.c.tags).where(sql.products.c.id < 4), {}),  # JSON: the driver decodes it
    # a bind name SQLAlchemy escapes in the SQL it sends
    (
        select(sql.products.c.id).where(sql.products.c.id == bindparam("a.b[0] c", type_=Integer)),
        {"a.b[0] c": 5},
    ),
    (
        select(sql.products.c.id, sql.categories.c.id)
        .join_from(sql.products, sql.categories, sql.products.c.category_id == sql.categories.c.id)
        .where(sql.products.c.id < 4),
        {},
    ),  # one name twice: SQLAlchemy labels it id_1
]


@pytest.mark.parametrize("index", range(len(READS)))
async def test_reads_give_the_same_rows_as_sqlalchemy(engine, index):
    # given: a statement a loader runs, or one with columns SQLAlchemy names or decodes
    statement, params = READS[index]
    # when
    ours, theirs = await _both(engine, statement, params)
    # then: the same rows, column by column, by attribute, by position and by name
    names = list(statement.selected_columns.keys())
    assert theirs, "the statement should find rows"
    assert all(isinstance(row, DriverRow) for row in ours)
    assert _as_dicts(ours, names) == _as_dicts(theirs, names)
    assert [tuple(row) for row in ours] == [tuple(row) for row in theirs]
    assert [dict(row._mapping.items()) for row in ours] == [dict(row._mapping) for row in theirs]


async def test_a_statement_built_again_with_other_values_binds_its_own_values(engine):
    # given: statements of one shape (one compiled form) with different inline values
    def by_id(product_id: int) -> Select[Any]:
        return select(sql.products.c.id, sql.products.c.title).where(sql.products.c.id == product_id)

    # when
    first, _ = await _both(engine, by_id(1))
    second, theirs = await _both(engine, by_id(2))
    # then
    assert [row.id for row in first] == [1]
    assert [(row.id, row.title) for row in second] == [(row.id, row.title) for row in theirs] != []


async def test_parameters_are_bound_through_their_types(engine):
    # given: a JSON parameter, which SQLAlchemy serialises before the driver sees it
    statement = select(
        cast(bindparam("document", type_=JSON), Text).label("document"), literal(Decimal("1.50")).label("amount")
    )
    # when
    ours, theirs = await _both(engine, statement, {"document": {"a": [1, 2]}})
    # then
    assert [tuple(row) for row in ours] == [tuple(row) for row in theirs] == [('{"a": [1, 2]}', Decimal("1.50"))]
    assert isinstance(ours[0], DriverRow)


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(select(sql.products.c.id).where(sql.products.c.id.in_([1, 2])), id="expanding IN"),
        pytest.param(select(cast(sql.products.c.title, Shouting).label("title")).limit(2), id="result processing"),
        pytest.param(text("SELECT 1 AS one"), id="not a SELECT construct"),
        pytest.param(select(literal(1)), id="a column without a name"),
    ],
)
async def test_what_sqlalchemy_must_handle_takes_its_path(engine, statement):
    # when
    ours, theirs = await _both(engine, statement)
    # then: SQLAlchemy's rows, and SQLAlchemy's results
    assert ours and all(isinstance(row, Row) for row in ours)
    assert [tuple(row) for row in ours] == [tuple(row) for row in theirs]


async def test_the_statement_counter_sees_driver_reads(engine):
    # given
    database = RequestDatabase(engine)
    try:
        # when
        with counting(engine) as counter:
            rows = await database.fetch_all(sql.variants_by("product_id", "postgresql"), {KEYS: [1]})
            await database.fetch_all(select(func.count()).select_from(sql.products))
    finally:
        await database.close()
    # then
    assert isinstance(rows[0], DriverRow)
    assert counter.count == 2
    assert counter.statements[0].startswith("SELECT product_variants.id")


async def test_an_error_the_database_reports_is_sqlalchemys_and_leaves_the_connection_in_use(engine):
    # given
    database = RequestDatabase(engine)
    statement = select((literal(1) / literal(0)).label("ratio"))
    async with engine.connect() as connection:
        with pytest.raises(DBAPIError) as through_sqlalchemy:
            await connection.execute(statement)
    try:
        # when: PostgreSQL refuses a statement sent through the driver
        with pytest.raises(DBAPIError) as through_the_driver:
            await database.fetch_all(statement)
        # then: the error SQLAlchemy raises, and the same connection answers the next statement
        assert type(through_the_driver.value) is type(through_sqlalchemy.value)
        assert str(through_the_driver.value.orig) == str(through_sqlalchemy.value.orig) == "division by zero"
        assert isinstance(through_the_driver.value.orig.__cause__, asyncpg.DivisionByZeroError)
        assert not through_the_driver.value.connection_invalidated
        assert (await database.fetch_all(select(literal(7).label("seven"))))[0].seven == 7
        assert not database._interrupted
    finally:
        await database.close()


async def test_a_connection_that_died_fails_a_new_statement_shape_as_sqlalchemy_would(engine):
    # given: a request's connection, killed by the server, and a statement shape never sent before
    database = RequestDatabase(engine)
    try:
        pid = (await database.fetch_all(select(func.pg_backend_pid().label("pid"))))[0].pid
        async with engine.connect() as other:
            await other.execute(select(func.pg_terminate_backend(pid)))
        fresh = select(literal(1).label(f"never_seen_{uuid.uuid4().hex}"))
        # when
        with pytest.raises(DBAPIError) as failure:
            await database.fetch_all(fresh)
        # then: the error says the connection is gone, and the request discards it
        assert failure.value.connection_invalidated
        assert database._interrupted
    finally:
        await database.close()
