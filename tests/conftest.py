"""Test fixtures: a real database per backend (SQLite file and a fresh PostgreSQL database), migrated and
seeded once per session, an in-process ASGI client, and its engine's SQL statement counter
(`app.db.sql_counter`, shared with the benchmark)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.asgi import create_app
from app.catalog.seed import seed_catalog
from app.db import migrate
from app.db.sql_counter import StatementCounter
from app.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
ALL_BACKENDS = ("sqlite", "postgresql")
CATALOG_PRODUCTS = 60
CATALOG_SEED = 7


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=os.environ.get("TEST_BACKENDS", ",".join(ALL_BACKENDS)),
        help="comma-separated databases to run the suite on: sqlite,postgresql",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b.strip() for b in metafunc.config.getoption("--backends").split(",") if b.strip()]
        unknown = set(chosen) - set(ALL_BACKENDS)
        if unknown:
            raise pytest.UsageError(f"unknown backend(s): {', '.join(sorted(unknown))}")
        metafunc.parametrize("backend", chosen, scope="session")


@asynccontextmanager
async def fresh_database(backend: str, tmp_dir: Path) -> AsyncIterator[str]:
    """Create an empty database of the backend for the duration of the block and drop it afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_dir / f'{uuid.uuid4().hex}.db'}"
        return
    name = f"storefront_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test app on the given database."""
    overrides.setdefault("rate_limit_points", 0)  # the suite's requests all come from one address
    return Settings(database_url=database_url, environment="test", db_pool_size=3, db_max_overflow=2, **overrides)


@pytest.fixture(scope="session")
async def catalog_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated database with a small deterministic catalog, shared by read-only tests."""
    async with fresh_database(backend, tmp_path_factory.mktemp(backend)) as url:
        migrate.upgrade(url)
        engine = create_async_engine(url)
        try:
            await seed_catalog(engine, products=CATALOG_PRODUCTS, seed=CATALOG_SEED)
        finally:
            await engine.dispose()
        yield url


@pytest.fixture
async def empty_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated, empty database for a test that writes."""
    async with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        yield url


@dataclass
class Api:
    """An in-process client of one app, with its engine's statement counter."""

    client: httpx.AsyncClient
    engine: AsyncEngine
    sql: StatementCounter
    last_cost: dict[str, Any] | None = field(default=None)

    async def query(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """POST a GraphQL operation and return the decoded JSON body (status must be 200), without its
        `extensions.cost`: that is checked for consistency and kept in `last_cost`."""
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = await self.client.post("/graphql", json=body, **kwargs)
        assert response.status_code == 200, response.text
        payload = response.json()
        self.last_cost = take_cost(payload)
        return payload

    async def counted(self, query: str, variables: dict[str, Any] | None = None) -> tuple[dict[str, Any], int]:
        """Run a query and return its JSON with the number of SQL statements it took."""
        self.sql.reset()
        result = await self.query(query, variables)
        return result, self.sql.count


def take_cost(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Remove `extensions.cost` from a response (dropping `extensions` if nothing else is in it) and return
    it, after checking it holds together: the actual cost is never above the requested one."""
    extensions = payload.get("extensions")
    if not isinstance(extensions, dict) or "cost" not in extensions:
        return None
    cost = extensions.pop("cost")
    if not extensions:
        del payload["extensions"]
    assert isinstance(cost["requestedQueryCost"], int) and isinstance(cost["actualQueryCost"], int), cost
    assert 0 <= cost["actualQueryCost"] <= cost["requestedQueryCost"], cost
    return cost


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Api]:
    """Run an app in-process (lifespan included) and yield a client for it."""
    app = create_app(settings)
    engine: AsyncEngine = app.state.engine
    counter = StatementCounter(engine).attach()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(client, engine, counter)


@pytest.fixture(scope="session", params=["fast", "reference"])
def executor(request: pytest.FixtureRequest) -> str:
    """Which executor runs the operations: the planned fast path or graphql-core's reference one."""
    return request.param


@pytest.fixture(scope="session")
async def api(catalog_url: str, executor: str) -> AsyncIterator[Api]:
    """A client of an app on the shared seeded catalog, once per backend and executor."""
    async with serve(settings_for(catalog_url, fast_executor=executor == "fast")) as running:
        yield running


@pytest.fixture
def sqlite_only(backend: str) -> Iterator[None]:
    if backend != "sqlite":
        pytest.skip("this behaviour is specific to SQLite")
    yield


@asynccontextmanager
async def seeded_database(
    backend: str, tmp_dir: Path, *, products: int, seed: int, stock: int | None = None
) -> AsyncIterator[str]:
    """A fresh, migrated database with a seeded catalog for a test module that writes; with `stock`, every
    variant holds that many, so the module's tests choose when one runs out."""
    async with fresh_database(backend, tmp_dir) as url:
        migrate.upgrade(url)
        engine = create_async_engine(url)
        try:
            await seed_catalog(engine, products=products, seed=seed)
            if stock is not None:
                async with engine.begin() as connection:
                    await connection.execute(
                        text("UPDATE product_variants SET stock_quantity = :stock"), {"stock": stock}
                    )
        finally:
            await engine.dispose()
        yield url
