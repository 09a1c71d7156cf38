"""SQL statements per request, counted exactly: each workload runs once in-process on both apps.

The GraphQL app's statements are counted by `app.db.sql_counter` (the tests' counter: every statement that
reaches the database, transaction control included); the limit app counts its own statements. The bodies of
both are compared here too. W4 requests each get a fresh cart, made beforehand on an engine of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.asgi import create_app
from app.db.sql_counter import StatementCounter
from app.settings import Settings
from bench import limit_server
from bench.carts import check_cart_limits, delete_carts, make_carts
from bench.load import check_answers
from bench.workloads import Workload

__all__ = ["StatementCounts", "count_statements"]


@dataclass(frozen=True)
class StatementCounts:
    graphql: int
    limit: int


async def count_statements(
    database_url: str, variables: dict[str, dict[str, Any] | None], workloads: list[Workload]
) -> dict[str, StatementCounts]:
    """Per workload, the statements one request runs on each app; GateFailure when a body differs or has errors."""
    check_cart_limits()
    graphql_app = create_app(Settings(database_url=database_url, environment="test", log_level="WARNING"))
    counter = StatementCounter(graphql_app.state.engine).attach()
    limit_app = limit_server.create_app(database_url)
    limit_database: limit_server.Database = limit_app.state.database
    carts_engine = create_async_engine(database_url)
    counts: dict[str, StatementCounts] = {}
    async with graphql_app.router.lifespan_context(graphql_app), limit_app.router.lifespan_context(limit_app):
        graphql = httpx.AsyncClient(transport=httpx.ASGITransport(app=graphql_app), base_url="http://bench")
        limit = httpx.AsyncClient(transport=httpx.ASGITransport(app=limit_app), base_url="http://bench")
        async with graphql, limit:
            try:
                for workload in workloads:
                    headers = {"content-type": "application/json"}
                    for _ in range(2):  # the second request is the steady state (pool open, caches warm)
                        cart_ids = await _cart_pair(carts_engine) if workload.fresh_cart else None
                        graphql_body, limit_body = _bodies(workload, variables[workload.key], cart_ids)
                        counter.reset()
                        answer = await graphql.post("/graphql", content=graphql_body, headers=headers)
                        graphql_count = counter.count
                        before = limit_database.statements
                        limit_answer = await limit.post(f"/{workload.key}", content=limit_body, headers=headers)
                        limit_count = limit_database.statements - before
                    check_answers(workload, answer, limit_answer, workload.key, cart_ids)
                    counts[workload.key] = StatementCounts(graphql_count, limit_count)
            finally:
                await delete_carts(carts_engine)
                await carts_engine.dispose()
    return counts


async def _cart_pair(engine: AsyncEngine) -> tuple[str, str]:
    """Two fresh carts: one for each app."""
    graphql_cart, limit_cart = await make_carts(engine, 2)
    return graphql_cart, limit_cart


def _bodies(
    workload: Workload, variables: dict[str, Any] | None, cart_ids: tuple[str, str] | None
) -> tuple[bytes, bytes]:
    """The request of each app: the same, or on a fresh-cart workload each on its own cart."""
    if cart_ids is None:
        body = workload.body(variables)
        return body, body
    return workload.body(variables, cart_ids[0]), workload.body(variables, cart_ids[1])
