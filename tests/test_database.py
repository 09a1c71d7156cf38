"""The app's PostgreSQL sessions: settings every connection of the pool carries, and the pool's reuse."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, text

from app.db.database import RequestDatabase
from app.settings import Settings
from tests.conftest import serve, settings_for


async def test_postgresql_sessions_plan_every_execution_with_its_values(catalog_url, backend):
    # given
    if backend != "postgresql":
        pytest.skip("a PostgreSQL setting")
    async with serve(settings_for(catalog_url)) as api:
        database = RequestDatabase(api.engine)
        try:
            # when
            rows = await database.fetch_all(text("SELECT current_setting('plan_cache_mode')"))
        finally:
            await database.close()
    # then: a generic plan knows no search pattern, LIMIT or status; it made the search 7x slower
    assert rows[0][0] == "force_custom_plan"


async def test_bursts_of_requests_reuse_the_connections_the_pool_opened(catalog_url, backend):
    # given: the default pool settings, and a burst as large as the pool
    if backend != "postgresql":
        pytest.skip("SQLite has no connection pool to size")
    defaults = Settings(database_url=catalog_url, environment="test")
    burst = defaults.db_pool_size + defaults.db_max_overflow
    async with serve(defaults) as api:
        opened = []
        event.listen(api.engine.sync_engine.pool, "connect", lambda *_: opened.append(1))

        async def listing() -> None:
            result = await api.query("{ products(first: 5) { nodes { title } } }")
            assert "errors" not in result

        # when: three bursts, one after another
        for _ in range(3):
            await asyncio.gather(*(listing() for _ in range(burst)))
    # then: the first burst opened the connections and the later ones reused them; an overflow
    # connection would have been closed on return and opened again by the next burst
    assert len(opened) <= burst
