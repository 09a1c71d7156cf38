"""SQL statements per request, counted exactly: each workload runs once in-process on both apps.

The GraphQL app's statements are counted by `app.db.sql_counter` (the tests' counter: every statement that
reaches the database, transaction control included); the limit app counts its own fetches. The bodies of
both are compared here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from app.asgi import create_app
from app.db.sql_counter import StatementCounter
from app.settings import Settings
from bench import limit_server
from bench.load import check_answers
from bench.workloads import WORKLOADS

__all__ = ["StatementCounts", "count_statements"]


@dataclass(frozen=True)
class StatementCounts:
    graphql: int
    limit: int


async def count_statements(
    database_url: str, variables: dict[str, dict[str, Any] | None]
) -> dict[str, StatementCounts]:
    """Per workload, the statements one request runs on each app; GateFailure when a body differs or has errors."""
    graphql_app = create_app(Settings(database_url=database_url, environment="test", log_level="WARNING"))
    counter = StatementCounter(graphql_app.state.engine).attach()
    limit_app = limit_server.create_app(database_url)
    limit_database: limit_server.Database = limit_app.state.database
    counts: dict[str, StatementCounts] = {}
    async with graphql_app.router.lifespan_context(graphql_app), limit_app.router.lifespan_context(limit_app):
        graphql = httpx.AsyncClient(transport=httpx.ASGITransport(app=graphql_app), base_url="http://bench")
        limit = httpx.AsyncClient(transport=httpx.ASGITransport(app=limit_app), base_url="http://bench")
        async with graphql, limit:
            for workload in WORKLOADS:
                body = workload.body(variables[workload.key])
                headers = {"content-type": "application/json"}
                for _ in range(2):  # the second request is the steady state (pool open, caches warm)
                    counter.reset()
                    answer = await graphql.post("/graphql", content=body, headers=headers)
                    graphql_count = counter.count
                    before = limit_database.statements
                    limit_answer = await limit.post(f"/{workload.key}", content=body, headers=headers)
                    limit_count = limit_database.statements - before
                check_answers(answer, limit_answer, workload.key)
                counts[workload.key] = StatementCounts(graphql_count, limit_count)
    return counts
