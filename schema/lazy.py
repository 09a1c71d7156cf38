"""Lazy GraphQL objects: fields computed from what the object wraps on first read, then kept.

A listing builds hundreds of objects per request and a client reads a few fields of each. Computing every
field up front (global IDs, money, options, cursors, edges) cost more than executing the query, so the
types here only store what they wrap and compute a field when a resolver (strawberry's default resolver:
`getattr`) first reads it. Both executors read fields the same way, so both see the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

__all__ = ["LazyFields"]


class LazyFields:
    """Mixin for strawberry types whose fields are computed by `READERS[name](self)` on first read.

    Strawberry's dataclass keeps no class attribute for a field without a default, so reading a field
    that was not computed yet falls through to `__getattr__`. A subclass lists a reader for every
    declared field that `wrap` does not set.
    """

    READERS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    @classmethod
    def wrap(cls, **attributes: Any) -> Self:
        """An instance holding only `attributes` (the private state its readers need)."""
        instance = cls.__new__(cls)
        instance.__dict__.update(attributes)
        return instance

    def __getattr__(self, name: str) -> Any:
        read = type(self).READERS.get(name)
        if read is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = self.__dict__[name] = read(self)
        return value
