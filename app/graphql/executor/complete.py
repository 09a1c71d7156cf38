"""Result positions and value completion: links for null propagation and paths, completers per field."""

from __future__ import annotations

import inspect as inspect_module
import math
from collections.abc import Awaitable, Callable, Iterable
from types import GeneratorType
from typing import TYPE_CHECKING, Any, TypeGuard

from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLError,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from graphql.pyutils import Path, Undefined, inspect

if TYPE_CHECKING:
    from app.graphql.executor.plan import FieldPlan
    from app.graphql.executor.run import Run

__all__ = [
    "STRAWBERRY_DEFINITION",
    "Batch",
    "Completer",
    "Completers",
    "Link",
    "NoType",
    "fast_leaf",
    "is_awaitable",
    "never",
    "null_out",
    "path_at",
]

MAX_INT = 2**31 - 1
MIN_INT = -(2**31)
# Where strawberry keeps its own definition of a type or field in graphql-core's `extensions`.
STRAWBERRY_DEFINITION = "strawberry-definition"

# Whether values of a type are awaitable, by type: `await` looks `__await__` up on the type, and asking an
# instance would run `__getattr__` of lazy objects (schema/lazy.py) for a miss every time.
_AWAITABLE_TYPES: dict[type, bool] = dict.fromkeys((str, int, float, bool, type(None), list, dict, tuple), False)


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    value_type = type(value)
    awaitable = _AWAITABLE_TYPES.get(value_type)
    if awaitable is None:
        if value_type is GeneratorType:  # a generator-based coroutine is awaitable by its code flags
            return inspect_module.isawaitable(value)
        awaitable = _AWAITABLE_TYPES[value_type] = hasattr(value_type, "__await__")
    return awaitable


Completer = Callable[[Any, "Link", "str | int", "Run"], Any]


class Link:
    """A result container (object dict or list), where it sits in its parent, and for an object its source.

    Links make null propagation possible (an error nulls the nearest nullable position upwards) and give
    response paths on demand (`path_at`), so no path is built for a position that never fails.
    """

    __slots__ = ("container", "dead", "key", "nonnull", "parent", "source", "type_name")

    def __init__(
        self,
        container: Any,
        parent: Link | None,
        key: str | int | None,
        nonnull: bool,
        source: Any = None,
        type_name: str | None = None,
    ) -> None:
        self.container = container
        self.parent = parent
        self.key = key
        self.nonnull = nonnull  # whether the position this container fills is non-null
        self.source = source
        self.type_name = type_name  # the object type's name; None for a list
        self.dead = False

    def alive(self) -> bool:
        """False when this container or one of its ancestors was nulled by propagation."""
        link: Link | None = self
        while link is not None:
            if link.dead:
                return False
            link = link.parent
        return True


def _link_path(link: Link) -> Path | None:
    """The response path of a container (None for the root)."""
    parent, key = link.parent, link.key
    if parent is None or key is None:
        return None
    return Path(_link_path(parent), key, parent.type_name)


def path_at(link: Link, key: str | int) -> Path:
    """The response path of the position `key` inside `link`'s container."""
    return Path(_link_path(link), key, link.type_name)


class NoType:
    """No value is of this type: a fast-path check that never passes."""


def never(_value: Any) -> bool:
    return False


class Batch:
    """Every object of one level that has the same runtime type and selection."""

    __slots__ = ("links", "nodes", "object_type")

    def __init__(self, object_type: GraphQLObjectType, nodes: list[FieldNode] | None) -> None:
        self.object_type = object_type
        self.nodes = nodes
        self.links: list[Link] = []


