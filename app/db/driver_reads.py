"""PostgreSQL reads sent straight through asyncpg, with rows that read like SQLAlchemy's.

Every loader runs a SELECT built once with SQLAlchemy. Executing it through SQLAlchemy cost more than the
database did: per statement its execution context and result machinery (0.4 ms for the 400 variants of a
listing), and per value read its Row's attribute lookup (0.5 µs, as much as asyncpg took to decode the
value). Here a statement is compiled once per shape (SQLAlchemy's own cache key, so statements built per
request share it), its parameters bound as SQLAlchemy binds them, and it is sent with asyncpg's `fetch`,
which prepares it once per connection. Rows are asyncpg Records of a class made per shape, each column a
property reading its position: `row.sku` costs a tuple index, and `row["sku"]`, `row[2]` work too.

A statement goes this way only when SQLAlchemy would add nothing to its result: a SELECT without parameters
rendered at execution (expanding IN, literal execute), whose column names are its selected columns' keys,
and where no column's type processes results on asyncpg (decided once per shape, from the types PostgreSQL
reports for it). Any other statement returns None from `fetch`, and the caller takes SQLAlchemy's path.
The engine's `before_cursor_execute` and `after_cursor_execute` listeners (`app.db.sql_counter`) see these
statements as they see a cursor's (with no cursor or execution context), and errors are raised as SQLAlchemy
raises them (`DBAPIError` subclasses, `connection_invalidated` when the connection died).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import asyncpg
from sqlalchemy import Select, exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["DriverReads", "DriverRow"]

SHAPES_KEPT = 1000  # statement shapes a process keeps compiled (an application has a few dozen)


class DriverRow(asyncpg.Record):
    """The base of the row classes made per statement shape (see the module docstring)."""

    @property
    def _mapping(self) -> DriverRow:
        """The row as a mapping of column names to values, as SQLAlchemy's `Row._mapping`."""
        return self


@functools.lru_cache(maxsize=SHAPES_KEPT)
def _row_class(columns: tuple[str, ...]) -> type[DriverRow]:
    """The row class of a list of column names, shared by every engine: a class is cyclic garbage once
    dropped, so classes are kept for the process instead of made per engine."""
    attributes = {name: property(itemgetter(index)) for index, name in enumerate(columns)}
    return type("Row", (DriverRow,), attributes)


@dataclass(slots=True)
class _Shape:
    """One statement shape, compiled: its SQL, how to bind its parameters, and its row class."""

    compiled: SQLCompiler
    sql: str
    names: tuple[str, ...]  # the bind parameters in positional order
    processors: tuple[Callable[[Any], Any] | None, ...]
    row_class: type[DriverRow]
    checked: bool = False  # whether PostgreSQL's result types were checked for SQLAlchemy result processing


