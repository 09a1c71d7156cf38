"""Database engine and the per-request connection handle, with the write path.

Concurrency choice: each GraphQL request gets one `RequestDatabase`, which checks out at most one
connection from the pool, lazily, and serialises every statement on it with an asyncio.Lock. Sibling
resolvers run concurrently and their loaders dispatch in parallel tasks, so without the lock two tasks
could interleave on one connection. One connection per request bounds pool use to the number of
requests in flight (never to the number of loaders).

Writes: `async with db.transaction():` opens one transaction on that same connection, so every read of
the request while it is open (loaders included) runs inside it; `run_in_transaction` retries a unit of
work on a serialization failure or deadlock; `lock_rows` reads rows FOR UPDATE; work queued with
`after_commit` runs only once the transaction commits. See `RequestDatabase.transaction`.

Cancellation: a request that ends early (client gone, a deadline) still returns its connection. `close`
cancels a pool checkout still under way and statements still running for the request, discards a
connection whose statement was interrupted (its protocol state is unknown), and rolls back a transaction
left open; a statement asked for after `close` raises `RequestDatabaseClosed` instead of checking out.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Select, event, exc, make_url
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from app.db.driver_reads import DriverReads
from app.settings import Settings

__all__ = [
    "ISOLATION_LEVELS",
    "RequestDatabase",
    "RequestDatabaseClosed",
    "Transaction",
    "create_engine",
    "ensure_sqlite_folder",
    "is_retryable",
    "request_database",
]

T = TypeVar("T")

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

# PostgreSQL isolation levels a transaction may ask for; SQLite transactions are always serializable.
ISOLATION_LEVELS = ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")

# PostgreSQL's serialization_failure and deadlock_detected: the transaction may succeed when re-run.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

# run_in_transaction's pause before attempt n+1: RETRY_BACKOFF_SECONDS * 2**(n-1), times 0.5 to 1.5.
RETRY_BACKOFF_SECONDS = 0.01


SQLITE_LOCK_WAIT = 30.0  # seconds a writer waits for SQLite's write lock without a deadline


def _server_settings(statement_timeout: float | None) -> dict[str, str]:
    if statement_timeout is None:
        return SERVER_SETTINGS
    return {**SERVER_SETTINGS, "statement_timeout": str(int(statement_timeout * 1000))}


def create_engine(settings: Settings, *, statement_timeout: float | None = None) -> AsyncEngine:
    """Create the async engine with a pool sized from settings (PostgreSQL) or SQLite pragmas. On
    PostgreSQL, `statement_timeout` (seconds) stops any statement that runs longer; on SQLite, whose
    statements cannot be stopped while they wait for the write lock, a writer waits that long (and a
    second more, so the request's own deadline is what the client hears) before "database is locked".

    Bound parameters never appear in SQL logs or in error messages (`hide_parameters`): they carry
    password hashes and token digests.
    """
    if settings.is_sqlite:
        ensure_sqlite_folder(settings.database_url)
        lock_wait = SQLITE_LOCK_WAIT if statement_timeout is None else statement_timeout + 1
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": lock_wait},
            json_deserializer=orjson.loads,
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, busy_ms=int(lock_wait * 1000)))
        return engine
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=1800,
        json_deserializer=orjson.loads,
        connect_args={"server_settings": _server_settings(statement_timeout)},
        hide_parameters=True,
    )
    _ping_idle_connections(engine)
    return engine


# Where an engine keeps its DriverReads: on the engine itself, so both go in one collection (kept in a
# weak mapping instead, the compiled statements would outlive a dropped engine by one collector pass).
_DRIVER_READS_ATTRIBUTE = "_storefront_driver_reads"


def driver_reads_of(engine: AsyncEngine) -> DriverReads | None:
    """The compiled reads of an asyncpg engine, shared by its requests; None for other drivers."""
    if engine.dialect.driver != "asyncpg":
        return None
    found: DriverReads | None = getattr(engine.sync_engine, _DRIVER_READS_ATTRIBUTE, None)
    if found is None:
        found = DriverReads(engine.dialect)
        setattr(engine.sync_engine, _DRIVER_READS_ATTRIBUTE, found)
    return found


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()


class RequestDatabaseClosed(RuntimeError):
    """A statement was asked of a request's database after the request ended."""


class Transaction:
    """One level of `RequestDatabase.transaction()`: the outermost is the database transaction, an inner
    one a SAVEPOINT. Work queued with `after_commit` runs once the outermost level commits."""

    __slots__ = ("_after_commit", "depth", "savepoint")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.savepoint = f"sp_{depth}" if depth else None
        self._after_commit: list[Callable[[], object]] = []

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run `callback()` (a function, or a coroutine function, then awaited) once the transaction commits.

        Callbacks run in the order queued, right after COMMIT, each on its own: a failure is logged and
        affects neither the response nor the other callbacks. They never run after a rollback: those
        queued inside a savepoint that rolls back, or in an attempt `run_in_transaction` retries, are
        dropped with it.
        """
        self._after_commit.append(callback)


def is_retryable(error: BaseException) -> bool:
    """Whether re-running the whole transaction may succeed: a PostgreSQL serialization failure (40001)
    or deadlock (40P01), or SQLite's "database is locked" (another writer held the lock too long)."""
    if not isinstance(error, exc.DBAPIError):
        return False
    original = error.orig
    if getattr(original, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, exc.OperationalError) and "database is locked" in str(original)


class RequestDatabase:
    """One request's access to the database: a single lazily opened connection behind a lock.

    `dialect` names the database ("sqlite" or "postgresql") for the statements written differently on each.
    On PostgreSQL the connection runs in autocommit: a read needs no BEGIN and ROLLBACK round trips, and at
    READ COMMITTED every statement takes its own snapshot inside a transaction too. (SQLite's driver
    begins transactions only for writes.)

    Transactions are sent by this class as statements of their own (BEGIN, COMMIT, ROLLBACK, SAVEPOINT,
    RELEASE SAVEPOINT, ROLLBACK TO SAVEPOINT), not through SQLAlchemy's `begin()`: PostgreSQL stays in
    driver autocommit and the explicit BEGIN leaves it for the transaction's duration; on SQLite the
    explicit `BEGIN IMMEDIATE` takes the write lock at once (the driver's implicit BEGIN is deferred: two
    writers could both read, then one fail to write), and the driver begins nothing of its own inside it.
    Every statement that reaches the database thus goes through the cursor, where `app.db.sql_counter` sees it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        self._lock = asyncio.Lock()
        self._connection: AsyncConnection | None = None
        self._checkout_task: asyncio.Future[AsyncConnection] | None = None
        self._running: asyncio.Task[Any] | None = None  # the task whose statement is under way
        self._interrupted = False  # a statement was cancelled mid-flight: the connection's state is unknown
        self._sqlite: sqlite3.Connection | None = None  # on SQLite, the driver's connection, to interrupt
        self._closed = False
        self._transactions: list[Transaction] = []
        self._rollback_listeners: list[Callable[[], None]] = []
        self._driver_reads = driver_reads_of(engine)
        self._asyncpg: Any = None  # on PostgreSQL, the driver's connection, for `_driver_fetch`

    # -- statements ----------------------------------------------------------------------------

    async def fetch_all(self, statement: Executable, params: dict[str, Any] | None = None) -> Sequence[Row]:
        """Run one statement and return all its rows (inside the open transaction, if there is one).

        On PostgreSQL a read outside a transaction goes straight through asyncpg when it can (see
        `app.db.driver_reads`); its rows read like SQLAlchemy's: `row.column`, `row[0]`, `row._mapping`.
        """
        async with self._lock:
            if self._driver_reads is not None and not self._transactions:
                rows = await self._run(lambda connection: self._driver_fetch(connection, statement, params or {}))
                if rows is not None:
                    return rows  # type: ignore[return-value]
            return (await self._execute(statement, params)).all()

    async def _driver_fetch(self, connection: AsyncConnection, statement: Executable, params: dict[str, Any]) -> Any:
        assert self._driver_reads is not None and self._asyncpg is not None
        sync_connection = connection.sync_connection
        assert sync_connection is not None
        try:
            return await self._driver_reads.fetch(sync_connection, self._asyncpg, statement, params)
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                self._interrupted = True  # the connection died: `close` discards it, as SQLAlchemy would
            raise

    async def execute(self, statement: Executable, params: dict[str, Any] | None = None) -> int:
        """Run one write (INSERT, UPDATE, DELETE) inside the open transaction; the number of rows it touched.

        Writes outside `transaction()` are refused: on PostgreSQL each would commit on its own. For a write
        that returns rows (`.returning(...)`), use `fetch_all` inside the transaction.
        """
        if not self._transactions:
            raise RuntimeError("a write runs inside `async with db.transaction():`")
        async with self._lock:
            return (await self._execute(statement, params)).rowcount

    async def lock_rows(self, statement: Select[Any], params: dict[str, Any] | None = None) -> Sequence[Row]:
        """Read rows and lock them until the transaction ends: `SELECT ... FOR UPDATE` on PostgreSQL.

        SQLite has no row locks (SQLAlchemy leaves FOR UPDATE out there); its transactions begin with
        `BEGIN IMMEDIATE`, which holds the database's write lock from the start, so no other writer can
        read the rows and write them before this transaction ends. Either way, read before you write.
        """
        if not self._transactions:
            raise RuntimeError("rows are locked inside `async with db.transaction():`, until it ends")
        return await self.fetch_all(statement.with_for_update(), params)

    async def _execute(self, statement: Executable, params: dict[str, Any] | None) -> Any:
        """Run a statement on the request's connection; the caller holds the lock."""

        def send(connection: AsyncConnection) -> Awaitable[Any]:
            execution = connection.execute(statement, params or {})
            # decided once connected: `_sqlite` is known only after the first checkout
            if self._sqlite is not None and not self._transactions:
                return self._interruptible(execution)
            return execution

        return await self._run(send)

    async def _run(self, send: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Send something on the request's connection, keeping track of what is under way; the caller
        holds the lock."""
        if self._closed:
            raise RequestDatabaseClosed("the request ended; its database takes no more statements")
        connection = self._connection or await self._connect()
        self._running = asyncio.current_task()
        try:
            return await send(connection)
        except Exception:
            raise  # the database answered with an error: the connection is in a known state
        except BaseException:
            self._interrupted = True  # cancelled (or closed) while the driver waited for the database
            raise
        finally:
            self._running = None

    async def _interruptible(self, execution: Awaitable[T]) -> T:
        """Run an SQLite statement so that cancelling the request stops it at once.

        aiosqlite runs statements in a thread of its own, and SQLAlchemy's adapter, when its wait is
        cancelled, waits for the statement to end before it lets the cancellation through: a cancelled
        search would keep a core busy and the request waiting. So the statement runs in a task of its
        own; on cancellation sqlite3's `interrupt` (safe from another thread) stops it, and then the
        cancellation goes on. (asyncpg cancels a PostgreSQL query itself.)

        Only reads outside a transaction are interrupted: SQLite rolls back the whole transaction when it
        interrupts a statement in one, and the driver would then begin a new one behind the request's back.
        A statement inside a transaction runs to its end, and the transaction decides. `interrupt` does
        nothing before the statement starts (the adapter makes its cursor first), so it is repeated
        until the statement has ended.
        """
        assert self._sqlite is not None
        running = asyncio.ensure_future(execution)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            await self._stop(running)
            raise

    async def _stop(self, running: asyncio.Future[Any]) -> None:
        """Interrupt an SQLite statement until it has ended, also when cancelled again meanwhile (`close`
        cancels the request's statement too): the connection must be quiet before it is released."""
        assert self._sqlite is not None
        while not running.done():
            self._sqlite.interrupt()
            try:
                await asyncio.wait([running], timeout=0.01)
            except asyncio.CancelledError:
                continue  # the caller re-raises its cancellation once the statement has stopped
        if not running.cancelled():
            running.exception()  # retrieved: "interrupted", or the statement had just finished

    async def _control(self, sql: str) -> None:
        """Send one transaction-control statement (BEGIN, COMMIT, SAVEPOINT, ...)."""
        async with self._lock:
            await self._run(lambda connection: connection.exec_driver_sql(sql))

    # -- transactions --------------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether `transaction()` is open."""
        return bool(self._transactions)

    @asynccontextmanager
    async def transaction(self, isolation: str | None = None) -> AsyncIterator[Transaction]:
        """One transaction on the request's connection: COMMIT when the block ends, ROLLBACK when it raises.

        Every statement of the request while the block is open runs inside the transaction, loaders
        included (the lock is held per statement, never for the whole block). `isolation` is one of
        `ISOLATION_LEVELS` on PostgreSQL (READ COMMITTED when not given); SQLite is always serializable
        and ignores it. Nested, `transaction()` is a SAVEPOINT: its block rolls back alone when it raises
        (the exception still propagates) and its after-commit work joins the outer transaction's.
        After any rollback the listeners given to `on_rollback` run (the request's loaders clear their
        caches: they may hold rows the rollback undid).
        """
        depth = len(self._transactions)
        if depth and isolation is not None:
            raise ValueError("a savepoint runs at its transaction's isolation level")
        if isolation is not None and isolation not in ISOLATION_LEVELS:
            raise ValueError(f"isolation must be one of {ISOLATION_LEVELS}, not {isolation!r}")
        transaction = Transaction(depth)
        await self._control(self._begin_sql(isolation) if depth == 0 else f"SAVEPOINT {transaction.savepoint}")
        self._transactions.append(transaction)
        try:
            yield transaction
        except GeneratorExit:
            raise  # the coroutine was closed, nothing may be awaited: `close` rolls the transaction back
        except BaseException:
            del self._transactions[depth:]
            await self._rollback(transaction)
            raise
        del self._transactions[depth:]
        if depth:
            await self._end_savepoint(transaction)
            return
        try:
            await self._control("COMMIT")
        except BaseException:
            await self._rollback(transaction)
            raise
        await _run_after_commit(transaction._after_commit)

    async def run_in_transaction(
        self, work: Callable[[RequestDatabase], Awaitable[T]], *, attempts: int = 3, isolation: str | None = None
    ) -> T:
        """Run `await work(db)` in a transaction of its own, re-run from scratch (up to `attempts` times in
        all, after a short jittered pause) when it fails with a serialization failure or deadlock
        (`is_retryable`). A failed attempt is rolled back: its after-commit work is dropped and the
        loaders' caches cleared. Any other error, or the last attempt's, propagates.
        """
        if self._transactions:
            raise RuntimeError("run_in_transaction begins the transaction; it cannot run inside another one")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        for attempt in range(1, attempts + 1):
            try:
                async with self.transaction(isolation):
                    return await work(self)
            except Exception as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                log.info("transaction attempt %d of %d failed (%s); retrying", attempt, attempts, _reason(error))
            await asyncio.sleep(RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Queue work on the innermost open transaction; see `Transaction.after_commit`."""
        if not self._transactions:
            raise RuntimeError("after-commit work is queued inside `async with db.transaction():`")
        self._transactions[-1].after_commit(callback)

    def on_rollback(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every rollback of this request's transactions (savepoints included)."""
        self._rollback_listeners.append(listener)

    def _begin_sql(self, isolation: str | None) -> str:
        if self.dialect == "sqlite":
            return "BEGIN IMMEDIATE"
        return f"BEGIN ISOLATION LEVEL {isolation}" if isolation else "BEGIN"

    async def _end_savepoint(self, savepoint: Transaction) -> None:
        try:
            await self._control(f"RELEASE SAVEPOINT {savepoint.savepoint}")
        except BaseException:
            await self._rollback(savepoint)
            raise
        self._transactions[-1]._after_commit.extend(savepoint._after_commit)

    async def _rollback(self, transaction: Transaction) -> None:
        """Roll back a transaction or savepoint whose block failed; the block's error stays the one raised."""
        sql = f"ROLLBACK TO SAVEPOINT {transaction.savepoint}" if transaction.depth else "ROLLBACK"
        try:
            await self._control(sql)
        except Exception as error:  # a dead connection: `close` discards it
            log.warning("could not roll back: %s", type(error).__name__)
            self._interrupted = True
            if transaction.depth:  # the outer transaction cannot be trusted either
                self._transactions.clear()
        finally:
            for listener in list(self._rollback_listeners):
                listener()

    # -- the connection ------------------------------------------------------------------------

    async def _connect(self) -> AsyncConnection:
        """Check a connection out of the pool, in a task of its own.

        The planned executor drives resolvers inside the request's task, and SQLAlchemy's pool timeout
        (asyncio.timeout) cancels the *current* task when it expires, which must be this one, not the
        whole request. The task is kept: should the request end while it runs, `close` waits for it
        and returns the connection it got.
        """
        task = self._checkout_task = asyncio.ensure_future(self._checkout())
        return await task

    async def _checkout(self) -> AsyncConnection:
        # Kept on self at once: should the request be cancelled now, `close` still returns it to the pool.
        connection = self._connection = await self._engine.connect()
        if self.dialect == "postgresql":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            if self._driver_reads is not None:
                self._asyncpg = (await connection.get_raw_connection()).driver_connection
        elif self.dialect == "sqlite":
            raw = await connection.get_raw_connection()
            self._sqlite = raw.driver_connection._conn  # type: ignore[union-attr]  # aiosqlite's sqlite3 connection
        return connection

    async def release_connection(self) -> None:
        """Return the connection to the pool between transactions, before waiting on something slow (a
        payment gateway); the next statement checks one out again."""
        if self._transactions:
            raise RuntimeError("the connection is released between transactions, not inside one")
        async with self._lock:
            connection, self._connection = self._connection, None
            self._asyncpg = self._sqlite = None
            if connection is not None:
                await self._release(connection)
            self._interrupted = False

    async def close(self) -> None:
        """Return the connection to the pool, whatever state the request left it in.

        Takes no more statements; cancels a statement another task still runs for this request (a loader
        batch the request no longer waits for) and a pool checkout still under way; rolls back a
        transaction left open; discards a connection whose statement was interrupted, or that died
        mid-request (the database went away). Never raises for the connection: the response was already
        decided by the resolvers' errors.
        """
        self._closed = True
        self._rollback_listeners.clear()
        running = self._running
        if running is not None and running is not asyncio.current_task() and not running.done():
            running.cancel()
        async with self._lock:
            checkout, self._checkout_task = self._checkout_task, None
            if checkout is not None and not checkout.done():
                checkout.cancel()
                await asyncio.wait([checkout])
            if checkout is not None and not checkout.cancelled():
                checkout.exception()  # retrieved: the request reported it, or never waited for it
            connection, self._connection = self._connection, None
            if connection is not None:
                await self._release(connection)

    async def _release(self, connection: AsyncConnection) -> None:
        if self._transactions and not self._interrupted:
            try:
                await connection.exec_driver_sql("ROLLBACK")
            except Exception:
                self._interrupted = True
        self._transactions.clear()
        try:
            if self._interrupted:
                await connection.invalidate()
            await connection.close()
        except Exception as exc:  # the pool invalidates the dead connection itself
            log.warning("could not return a connection to the pool: %s", type(exc).__name__)


async def _run_after_commit(callbacks: list[Callable[[], object]]) -> None:
    for callback in callbacks:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("after-commit work %r failed", callback)


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) or str(original or error).splitlines()[0]


@asynccontextmanager
async def request_database(engine: AsyncEngine) -> AsyncIterator[RequestDatabase]:
    """Open a RequestDatabase for the duration of one request and always release it."""
    database = RequestDatabase(engine)
    try:
        yield database
    finally:
        await database.close()
