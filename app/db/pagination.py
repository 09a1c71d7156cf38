"""Keyset pagination: validated page windows, opaque cursors and the SQL that applies them.

A cursor encodes the sort key's name, the sort column's value and the row id, so the next page starts
with `WHERE (key, id) > (:value, :id)` on an index instead of an OFFSET that grows with the page number.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Numeric,
    Select,
    SmallInteger,
    and_,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from app.errors import UserInputError

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "Keyset",
    "Page",
    "PageArgs",
    "PageOfRows",
    "Window",
    "encode_cursor",
    "keyset_page",
    "lateral_pages",
    "partitioned_pages",
    "validate_window",
]

DEFAULT_PAGE_SIZE = 20
# Long enough for any cursor we make: a TITLE cursor holds up to 255 characters of title, which JSON and
# base64 can grow to about 2,100 characters (non-ASCII and escaped characters take several bytes).
MAX_CURSOR_LENGTH = 4096
CURSOR_ECHO_LENGTH = 100


@dataclass(frozen=True)
class PageOfRows:
    """A page of rows with the keyset that orders them (and makes their cursors) and a lazy total count:
    what a resolver returns for the schema's Relay connection to present."""

    page: Page
    keyset: Keyset
    count: Callable[[], Awaitable[int]]


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
    key: KeyedColumnElement[Any] | None
    id: KeyedColumnElement[Any]
    ascending: bool
    parse: Callable[[Any], Any] | None = None  # a cursor's sort value -> the column's type (required with a key)

    def __post_init__(self) -> None:
        if self.key is not None and self.parse is None:
            # a cursor's value comes from the client: unparsed, it reaches SQL as whatever JSON it was
            raise TypeError(f"Keyset {self.name!r} sorts by a column and needs `parse` for its cursors")

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

    def columns(self) -> list[KeyedColumnElement[Any]]:
        """The ordered columns, sort key first."""
        return [self.id] if self.key is None else [self.key, self.id]

    def column_keys(self) -> list[str]:
        """The names of the ordered columns: a page's rows must hold them (their cursors are made of them)."""
        return [column.key for column in self.columns()]

    def order_by(self, forward: bool = True, within: FromClause | None = None) -> list[ColumnElement[Any]]:
        """ORDER BY clauses for reading forward (or backward) through this order.

        With `within`, the clauses name that subquery's columns instead of the table's.
        """
        ascending = self.ascending == forward
        columns = self.columns()
        if within is not None:
            columns = [within.c[column.key] for column in columns]
        return [column.asc() if ascending else column.desc() for column in columns]

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
    if forward and args.before is not None:
        raise UserInputError("`before` goes with `last`; use `after` with `first`", field="before")
    if not forward and args.after is not None:
        raise UserInputError("`after` goes with `first`; use `before` with `last`", field="after")
    raw_cursor, field = (args.after, "after") if forward else (args.before, "before")
    cursor = None if raw_cursor is None else decode_cursor(raw_cursor, keyset, field)
    return Window(limit=size, forward=forward, cursor=cursor)


def encode_cursor(keyset: Keyset, row: Any) -> str:
    """The opaque cursor of a row under the given order."""
    value = None if keyset.key is None else _jsonable(row._mapping[keyset.key.key])
    payload = orjson.dumps([keyset.name, value, row._mapping[keyset.id.key]])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, keyset: Keyset, field: str = "after") -> tuple[Any, int]:
    """Decode a cursor made by encode_cursor for the same sort key; `field` names the argument it came in.

    Only values the database can compare with the sort columns pass: a forged cursor whose id, amount,
    timestamp or text is out of the column's range is invalid input, not a database error.
    """
    invalid = UserInputError(f"Invalid cursor: {cursor[:CURSOR_ECHO_LENGTH]!r}", field=field)
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        name, value, row_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise invalid from None
    if name != keyset.name:
        raise UserInputError(
            f"This cursor was made for sort key {name!r}, not {keyset.name!r}; start again without it",
            field=field,
        )
    if not _fits(keyset.id, row_id) or row_id < 1:
        raise invalid
    if keyset.key is None or keyset.parse is None:
        return None, row_id
    try:
        parsed = keyset.parse(value)
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        raise invalid from None
    if not _fits(keyset.key, parsed):
        raise invalid
    return parsed, row_id


def _fits(column: ColumnElement[Any], value: Any) -> bool:
    """Whether a value can be bound as a parameter of the column's type on every supported database."""
    column_type = column.type
    if isinstance(column_type, Integer):
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        bits = _integer_bits(column_type)
        return -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
    if isinstance(column_type, Numeric) and not isinstance(column_type, Float):
        return isinstance(value, Decimal) and _fits_numeric(value, column_type.precision, column_type.scale)
    if isinstance(value, str):
        return "\x00" not in value  # PostgreSQL text cannot hold NUL, so no stored value has one
    return True


def _integer_bits(column_type: Integer) -> int:
    if isinstance(column_type, BigInteger):
        return 64
    if isinstance(column_type, SmallInteger):
        return 16
    return 32


def _fits_numeric(value: Decimal, precision: int | None, scale: int | None) -> bool:
    """Within NUMERIC(precision, scale) without rounding: PostgreSQL would round or overflow otherwise."""
    if not value.is_finite():
        return False
    if precision is None or scale is None:
        return True
    if abs(value) >= Decimal(10) ** (precision - scale):
        return False
    return value == value.quantize(Decimal(1).scaleb(-scale))


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


def partitioned_pages(base: Select[Any], partition: ColumnElement[Any], keyset: Keyset, window: Window) -> Select[Any]:
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


def lateral_pages(
    parents: FromClause, parent_key: ColumnElement[Any], base: Select[Any], keyset: Keyset, window: Window
) -> Select[Any]:
    """One statement returning the same window of every parent's list, via a LATERAL subquery per parent.

    `base` selects one parent's rows, correlated to `parents` (one row per parent). Each parent reads its
    rows in keyset order and stops after the window, so an index on the order serves the page without
    reading the rest of the list (PostgreSQL; SQLite has no LATERAL). Like partitioned_pages, the result
    has the base columns plus `parent_key`, ordered by parent then position in the window.
    """
    query = base.add_columns(parent_key.label("parent_key"))
    if window.cursor is not None:
        query = query.where(keyset.beyond(window.cursor, window.forward))
    page = query.order_by(*keyset.order_by(window.forward)).limit(window.fetch).lateral("page")
    return (
        select(page)
        .select_from(parents)
        .join(page, true())
        .order_by(page.c.parent_key, *keyset.order_by(window.forward, within=page))
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
    """Cursor value parser for timestamps: an aware UTC datetime (a value without offset is UTC).

    SQLite stores UTC timestamps without an offset, so its cursors carry none; PostgreSQL's driver would
    read a naive value as local time, and an offset near the ends of the calendar cannot be converted:
    OverflowError, which the caller reports as an invalid cursor.
    """
    if not isinstance(value, str):
        raise TypeError("timestamp cursor values are strings")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_text(value: Any) -> str:
    """Cursor value parser for text."""
    if not isinstance(value, str):
        raise TypeError("text cursor values are strings")
    return value


def parse_int(value: Any) -> int:
    """Cursor value parser for whole numbers (the column's range is checked by the caller)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("integer cursor values are whole numbers")
    return value
