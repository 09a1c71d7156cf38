"""Per-request dataloaders, the generic part: every relation is one batched statement per query level.

A domain's loaders (`app/<domain>/loaders.py`) subclass `BaseLoader` or `PageLoader`, are named
`<Thing>By<Key>Loader`, and run keyed statements (`keys_in`, executed with {KEYS: [...]}). The `Loaders`
bundle creates a request's loaders by class on first `get`, so it names no domain: its caches are one
request's alone, never shared across requests, as they hold what one viewer may see.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy import ARRAY, ColumnElement, Select, any_, bindparam

from app.db.database import RequestDatabase
from app.db.pagination import Keyset, Page, Window, to_page

__all__ = ["KEYS", "BaseLoader", "CountLoader", "Loaders", "PageLoader", "by_key", "grouped", "keys_in"]

# The bind parameter every keyed statement takes its keys from: statements are built once per database
# (a domain's SQL caches them) and executed with {KEYS: [...]}. Building a statement cost more than running
# it: a recursive CTE took 0.4 ms to build, and SQLAlchemy memoizes a statement's cache key on the object.
KEYS = "keys"


def keys_in(column: ColumnElement[Any], dialect: str) -> ColumnElement[bool]:
    """`column IN :keys`; on PostgreSQL `column = ANY(:keys)` with the keys as one array parameter.

    asyncpg prepares each distinct SQL text once per connection, and an IN list renders one text per
    number of keys, so batches of varying size would be parsed and planned again and again; with one
    array parameter every batch of a loader is the same prepared statement. SQLite has no arrays: its
    expanding IN renders one text per number of keys.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(KEYS, type_=ARRAY(column.type)))
    return column.in_(bindparam(KEYS, expanding=True))


LoaderT = TypeVar("LoaderT", bound="BaseLoader")


class BaseLoader(DataLoader[Any, Any]):
    """A DataLoader bound to one request's database handle."""

    def __init__(self, db: RequestDatabase, loaders: Loaders) -> None:
        super().__init__()
        self.db = db
        self.loaders = loaders

    def load(self, key: Any) -> asyncio.Future[Any]:
        """The value for a key, batched with the other keys asked for in the same turn.

        The cached future is shared by every field asking for the key, so callers get a shield of it:
        when the executor cancels one of them (a sibling failed), the others still get the value.
        """
        shared = super().load(key)
        shared.add_done_callback(_observe)
        return asyncio.shield(shared)

    def load_many(self, keys: Iterable[Any]) -> asyncio.Future[list[Any]]:
        """The values for several keys in order, as one future; the first failure fails it.

        One done-callback per distinct shared future instead of a shield per key and a gather over them
        (hundreds of futures and callbacks for a level of 100 objects). Cancelling the returned future
        leaves the shared ones alone, like the shields of `load` do.
        """
        return _all_of(self.loop, [DataLoader.load(self, key) for key in keys])

    async def fetch(self, statement: Select[Any], keys: Sequence[Any], **params: Any) -> Sequence[Any]:
        """Run one keyed statement (see `KEYS`) for these keys on the request's connection."""
        return await self.db.fetch_all(statement, {KEYS: list(keys), **params})

    @property
    def dialect(self) -> str:
        """The request's database: "postgresql" or "sqlite"."""
        return self.db.dialect


def _observe(future: asyncio.Future[Any]) -> None:
    # A failed batch's shared future may outlive every caller (all cancelled); reading its exception
    # keeps asyncio from logging "exception was never retrieved" for an error already reported.
    if not future.cancelled():
        future.exception()


def _all_of(loop: asyncio.AbstractEventLoop, shared: list[asyncio.Future[Any]]) -> asyncio.Future[list[Any]]:
    """A new future of every shared future's result in order, or of the first exception among them."""
    combined: asyncio.Future[list[Any]] = loop.create_future()
    pending = dict.fromkeys(shared)  # a key asked for twice shares one future

    def settle(future: asyncio.Future[Any]) -> None:
        del pending[future]
        if future.cancelled():
            if not combined.done():
                combined.cancel()
            return
        # Read even when the combined future is already settled or cancelled: the error is reported
        # (or its caller is gone), and asyncio must not log "exception was never retrieved".
        error = future.exception()
        if combined.done():
            return
        if error is not None:
            combined.set_exception(error)
        elif not pending:
            combined.set_result([each.result() for each in shared])

    if not pending:
        combined.set_result([])
    for future in list(pending):
        if future.done():
            settle(future)
        else:
            future.add_done_callback(settle)
    return combined