class Completers:
    """Builds the completion functions of one planned field: one per wrapping of its return type.

    A completer takes a resolved value and its position (container link and key), returns the value for
    the response, registers objects for the next level, and raises on an error at that position. List
    completers report their items' errors themselves, since an item is a position of its own.
    """

    def __init__(self, plan: FieldPlan, builders: Callable[[GraphQLObjectType, Any], Any] | None = None) -> None:
        self.plan = plan
        # builders(object_type, nodes): the compiled builder of whole objects of that selection, or None
        self.builders = builders

    def build(self, type_: Any, nonnull: bool) -> Completer:
        """The completer of `type_` at a position that is non-null when `nonnull`."""
        if isinstance(type_, GraphQLNonNull):
            return self._non_null(self.build(type_.of_type, True))
        if isinstance(type_, GraphQLList):
            return self._list(type_.of_type, nonnull)
        if is_leaf_type(type_):
            return _leaf_completer(type_)
        if is_object_type(type_):
            return self._object(type_, nonnull)
        return self._abstract(type_, nonnull)

    def _non_null(self, inner: Completer) -> Completer:
        message = f"Cannot return null for non-nullable field {self.plan.parent_type}.{self.plan.name}."

        def complete_non_null(value: Any, link: Link, key: str | int, run: Run) -> Any:
            completed = inner(value, link, key, run)
            if completed is None:
                raise TypeError(message)
            return completed

        return complete_non_null

    def _list(self, item_type: Any, nonnull: bool) -> Completer:
        plan = self.plan
        complete_item = self.build(item_type, False)
        item_nonnull = is_non_null_type(item_type)
        exact_type, valid = fast_leaf(item_type)
        message = f"Expected Iterable, but did not find one for field '{plan.parent_type}.{plan.name}'."
        # items of an object type whose whole selection compiles are built here, without a completer call each
        named = item_type.of_type if item_nonnull else item_type
        builders = self.builders if is_object_type(named) else None
        definition = (named.extensions or {}).get(STRAWBERRY_DEFINITION) if builders is not None else None
        origin = getattr(definition, "origin", NoType)
        build: Any = None if builders is None else _NOT_YET

        def complete_list(value: Any, link: Link, key: str | int, run: Run) -> Any:
            nonlocal build
            if value is None or value is Undefined:
                return None
            value_type = type(value)
            if (
                value_type is not list
                and value_type is not tuple
                and (
                    isinstance(value, str | bytes) or not isinstance(value, Iterable)  # an ABC check: dear
                )
            ):
                raise GraphQLError(message, plan.nodes)
            if build is _NOT_YET:
                assert builders is not None
                build = builders(named, plan.nodes)
            completed: list[Any] = []
            list_link: Link | None = None  # made for the first item completed the generic way
            for index, item in enumerate(value):
                if type(item) is exact_type and valid(item):
                    completed.append(item)
                    continue
                if build is not None and type(item) is origin:
                    try:
                        completed.append(build(item))
                        continue
                    except Exception:  # the generic completion below reports the error, if any
                        pass
                if list_link is None:
                    list_link = Link(completed, link, key, nonnull)
                try:
                    if is_awaitable(item):
                        raise TypeError("awaitable list items are not planned")
                    completed.append(complete_item(item, list_link, index, run))
                except Exception as error:
                    completed.append(None)
                    run.position_error(error, plan, list_link, index, item_nonnull)
            return completed

        return complete_list

    def _object(self, object_type: GraphQLObjectType, nonnull: bool) -> Completer:
        plan = self.plan
        batch_key = (object_type.name, id(plan))
        type_name = object_type.name
        definition = (object_type.extensions or {}).get(STRAWBERRY_DEFINITION)
        origin = getattr(definition, "origin", NoType)
        is_type_of = object_type.is_type_of
        # strawberry's generated checks never read the info; an info is built only for hand-written ones
        needs_info = is_type_of is not None and not _ignores_info(is_type_of)
        builders = self.builders
        build: Any = None if builders is None else _NOT_YET

        def complete_object(value: Any, link: Link, key: str | int, run: Run) -> Any:
            nonlocal build
            if value is None or value is Undefined:
                return None
            if build is not None and type(value) is origin:
                # an object whose whole selection is compiled is finished here, without a place in the next
                # level; the builder has no side effects, so on anything unexpected the generic path redoes it
                if build is _NOT_YET:
                    assert builders is not None
                    build = builders(object_type, plan.nodes)
                if build is not None:
                    try:
                        return build(value)
                    except Exception:  # the generic completion below reports the error, if any
                        pass
            if is_type_of is not None and type(value) is not origin:
                info = run.info(plan, path_at(link, key)) if needs_info else None
                if not is_type_of(value, info):  # type: ignore[arg-type]
                    raise GraphQLError(f"Expected value of type '{object_type}' but got: {inspect(value)}.", plan.nodes)
            result: dict[str, Any] = {}
            level = run.next_level
            batch = level.get(batch_key)
            if batch is None:
                batch = level[batch_key] = Batch(object_type, plan.nodes)
            batch.links.append(Link(result, link, key, nonnull, value, type_name))
            return result

        return complete_object

    def _abstract(self, abstract_type: Any, nonnull: bool) -> Completer:
        plan = self.plan
        by_type: dict[str, Completer] = {}

        def complete_abstract(value: Any, link: Link, key: str | int, run: Run) -> Any:
            if value is None or value is Undefined:
                return None
            runtime_type = _runtime_type(run, abstract_type, plan, value, path_at(link, key))
            complete = by_type.get(runtime_type.name)
            if complete is None:
                complete = by_type[runtime_type.name] = self._object(runtime_type, nonnull)
            return complete(value, link, key, run)

        return complete_abstract


