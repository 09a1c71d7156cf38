"""Helpers of GraphQL types that wrap a database row: their field readers, and timestamps in UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from app.db.ids import encode_global_id
from app.graphql.columns import READS_COLUMNS
from schema.lazy import Readers

__all__ = ["row_readers", "utc"]


def utc(value: datetime) -> datetime:
    """A stored timestamp in UTC: SQLite hands timestamps back without a zone; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def row_readers(type_name: str, *columns: str, **computed: Callable[[Any], Any]) -> Readers:
    """Readers of a row view's fields: its global ID, the row's columns of the same name, and `computed`,
    each declaring the columns it reads (`reads`), so loaders select only what a query shows."""
    readers: dict[str, Callable[[Any], Any]] = {column: attrgetter(f"row.{column}") for column in columns}
    declared = {column: (column,) for column in columns}
    readers["id"], declared["id"] = (lambda view: encode_global_id(type_name, view.row.id)), ("id",)
    for name, reader in computed.items():
        if getattr(reader, READS_COLUMNS, None) is None:
            raise TypeError(f"{type_name}.{name}: declare the columns its reader reads with reads(...)")
        readers[name] = reader
    return Readers(readers, declared)
