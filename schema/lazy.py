"""Lazy GraphQL objects: fields computed from what the object wraps on first read, then kept.

A listing builds hundreds of objects per request and a client reads a few fields of each. Computing every
field up front (global IDs, money, options, cursors, edges) cost more than executing the query, so the
types here only store what they wrap and compute a field when a resolver (strawberry's default resolver:
`getattr`) first reads it. Both executors read fields the same way, so both see the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar

from app.graphql.columns import READS_COLUMNS
from app.graphql.executor.compile import PURE_READER

__all__ = ["LazyFields", "Readers", "lazy_fields"]

T = TypeVar("T", bound=type)

_new = object.__new__


class LazyFields:
    """Base for strawberry types whose fields are computed by `READERS[name](self)` on first read.

    Decorate the class with `lazy_fields` outside `@strawberry.type`, and list a reader for every declared
    field that `wrap` does not set.
    """

    READERS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    @classmethod
    def wrap(cls, **attributes: Any) -> Self:
        """An instance holding only `attributes` (the private state its readers need)."""
        instance = _new(cls)
        instance.__dict__ = attributes  # the call's own keyword dict: adopted, not copied
        return instance


class Readers(dict[str, Callable[[Any], Any]]):
    """A READERS mapping that also names the row columns each reader reads (see app.graphql.columns), for
    readers that cannot carry the declaration themselves (an `attrgetter`)."""

    def __init__(self, readers: Mapping[str, Callable[[Any], Any]], columns: Mapping[str, tuple[str, ...]]) -> None:
        super().__init__(readers)
        self.columns = dict(columns)


class _ComputedOnce:
    """A non-data descriptor: the first read computes the value and stores it in the instance's dict,
    which later reads find first (as functools.cached_property, without its lock).

    The reader is exposed as `PURE_READER`, so the planned executor's compiled code can do the same
    (the cached value, else the reader's, cached) without the descriptor's call.
    """

    __slots__ = (PURE_READER, READS_COLUMNS, "name", "read")

    def __init__(self, name: str, read: Callable[[Any], Any], columns: tuple[str, ...] | None) -> None:
        self.name = name
        self.read = read
        setattr(self, PURE_READER, read)
        setattr(self, READS_COLUMNS, columns)  # the row columns the reader reads, when declared

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.read(instance)
        return value


def lazy_fields(cls: T) -> T:
    """Install a computed-once descriptor for each of the class's READERS.

    It must run after `@strawberry.type` (so, above it): a class attribute present while the dataclass
    is made would become the field's default value.
    """
    fields = {field.python_name for field in cls.__strawberry_definition__.fields}  # type: ignore[attr-defined]
    readers = cls.READERS  # type: ignore[attr-defined]
    declared = getattr(readers, "columns", {})
    for name, read in readers.items():
        if name not in fields:
            raise TypeError(f"{cls.__name__}.READERS names {name!r}, which is not one of its fields")
        setattr(cls, name, _ComputedOnce(name, read, declared.get(name, getattr(read, READS_COLUMNS, None))))
    return cls
