"""Category product pages on PostgreSQL: the LATERAL statement (one index-ordered read per category) returns
exactly the rows of the portable ROW_NUMBER statement, for every sort order, direction, cursor and filter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from app import catalog_sql as sql
from app.pagination import Keyset, Window, partitioned_pages

FILTERS = {
    "none": sql.ProductFilter(),
    "in stock": sql.ProductFilter(available_for_sale=True),
    "sold out": sql.ProductFilter(available_for_sale=False),
    "price": sql.ProductFilter(min_price=Decimal("20"), max_price=Decimal("80")),
    "text": sql.ProductFilter(text=("e",)),
}
KEYSETS = [keyset.reversed(reverse) for keyset in sql.PRODUCT_SORTS.values() for reverse in (False, True)]


@pytest.fixture
async def connection(catalog_url: str, backend: str) -> AsyncIterator[AsyncConnection]:
    """A connection to the seeded catalog on PostgreSQL (SQLite has no LATERAL: it always numbers rows)."""
    if backend != "postgresql":
        pytest.skip("the LATERAL pages are PostgreSQL's")
    engine = create_async_engine(catalog_url)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def _rows(connection: AsyncConnection, statement: Any, ids: list[int]) -> list[dict[str, Any]]:
    rows = (await connection.execute(statement, {sql.KEYS: ids})).all()
    return [{key: value for key, value in row._mapping.items() if key != "page_position"} for row in rows]


async def _pages(
    connection: AsyncConnection, ids: list[int], product_filter: sql.ProductFilter, keyset: Keyset, window: Window
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(LATERAL rows, ROW_NUMBER rows) of the same window."""
    lateral = sql.product_pages_by_category(product_filter, keyset, window, "postgresql")
    everything = sql.products_by_category(product_filter, "postgresql")
    numbered = partitioned_pages(everything, everything.selected_columns.root_id, keyset, window)
    return await _rows(connection, lateral, ids), await _rows(connection, numbered, ids)


def _windows(keyset: Keyset, ordered: list[dict[str, Any]]) -> list[Window]:
    """First and last pages, and pages on both sides of a row in the middle of the list."""
    windows = [Window(3, True, None), Window(3, False, None)]
    if ordered:
        middle = ordered[len(ordered) // 2]
        cursor = (None if keyset.key is None else middle[keyset.key.key], middle["id"])
        windows += [Window(3, True, cursor), Window(3, False, cursor)]
    return windows


@pytest.mark.parametrize("filter_name", list(FILTERS))
async def test_lateral_pages_equal_numbered_pages(connection: AsyncConnection, filter_name: str) -> None:
    # given: every category at once, two departments alone, and every sort order
    product_filter = FILTERS[filter_name]
    categories = (await connection.execute(select(sql.categories.c.id, sql.categories.c.parent_id))).all()
    departments = [[row.id] for row in categories if row.parent_id is None]
    batches = [[row.id for row in categories], *departments[:2]]
    seen = 0
    for keyset in KEYSETS:
        for ids in batches:
            everything, _ = await _pages(connection, ids[:1], product_filter, keyset, Window(100, True, None))
            for window in _windows(keyset, everything):
                # when
                lateral, numbered = await _pages(connection, ids, product_filter, keyset, window)
                # then
                assert lateral == numbered, (keyset.name, keyset.ascending, ids, window)
                seen += len(lateral)
    assert seen > 0
