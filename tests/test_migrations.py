"""Alembic migrations upgrade, downgrade and upgrade again, and match the models exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import migrate
from app.db.base import load_models
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parent.parent
CATALOG_TABLES = {"categories", "customers", "products", "product_variants", "product_images", "reviews"}
ACCOUNT_TABLES = {"customer_sessions", "refresh_tokens", "password_resets", "customer_addresses"}
CART_TABLES = {"carts", "cart_lines", "orders", "order_lines", "order_status_changes", "payment_events"}
PLATFORM_TABLES = {"persisted_documents"}
ALL_TABLES = CATALOG_TABLES | ACCOUNT_TABLES | CART_TABLES | PLATFORM_TABLES


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
        assert await _tables(url) == ALL_TABLES | {"alembic_version"}
        migrate.downgrade(url, "base")
        assert await _tables(url) == {"alembic_version"}
        migrate.upgrade(url)
        assert await _tables(url) == ALL_TABLES | {"alembic_version"}


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
            assert await migrate.current_revision(engine) == migrate.head_revision() == "0007"
        finally:
            await engine.dispose()


def _tables_loaded_in_a_fresh_interpreter(package: str, *paths: Path) -> list[str]:
    code = f"from app.db.base import load_models; print(' '.join(sorted(load_models({package!r}).tables)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in (*paths, ROOT))}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_alembic_sees_every_domains_tables_without_naming_a_domain():
    # Nothing but load_models imports the catalog here: env.py compares these tables with the migrations.
    assert _tables_loaded_in_a_fresh_interpreter("app") == sorted(ALL_TABLES)


def test_a_new_domain_s_models_are_found_by_their_file_alone(tmp_path):
    # given: a package with a domain that has models and one that has none
    for package in ("shopapp", "shopapp/shop", "shopapp/plain"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "shopapp/shop/models.py").write_text(
        "from sqlalchemy.orm import Mapped, mapped_column\n"
        "from app.db.base import Base\n\n\n"
        "class Item(Base):\n"
        "    __tablename__ = 'shop_items'\n"
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    )
    # then
    assert _tables_loaded_in_a_fresh_interpreter("shopapp", tmp_path) == ["shop_items"]
