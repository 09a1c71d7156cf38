"""The benchmark's databases: a PostgreSQL database and a SQLite file, migrated and seeded once.

Each is reseeded (with reset) only when its row counts differ from the catalog the seed would write, so a
second run starts in seconds. Both are analysed before every run (VACUUM ANALYZE on PostgreSQL, as
autovacuum does soon after a bulk load; ANALYZE on SQLite, which the app never runs): without statistics
SQLite reads `status = 'ACTIVE' ORDER BY id LIMIT n` through the (status, rating_average, id) index and
sorts every visible product, about 14 ms per listing statement instead of 0.2 ms, for both servers alike.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.catalog.seed import CATALOG_TABLES, build_catalog, catalog_counts, seed_catalog
from app.db import migrate

__all__ = ["BenchDatabase", "prepare"]

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
POSTGRES_DATABASE = "storefront_bench"
SQLITE_FILE = ROOT / "var" / "bench" / "storefront_bench.db"
PRODUCTS = 10_000
SEED = 1


@dataclass(frozen=True)
class BenchDatabase:
    """One seeded database: its name in reports and its SQLAlchemy URL."""

    name: str
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    @property
    def label(self) -> str:
        return "SQLite" if self.is_sqlite else "PostgreSQL"


def database_url(name: str) -> str:
    """The SQLAlchemy URL of the benchmark database of this kind."""
    if name == "sqlite":
        return f"sqlite+aiosqlite:///{SQLITE_FILE}"
    if name == "postgresql":
        return str(make_url(POSTGRES_ADMIN_URL).set(database=POSTGRES_DATABASE).render_as_string(hide_password=False))
    raise ValueError(f"unknown database {name!r}; use postgresql or sqlite")


def prepare(names: list[str], log) -> list[BenchDatabase]:  # type: ignore[no-untyped-def]
    """Create, migrate and seed each named database when needed; return them."""
    expected: dict[str, int] | None = None
    prepared = []
    for name in names:
        url = database_url(name)
        if name == "postgresql":
            asyncio.run(_create_postgres_database())
        else:
            SQLITE_FILE.parent.mkdir(parents=True, exist_ok=True)
        migrate.upgrade(url)
        counts = asyncio.run(_counts(url))
        if expected is None:
            catalog = build_catalog(PRODUCTS, SEED)
            expected = {table: len(catalog.rows_of(table)) for table in CATALOG_TABLES}
            del catalog
        if counts == expected:
            log(f"{name}: catalog of {PRODUCTS:,} products (seed {SEED}) already there")
        else:
            log(f"{name}: seeding {PRODUCTS:,} products (seed {SEED}); found {counts}")
            started = time.perf_counter()
            asyncio.run(_seed(url))
            log(f"{name}: seeded in {time.perf_counter() - started:.0f} s")
            if asyncio.run(_counts(url)) != expected:
                raise RuntimeError(f"{name}: the seeded catalog does not have the expected row counts")
        asyncio.run(_analyze(url, name == "postgresql"))
        prepared.append(BenchDatabase(name, url))
    return prepared


async def _create_postgres_database() -> None:
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            found = await connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": POSTGRES_DATABASE}
            )
            if found.first() is None:
                await connection.execute(text(f'CREATE DATABASE "{POSTGRES_DATABASE}"'))
    finally:
        await admin.dispose()


async def _counts(url: str) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        return await catalog_counts(engine)
    finally:
        await engine.dispose()


async def _seed(url: str) -> None:
    engine = create_async_engine(url)
    try:
        await seed_catalog(engine, products=PRODUCTS, seed=SEED, reset=True)
    finally:
        await engine.dispose()


async def _analyze(url: str, postgres: bool) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
    finally:
        await engine.dispose()
