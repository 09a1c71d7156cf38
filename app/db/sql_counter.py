"""Count the statements an engine sends to its database, transaction control included.

One counter for the tests and the benchmark. It records, in order, every statement that reaches the
database while it is attached:

- statements sent through a cursor (`before_cursor_execute`): queries, and the BEGIN, COMMIT,
  ROLLBACK, SAVEPOINT and RELEASE that `RequestDatabase` sends itself;
- transaction control a driver sends on its own, which no cursor event shows: asyncpg's BEGIN before
  the first statement of a transaction and its COMMIT/ROLLBACK, and sqlite3's implicit BEGIN before a
  write and COMMIT/ROLLBACK. These are read from the driver's state when SQLAlchemy's `commit`,
  `rollback` and pool `reset` events fire, so a connection in autocommit (where SQLAlchemy still fires
  those events but nothing reaches the database) adds nothing.

Connection setup is not request traffic and is not counted: the PRAGMAs run on connect
(`app.db.database._sqlite_pragmas`, on the raw driver connection) and the dialect's first-connect queries happen
before a test or benchmark resets the counter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["StatementCounter", "counting"]

# sqlite3 (legacy transaction control) begins a transaction implicitly before these, outside autocommit.
_SQLITE_IMPLICIT_BEGIN = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class StatementCounter:
    """The statements one engine sent while attached, as SQL text in order (see the module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        self._driver = engine.dialect.driver
        self._listeners: list[tuple[Any, str, Callable[..., Any]]] = [
            (engine.sync_engine, "before_cursor_execute", self._cursor_execute),
            (engine.sync_engine, "commit", self._commit),
            (engine.sync_engine, "rollback", self._rollback),
            (engine.sync_engine.pool, "reset", self._pool_reset),
        ]

    @property
    def count(self) -> int:
        """How many statements reached the database."""
        return len(self.statements)

    def reset(self) -> None:
        """Forget what was counted so far."""
        self.statements.clear()

    def attach(self) -> StatementCounter:
        """Start counting."""
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)
        return self

    def detach(self) -> None:
        """Stop counting."""
        for target, name, listener in self._listeners:
            if event.contains(target, name, listener):
                event.remove(target, name, listener)

    # -- listeners -------------------------------------------------------------------------------

    def _cursor_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self._driver_begins(conn.connection.dbapi_connection, statement):
            self.statements.append("BEGIN")
        self.statements.append(statement)

    def _commit(self, conn: Any) -> None:
        if self._driver_in_transaction(conn.connection.dbapi_connection):
            self.statements.append("COMMIT")

    def _rollback(self, conn: Any) -> None:
        if self._driver_in_transaction(conn.connection.dbapi_connection):
            self.statements.append("ROLLBACK")

    def _pool_reset(self, dbapi_connection: Any, _record: Any, reset_state: Any) -> None:
        # the pool rolls back on return unless the Connection already did (its `rollback` event counted it)
        if reset_state.transaction_was_reset or reset_state.terminate_only or not reset_state.asyncio_safe:
            return
        if self._driver_in_transaction(dbapi_connection):
            self.statements.append("ROLLBACK")

    # -- driver state ----------------------------------------------------------------------------

    def _driver_begins(self, dbapi_connection: Any, statement: str) -> bool:
        """Whether the driver sends a BEGIN of its own before this statement."""
        if self._driver == "asyncpg":
            return not dbapi_connection.autocommit and dbapi_connection._transaction is None
        if self._driver in ("aiosqlite", "pysqlite"):
            return (
                dbapi_connection.isolation_level is not None
                and statement.lstrip().upper().startswith(_SQLITE_IMPLICIT_BEGIN)
                and not _sqlite_in_transaction(dbapi_connection)
            )
        return False

    def _driver_in_transaction(self, dbapi_connection: Any) -> bool:
        """Whether the database has a transaction open on this connection (so COMMIT/ROLLBACK reach it)."""
        if self._driver == "asyncpg":
            return dbapi_connection._transaction is not None
        if self._driver in ("aiosqlite", "pysqlite"):
            return _sqlite_in_transaction(dbapi_connection)
        return False


def _sqlite_in_transaction(dbapi_connection: Any) -> bool:
    raw = getattr(dbapi_connection, "_connection", dbapi_connection)  # aiosqlite adapter -> aiosqlite
    raw = getattr(raw, "_conn", raw)  # aiosqlite -> sqlite3
    return bool(raw.in_transaction)


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[StatementCounter]:
    """Count an engine's statements for the duration of the block."""
    counter = StatementCounter(engine).attach()
    try:
        yield counter
    finally:
        counter.detach()