def by_key(rows: Sequence[Any], keys: Sequence[Any], column: str) -> list[Any]:
    found = {getattr(row, column): row for row in rows}
    return [found.get(key) for key in keys]


def grouped(rows: Sequence[Any], keys: Sequence[Any], column: str) -> list[list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, column)].append(row)
    return [groups.get(key, []) for key in keys]


class CountLoader(BaseLoader):
    """How many rows each key has, from one GROUP BY for a level (0 for a key without any). Subclasses give
    the statement (`counted`), whose columns are `key` and `count`."""

    def counted(self) -> Select[Any]:
        """The keyed GROUP BY statement (see `KEYS`)."""
        raise NotImplementedError

    async def batch_load_fn(self, keys: Sequence[Any]) -> list[int]:
        counts = {row.key: row.count for row in await self.fetch(self.counted(), keys)}
        return [int(counts.get(key, 0)) for key in keys]


class PageLoader(BaseLoader):
    """A page of each parent's list for one window; subclasses give the statement (`pages`)."""

    keyset: Keyset

    def __init__(self, db: RequestDatabase, loaders: Loaders, window: Window, *params: Any) -> None:
        super().__init__(db, loaders)
        self.window = window
        self.params = params

    def pages(self, keys: Sequence[Any]) -> tuple[Select[Any], dict[str, Any]]:
        """One statement with the window of every parent's list, each row's parent as `parent_key`, and
        its parameters besides :keys."""
        raise NotImplementedError

    async def batch_load_fn(self, keys: Sequence[Any]) -> list[Page]:
        statement, params = self.pages(keys)
        rows = await self.fetch(statement, keys, **params)
        return [to_page(group, self.window) for group in grouped(rows, keys, "parent_key")]


class Loaders:
    """The bundle of one request's loaders, created lazily on first use."""

    def __init__(self, db: RequestDatabase) -> None:
        self.db = db
        self._loaders: dict[Hashable, BaseLoader] = {}
        db.on_rollback(self.clear_every_cache)  # a rolled-back write may be in what they cached

    def get(self, loader_class: type[LoaderT], *params: Hashable) -> LoaderT:
        """The request's loader of this class (and parameters), created on first use."""
        key = (loader_class, *params)
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = loader_class(self.db, self, *params)  # type: ignore[call-arg]
        return loader  # type: ignore[return-value]

    def clear(self, loader_class: type[BaseLoader], key: Hashable) -> None:
        """Forget one key in every loader of this class (and its subclasses), whatever its parameters: after
        a write, the next load reads the row again, on the request's connection (inside its transaction)."""
        for loader in self._of_class(loader_class):
            loader.clear(key)

    def clear_all(self, loader_class: type[BaseLoader]) -> None:
        """Forget every key in every loader of this class (and its subclasses), e.g. every page loader of
        every window, after a write that may move rows between pages."""
        for loader in self._of_class(loader_class):
            loader.clear_all()

    def prime(self, loader_class: type[BaseLoader], key: Hashable, value: Any, *params: Hashable) -> None:
        """Put a value just written in the cache of the loader of this class and parameters, replacing a
        cached one (a DataLoader's own `prime` keeps what it has)."""
        self.get(loader_class, *params).clear(key).prime(key, value)

    def clear_every_cache(self) -> None:
        """Forget every key of every loader (run after a rollback)."""
        for loader in self._loaders.values():
            loader.clear_all()

    def _of_class(self, loader_class: type[BaseLoader]) -> list[BaseLoader]:
        return [loader for loader in self._loaders.values() if isinstance(loader, loader_class)]

    def close(self) -> None:
        """Drop every loader and its cache at the end of the request.

        Loaders and this bundle reference each other (loaders prime each other's caches), so without this
        the request's rows would live on as cyclic garbage until the collector's next full pass.
        """
        for loader in self._loaders.values():
            loader.clear_all()
        self._loaders.clear()