_NOT_YET = object()  # a builder not looked up yet


def _leaf_completer(leaf_type: Any) -> Completer:
    exact_type, valid = fast_leaf(leaf_type)

    def complete_leaf(value: Any, _link: Link, _key: str | int, _run: Run) -> Any:
        if value is None or value is Undefined:
            return None
        if type(value) is exact_type and valid(value):
            return value
        return _coerce_leaf(leaf_type, value)

    return complete_leaf


def _runtime_type(run: Run, abstract_type: Any, plan: FieldPlan, value: Any, path: Path) -> Any:
    schema = run.schema
    info = run.info(plan, path)
    resolve_type: Callable[..., Any] | None = abstract_type.resolve_type
    if resolve_type is None:
        from graphql.execution.executor import default_type_resolver

        resolve_type = default_type_resolver
    name = resolve_type(value, info, abstract_type)
    if is_awaitable(name):
        raise TypeError("asynchronous resolve_type is not planned")
    runtime_type = schema.get_type(name) if isinstance(name, str) else None
    if runtime_type is None or not is_object_type(runtime_type) or not schema.is_sub_type(abstract_type, runtime_type):
        raise GraphQLError(
            f"Abstract type '{abstract_type}' must resolve to an Object type at runtime"
            f" for field '{plan.parent_type}.{plan.name}'.",
            plan.nodes,
        )
    return runtime_type


def _ignores_info(is_type_of: Any) -> bool:
    return is_type_of.__qualname__.endswith("_get_is_type_of.<locals>.is_type_of")


def null_out(link: Link, key: str | int | None, nonnull: bool) -> None:
    """Null a position; a non-null one nulls its container instead, up to the nearest nullable position."""
    current: Link | None = link
    while current is not None:
        if not nonnull:
            current.container[key] = None
            return
        current.dead = True
        key, nonnull, current = current.key, current.nonnull, current.parent


def _coerce_leaf(leaf_type: Any, value: Any) -> Any:
    coerced = leaf_type.coerce_output_value(value)
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{inspect(leaf_type)}.coerce_output_value({inspect(value)})`"
            f" to return non-nullable value, returned: {inspect(coerced)}"
        )
    return coerced


def fast_leaf(type_: Any) -> tuple[type, Callable[[Any], bool]]:
    """(python type, value check): a value of a position of this (possibly non-null) type that has exactly
    that type and passes the check is its own serialized form; for other types the check never passes."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return _FAST_LEAVES.get(type_, (NoType, never))


# Leaf types whose value of one exact Python type needs no serializer call: (python type, value check).
_FAST_LEAVES: dict[Any, tuple[type, Callable[[Any], bool]]] = {
    GraphQLString: (str, lambda _value: True),
    GraphQLID: (str, lambda _value: True),
    GraphQLBoolean: (bool, lambda _value: True),
    GraphQLInt: (int, lambda value: MIN_INT <= value <= MAX_INT),
    GraphQLFloat: (float, math.isfinite),
}
