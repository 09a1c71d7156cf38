"""Alembic migrations upgrade, downgrade and upgrade again, and match the models exactly."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import migrate
from app.db.base import load_models
from tests.conftest import fresh_database

CATALOG_TABLES = {"categories", "customers", "products", "product_variants", "product_images", "reviews"}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _model_differences(url: str) -> list:
    engine = create_async_engine(url)

    def compare(sync_connection):
        with warnings.catch_warnings():
            # SQLite cannot reflect expression indexes (lower(email)); Alembic warns and skips them.
            warnings.filterwarnings("ignore", message=".*expression-based index.*")
            return compare_metadata(MigrationContext.configure(sync_connection), load_models())

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(backend, tmp_path):
    async with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        assert await _tables(url) == CATALOG_TABLES | {"alembic_version"}
        migrate.downgrade(url, "base")
        assert await _tables(url) == {"alembic_version"}
        migrate.upgrade(url)
        assert await _tables(url) == CATALOG_TABLES | {"alembic_version"}


async def test_migrations_match_the_models(backend, tmp_path):
    async with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        assert await _model_differences(url) == []


async def test_current_revision_is_head_after_upgrade(backend, tmp_path):
    async with fresh_database(backend, tmp_path) as url:
        engine = create_async_engine(url)
        try:
            assert await migrate.current_revision(engine) is None
            migrate.upgrade(url)
            assert await migrate.current_revision(engine) == migrate.head_revision() == "0001"
        finally:
            await engine.dispose()
