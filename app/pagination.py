"""Keyset pagination: validated page windows, opaque cursors and the SQL that applies them.

A cursor encodes the sort key's name, the sort column's value and the row id, so the next page starts
with `WHERE (key, id) > (:value, :id)` on an index instead of an OFFSET that grows with the page number.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from app.errors import UserInputError

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "Keyset",
    "Page",
    "PageArgs",
    "Window",
    "encode_cursor",
    "keyset_page",
    "partitioned_pages",
    "validate_window",
]

DEFAULT_PAGE_SIZE = 20
MAX_CURSOR_LENGTH = 500


@dataclass(frozen=True)
class PageArgs:
    """The Relay arguments as the client sent them."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(frozen=True, eq=False)
class Keyset:
    """A total order: one sort column (or none) followed by the primary key, in one direction.

    Equal keysets (same name, columns and direction) share loaders, so equality is by identity of
    the columns: comparing SQL columns with == would build an expression, not a bool.
    """

    name: str
    key: ColumnElement[Any] | None
    id: ColumnElement[Any]
    ascending: bool
    parse: Callable[[Any], Any] = lambda value: value

    def _identity(self) -> tuple[Any, ...]:
        return (self.name, self.ascending, id(self.key), id(self.id))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keyset) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def reversed(self, reverse: bool) -> Keyset:
        """The same order, flipped when `reverse` is true."""
        if not reverse:
            return self
        return Keyset(self.name, self.key, self.id, not self.ascending, self.parse)

    def columns(self) -> list[ColumnElement[Any]]:
        """The ordered columns, sort key first."""
        return [self.id] if self.key is None else [self.key, self.id]

    def order_by(self, forward: bool = True) -> list[ColumnElement[Any]]:
        """ORDER BY clauses for reading forward (or backward) through this order."""
        ascending = self.ascending == forward
        return [column.asc() if ascending else column.desc() for column in self.columns()]

    def beyond(self, cursor: tuple[Any, int], forward: bool) -> ColumnElement[bool]:
        """Rows strictly after the cursor when reading forward, strictly before when reading backward."""
        value, row_id = cursor
        greater = self.ascending == forward
        if self.key is None:
            return self.id > row_id if greater else self.id < row_id
        if greater:
            return or_(self.key > value, and_(self.key == value, self.id > row_id))
        return or_(self.key < value, and_(self.key == value, self.id < row_id))


@dataclass(frozen=True)
class Window:
    """A validated page request: how many rows, which way, and from where."""

    limit: int
    forward: bool
    cursor: tuple[Any, int] | None

    @property
    def fetch(self) -> int:
        """Rows to read: one more than the page, to learn whether another page exists."""
        return self.limit + 1


@dataclass(frozen=True)
class Page:
    """One page of rows with Relay page info."""

    rows: Sequence[Any]
    has_next_page: bool
    has_previous_page: bool


def validate_window(args: PageArgs, keyset: Keyset, max_size: int = 100) -> Window:
    """Check the page arguments and decode the cursor; raise UserInputError with a clear message."""
    if args.first is not None and args.last is not None:
        raise UserInputError("Pass either `first` or `last`, not both", field="first")
    if args.after is not None and args.before is not None:
        raise UserInputError("Pass either `after` or `before`, not both", field="after")
    forward = args.last is None
    size = args.first if forward else args.last
    name = "first" if forward else "last"
    if size is None:
        size = DEFAULT_PAGE_SIZE
    if not 1 <= size <= max_size:
        raise UserInputError(f"`{name}` must be between 1 and {max_size}; got {size}", field=name)
    raw_cursor = args.after if args.after is not None else args.before
    if forward and args.before is not None:
        raise UserInputError("`before` goes with `last`; use `after` with `first`", field="before")
    if not forward and args.after is not None:
        raise UserInputError("`after` goes with `first`; use `before` with `last`", field="after")
    cursor = None if raw_cursor is None else decode_cursor(raw_cursor, keyset)
    return Window(limit=size, forward=forward, cursor=cursor)


def encode_cursor(keyset: Keyset, row: Any) -> str:
    """The opaque cursor of a row under the given order."""
    value = None if keyset.key is None else _jsonable(row._mapping[keyset.key.key])
    payload = orjson.dumps([keyset.name, value, row._mapping[keyset.id.key]])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, keyset: Keyset) -> tuple[Any, int]:
    """Decode a cursor made by encode_cursor for the same sort key."""
    invalid = UserInputError(f"Invalid cursor: {cursor[:MAX_CURSOR_LENGTH]!r}", field="after")
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        name, value, row_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise invalid from None
    if name != keyset.name:
        raise UserInputError(
            f"This cursor was made for sort key {name!r}, not {keyset.name!r}; start again without it",
            field="after",
        )
    if not isinstance(row_id, int) or isinstance(row_id, bool) or row_id < 1:
        raise invalid
    if keyset.key is None:
        return None, row_id
    try:
        return keyset.parse(value), row_id
    except (ValueError, TypeError, InvalidOperation):
        raise invalid from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def keyset_page(base: Select[Any], keyset: Keyset, window: Window) -> Select[Any]:
    """Apply a window to a query over one list: cursor condition, order and LIMIT page+1."""
    query = base
    if window.cursor is not None:
        query = query.where(keyset.beyond(window.cursor, window.forward))
    return query.order_by(*keyset.order_by(window.forward)).limit(window.fetch)


def partitioned_pages(
    base: Select[Any], partition: ColumnElement[Any], keyset: Keyset, window: Window
) -> Select[Any]:
    """One statement returning the same window of every parent's list, via ROW_NUMBER() per parent.

    The result has the base columns plus `parent_key`, ordered by parent then position in the window.
    """
    query = base
    if window.cursor is not None:
        query = query.where(keyset.beyond(window.cursor, window.forward))
    row_number = func.row_number().over(partition_by=partition, order_by=keyset.order_by(window.forward))
    ranked = query.add_columns(partition.label("parent_key"), row_number.label("page_position")).subquery()
    return (
        select(ranked)
        .where(ranked.c.page_position <= window.fetch)
        .order_by(ranked.c.parent_key, ranked.c.page_position)
    )


def to_page(rows: Sequence[Any], window: Window) -> Page:
    """Trim the extra row and orient the rows first-to-last whichever way they were read."""
    more = len(rows) > window.limit
    rows = list(rows[: window.limit])
    if window.forward:
        return Page(rows, has_next_page=more, has_previous_page=window.cursor is not None)
    rows.reverse()
    return Page(rows, has_next_page=window.cursor is not None, has_previous_page=more)


def parse_decimal(value: Any) -> Decimal:
    """Cursor value parser for exact decimals."""
    if not isinstance(value, str):
        raise TypeError("decimal cursor values are strings")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError("not a finite decimal")
    return result


def parse_datetime(value: Any) -> datetime:
    """Cursor value parser for timestamps."""
    if not isinstance(value, str):
        raise TypeError("timestamp cursor values are strings")
    return datetime.fromisoformat(value)


def parse_text(value: Any) -> str:
    """Cursor value parser for text."""
    if not isinstance(value, str):
        raise TypeError("text cursor values are strings")
    return value
