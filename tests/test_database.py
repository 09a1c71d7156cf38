"""The app's PostgreSQL sessions: settings every connection of the pool carries."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.db.database import RequestDatabase
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
