"""Category product pages: the per-category statements (LATERAL on PostgreSQL, a UNION ALL of keyset pages on
SQLite) return exactly the rows of the portable ROW_NUMBER statement, for every sort order, direction, cursor
and filter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from app.catalog import sql
from app.db.loaders import KEYS
from app.db.pagination import Keyset, Window, partitioned_pages

FILTERS = {
    "none": sql.ProductConditions(),
    "in stock": sql.ProductConditions(available_for_sale=True),
    "sold out": sql.ProductConditions(available_for_sale=False),
    "price": sql.ProductConditions(min_price=Decimal("20"), max_price=Decimal("80")),
    "text": sql.ProductConditions(text=("e",)),
}
KEYSETS = [keyset.reversed(reverse) for keyset in sql.PRODUCT_SORTS.values() for reverse in (False, True)]


@pytest.fixture
async def connection(catalog_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection to the seeded catalog."""
    engine = create_async_engine(catalog_url)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def _rows(
    connection: AsyncConnection, statement: Any, ids: list[int], params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    rows = (await connection.execute(statement, {KEYS: ids, **(params or {})})).all()
    # parent_key names the category a row was read for; root_id and page_position are how a statement got there
    return [
        {key: value for key, value in row._mapping.items() if key not in ("root_id", "page_position")} for row in rows
    ]


async def _pages(
    connection: AsyncConnection, ids: list[int], conditions: sql.ProductConditions, keyset: Keyset, window: Window
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-category rows, ROW_NUMBER rows) of the same window."""
    dialect = connection.dialect.name
    per_category, params = sql.category_pages(ids, conditions, keyset, window, dialect)
    everything = sql.products_by_category(conditions, dialect)
    numbered = partitioned_pages(everything, everything.selected_columns.root_id, keyset, window)
    return await _rows(connection, per_category, ids, params), await _rows(connection, numbered, ids)


def _windows(keyset: Keyset, ordered: list[dict[str, Any]]) -> list[Window]:
    """First and last pages, and pages on both sides of a row in the middle of the list."""
    windows = [Window(3, True, None), Window(3, False, None)]
    if ordered:
        middle = ordered[len(ordered) // 2]
        cursor = (None if keyset.key is None else middle[keyset.key.key], middle["id"])
        windows += [Window(3, True, cursor), Window(3, False, cursor)]
    return windows


@pytest.mark.parametrize("filter_name", list(FILTERS))
async def test_per_category_pages_equal_numbered_pages(connection: AsyncConnection, filter_name: str) -> None:
    # given: every category at once (more than SQLite reads in one UNION ALL), a dozen, two departments
    # alone, and every sort order
    conditions = FILTERS[filter_name]
    categories = (await connection.execute(select(sql.categories.c.id, sql.categories.c.parent_id))).all()
    departments = [[row.id] for row in categories if row.parent_id is None]
    everyone = [row.id for row in categories]
    assert len(everyone) > sql.UNION_PAGES_MAX  # so SQLite numbers the first batch and unions the others
    batches = [everyone, everyone[:12], *departments[:2]]
    seen = 0
    for keyset in KEYSETS:
        for ids in batches:
            everything, _ = await _pages(connection, ids[:1], conditions, keyset, Window(100, True, None))
            for window in _windows(keyset, everything):
                # when
                per_category, numbered = await _pages(connection, ids, conditions, keyset, window)
                # then
                assert per_category == numbered, (keyset.name, keyset.ascending, ids, window)
                seen += len(per_category)
    assert seen > 0
