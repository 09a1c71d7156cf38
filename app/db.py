"""Database engine and the per-request connection handle.

Concurrency choice: each GraphQL request gets one `RequestDatabase`, which checks out at most one
connection from the pool, lazily, and serialises every statement on it with an asyncio.Lock. Sibling
resolvers run concurrently and their loaders dispatch in parallel tasks, so without the lock two tasks
could interleave on one connection. One connection per request bounds pool use to the number of
requests in flight (never to the number of loaders), and mutations later share the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, exc, make_url
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from app.settings import Settings

__all__ = ["RequestDatabase", "create_engine", "ensure_sqlite_folder"]

log = logging.getLogger("storefront.db")

# Custom plans: PostgreSQL plans a prepared statement with its parameter values on every execution. After
# five executions it may switch to a generic plan, which cannot know a search's LIKE patterns, a LIMIT or
# how many rows a status matches: the W3 search went from 2.7 to 19-28 ms per execution on a generic
# plan (a sort of every match instead of walking the price index). Planning each time costs a few
# hundredths of a millisecond per statement.
SERVER_SETTINGS = {"application_name": "storefront", "plan_cache_mode": "force_custom_plan"}

# A pooled connection idle for longer than this is pinged before it is handed out. SQLAlchemy's
# pool_pre_ping pings on every checkout: a round trip per request, for connections used a moment ago.
PING_AFTER_IDLE_SECONDS = 5.0


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the async engine with a pool sized from settings (PostgreSQL) or SQLite pragmas."""
    if settings.is_sqlite:
        ensure_sqlite_folder(settings.database_url)
        engine = create_async_engine(
            settings.database_url, connect_args={"timeout": 30}, json_deserializer=orjson.loads
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=1800,
        json_deserializer=orjson.loads,
        connect_args={"server_settings": SERVER_SETTINGS},
    )
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use when it sat idle, and replace it when the ping fails.

    This is SQLAlchemy's "pessimistic disconnect handling" recipe: a DisconnectionError raised in the
    checkout event makes the pool discard that connection and check out (or open) another.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def remember_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"idle connection failed its ping: {type(error).__name__}") from error


def ensure_sqlite_folder(database_url: str) -> None:
    """Create the folder of an SQLite database file (var/ on a fresh checkout); no-op for other URLs."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class RequestDatabase:
    """One request's access to the database: a single lazily opened connection behind a lock.

    `dialect` names the database ("sqlite" or "postgresql") for the statements written differently on each.
    On PostgreSQL the connection runs in autocommit: a read needs no BEGIN and ROLLBACK round trips, and at
    READ COMMITTED every statement takes its own snapshot inside a transaction too. (SQLite's driver
    begins transactions only for writes.) Writes will take an explicit transaction.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        self._lock = asyncio.Lock()
        self._connection: AsyncConnection | None = None

    async def fetch_all(self, statement: Executable, params: dict[str, Any] | None = None) -> Sequence[Row]:
        """Run one statement and return all its rows."""
        async with self._lock:
            connection = self._connection or await self._connect()
            result = await connection.execute(statement, params or {})
            return result.all()

    async def _connect(self) -> AsyncConnection:
        """Check a connection out of the pool, in a task of its own.

        The planned executor drives resolvers inside the request's task, and SQLAlchemy's pool timeout
        (asyncio.timeout) cancels the *current* task when it expires, which must be this one, not the
        whole request.
        """
        return await asyncio.ensure_future(self._checkout())

    async def _checkout(self) -> AsyncConnection:
        # Kept on self at once: should the request be cancelled now, `close` still returns it to the pool.
        connection = self._connection = await self._engine.connect()
        if self.dialect == "postgresql":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection

    async def close(self) -> None:
        """Return the connection to the pool, rolling back whatever a read left open.

        A connection that died mid-request (the database went away) is dropped, never raised: the
        response was already decided by the resolvers' errors.
        """
        async with self._lock:
            if self._connection is not None:
                connection, self._connection = self._connection, None
                try:
                    await connection.close()
                except Exception as exc:  # the pool invalidates the dead connection itself
                    log.warning("could not return a connection to the pool: %s", type(exc).__name__)


@asynccontextmanager
async def request_database(engine: AsyncEngine) -> AsyncIterator[RequestDatabase]:
    """Open a RequestDatabase for the duration of one request and always release it."""
    database = RequestDatabase(engine)
    try:
        yield database
    finally:
        await database.close()