class DriverReads:
    """The compiled statement shapes of one engine, and reads through them (see the module docstring)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._shapes: OrderedDict[Any, _Shape | None] = OrderedDict()

    async def fetch(
        self, connection: Connection, driver: asyncpg.Connection, statement: Any, params: dict[str, Any]
    ) -> Sequence[DriverRow] | None:
        """The rows of a SELECT, read through the asyncpg connection `driver` under the SQLAlchemy connection
        `connection`; None when the statement must take SQLAlchemy's path instead (nothing was sent)."""
        if not isinstance(statement, Select):
            return None
        cache_key = statement._generate_cache_key()
        if cache_key is None:
            return None
        shape = self._shape(statement, cache_key)
        if shape is None:
            return None
        if not shape.checked:
            try:
                fits = await self._check(shape, statement, driver, cache_key)
            except Exception as error:
                raise self._translated(connection, error, shape.sql, []) from error
            if not fits:
                return None
        # unescaped names, as in `positiontup` (SQLAlchemy's execution context binds them so too)
        bound = shape.compiled.construct_params(params, extracted_parameters=cache_key.bindparams, escape_names=False)
        args = [
            bound[name] if process is None else process(bound[name])
            for name, process in zip(shape.names, shape.processors, strict=True)
        ]
        listened = connection._has_events or connection.engine._has_events
        if listened:
            for before in connection.dispatch.before_cursor_execute:
                before(connection, None, shape.sql, args, None, False)
        try:
            rows = await driver.fetch(shape.sql, *args, record_class=shape.row_class)
        except Exception as error:
            raise self._translated(connection, error, shape.sql, args) from error
        if listened:
            for after in connection.dispatch.after_cursor_execute:
                after(connection, None, shape.sql, args, None, False)
        return rows  # type: ignore[no-any-return]

    def _translated(self, connection: Connection, error: Exception, sql: str, args: list[Any]) -> exc.StatementError:
        """The error SQLAlchemy would raise for a driver error: its DBAPIError subclass (IntegrityError,
        DataError, ...), `connection_invalidated` when the connection is gone (the caller discards it)."""
        adapted: Any = connection.connection.dbapi_connection
        try:
            adapted._handle_exception(error)  # raises the adapter's DB-API form of the asyncpg error
        except Exception as translated:
            dbapi_error = self.dialect.loaded_dbapi.Error
            disconnect = isinstance(translated, dbapi_error) and self.dialect.is_disconnect(translated, adapted, None)
            return exc.DBAPIError.instance(
                sql,
                args,
                translated,
                dbapi_error,
                hide_parameters=connection.engine.hide_parameters,
                connection_invalidated=disconnect,
                dialect=self.dialect,
            )
        raise AssertionError("unreachable: the adapter always raises")  # pragma: no cover

    def _shape(self, statement: Select[Any], cache_key: Any) -> _Shape | None:
        key = cache_key.key  # the hashable part (its bind parameters are the statement's values)
        if key in self._shapes:
            self._shapes.move_to_end(key)
            return self._shapes[key]
        shape = self._compile(statement, cache_key)
        self._shapes[key] = shape
        if len(self._shapes) > SHAPES_KEPT:
            self._shapes.popitem(last=False)
        return shape

    def _compile(self, statement: Select[Any], cache_key: Any) -> _Shape | None:
        compiled = statement.compile(dialect=self.dialect, cache_key=cache_key)
        assert isinstance(compiled, SQLCompiler)
        if compiled.post_compile_params or compiled.literal_execute_params or compiled.positiontup is None:
            return None
        names = tuple(compiled.positiontup)
        processors = tuple(
            compiled.binds[name].type.dialect_impl(self.dialect).bind_processor(self.dialect) for name in names
        )
        columns = list(statement.selected_columns.keys())
        if len(set(columns)) != len(columns):
            return None
        return _Shape(compiled, compiled.string, names, processors, _row_class(tuple(columns)))

    def _bind_processor(self, type_: Any) -> Callable[[Any], Any] | None:
        return type_.dialect_impl(self.dialect).bind_processor(self.dialect)  # type: ignore[no-any-return]

    async def _check(self, shape: _Shape, statement: Select[Any], driver: asyncpg.Connection, cache_key: Any) -> bool:
        """Whether PostgreSQL names the result columns as SQLAlchemy does and no column's type would process
        its values; a shape that fails goes SQLAlchemy's way from then on."""
        described = (await driver.prepare(shape.sql)).get_attributes()
        fits = [attribute.name for attribute in described] == list(statement.selected_columns.keys()) and all(
            self._processes_nothing(column.type, attribute.type.oid)
            for column, attribute in zip(statement.selected_columns, described, strict=True)
        )
        if fits:
            shape.checked = True
        else:
            self._shapes[cache_key.key] = None
        return fits

    def _processes_nothing(self, type_: Any, oid: int) -> bool:
        try:
            return type_.dialect_impl(self.dialect).result_processor(self.dialect, oid) is None  # type: ignore[no-any-return]
        except Exception:  # e.g. a numeric type SQLAlchemy does not know for that column
            return False
