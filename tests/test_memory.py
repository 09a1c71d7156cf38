"""A request leaves no cyclic garbage behind worth the name: its rows are freed when it ends."""

from __future__ import annotations

import gc

from tests.conftest import serve, settings_for

LISTING = "{ products(first: 20) { nodes { id title category { name parent { name } } variants { sku } } } }"
REQUESTS = 20


async def test_a_request_s_loaders_and_rows_are_freed_without_the_cycle_collector(catalog_url):
    # given
    async with serve(settings_for(catalog_url)) as api:
        await api.query(LISTING)
        gc.collect()
        # when
        for _ in range(REQUESTS):
            assert "errors" not in await api.query(LISTING)
        unreachable = gc.collect()
    # then: reference counting freed the rows; loaders referencing their bundle used to leave about
    # 500 objects per request (every row and future) for the collector's next full pass
    assert unreachable < 40 * REQUESTS, unreachable
