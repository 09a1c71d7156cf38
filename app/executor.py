"""A planned, breadth-first executor for validated query operations.

graphql-core's reference executor walks the result depth-first, builds a resolve-info object, checks
for awaitables and wraps every field, and gives every pending list item an asyncio task. Most of that
work is the same for every object of a list, so this executor:

- collects each (object type, selection) once into a plan of fields, cached per document when no
  directive depends on a variable;
- resolves one level of the result at a time for every object of that level together, so every
  dataloader sees the whole level in one batch;
- reads plain (default-resolver) fields with `getattr` and passes strings, ints and booleans through
  without calling their scalar's serializer;
- drives the awaitables of a level itself (a small trampoline over their `__await__` iterators) and
  waits for the futures they block on together, instead of creating a task per awaitable.

Semantics follow the specification and graphql-core: aliases, fragments, abstract types,
`@include`/`@skip`, argument defaults and variables, custom scalars, `is_type_of`, non-null
propagation (an error nulls the nearest nullable position; errors below an already nulled position
are dropped, as graphql-core's CollectedErrors does), errors with paths and locations. Operations it
does not plan (mutations, subscriptions, `@defer`/`@stream`, disabled error propagation) go to the
reference executor; see `supports`.

One constraint comes with the trampoline: resolvers run inside the request's task, so code that
cancels the *current* task to enforce a deadline (`asyncio.timeout`, as SQLAlchemy's pool checkout
does) must run in a task of its own; `RequestDatabase.fetch_all` does so for every statement.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLIncludeDirective,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLSkipDirective,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql.execution.values import get_argument_values, get_directive_values
from graphql.pyutils import Path, Undefined, inspect
from graphql.type.definition import GraphQLResolveInfoHelpers
from graphql.utilities import type_from_ast

__all__ = ["BATCH_METADATA_KEY", "FastExecutor"]

UNSUPPORTED_DIRECTIVES = frozenset({"defer", "stream", "experimental_disable_error_propagation"})
PLAN_CACHE_SIZE = 500
MAX_INT = 2**31 - 1
MIN_INT = -(2**31)
# Values of these types are never awaitable, so reading them skips the awaitable check.
PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list, dict, tuple})
STRAWBERRY_DEFINITION = "strawberry-definition"
# A field may declare, in its metadata under this key, `batch(context, sources, arguments)` returning (an
# awaitable of) the list of values its resolver would give for each source, in order. The planned
# executor then calls it once per level instead of the resolver once per object.
BATCH_METADATA_KEY = "storefront.batch"


def _is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    return type(value) not in PLAIN_TYPES and hasattr(value, "__await__")


@dataclass(slots=True)
class FieldPlan:
    """How to produce one response key of an object: which field, how to read it, what it returns."""

    key: str
    name: str
    parent_type: str
    nodes: list[FieldNode]
    definition: GraphQLField | None
    attribute: str | None  # set when the field is a plain attribute read (strawberry's default resolver)
    is_typename: bool
    batch: Callable[..., Any] | None = None  # the field's declared per-level resolver, if any


@dataclass(slots=True)
class Link:
    """A result container (object dict or list) and where it sits in its parent, for null propagation."""

    container: Any
    parent: Link | None
    key: str | int | None
    nonnull: bool
    dead: bool = False
    item_type: Any = None  # for a list: the type of its items

    def alive(self) -> bool:
        """False when this container or one of its ancestors was nulled by propagation."""
        link: Link | None = self
        while link is not None:
            if link.dead:
                return False
            link = link.parent
        return True


class _Batch:
    """Every object of one level that has the same runtime type and selection."""

    __slots__ = ("items", "nodes", "object_type")

    def __init__(self, object_type: GraphQLObjectType, nodes: list[FieldNode] | None) -> None:
        self.object_type = object_type
        self.nodes = nodes
        self.items: list[tuple[Any, dict[str, Any], Link, Path | None]] = []


class _Pending:
    """A resolver result still to be awaited, with where its completed value goes.

    For a batch resolver, `link` and `path` are lists: one position per source.
    """

    __slots__ = ("awaitable", "link", "path", "plan", "result")

    def __init__(self, awaitable: Any, plan: FieldPlan, link: Any, path: Any) -> None:
        self.awaitable = awaitable
        self.plan = plan
        self.link = link
        self.path = path
        self.result: Any = None


_DocumentEntry = tuple[DocumentNode, bool, dict[Any, list[FieldPlan]] | None]


class FastExecutor:
    """Executes validated query operations of one schema; see the module docstring."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._documents: OrderedDict[int, _DocumentEntry] = OrderedDict()

    def supports(self, document: DocumentNode, operation: OperationDefinitionNode) -> bool:
        """True when this executor runs the operation; otherwise use the reference executor."""
        return operation.operation == OperationType.QUERY and not self._document_entry(document)[1]

    def _document_entry(self, document: DocumentNode) -> _DocumentEntry:
        found = self._documents.get(id(document))
        if found is not None and found[0] is document:
            self._documents.move_to_end(id(document))
            return found
        unsupported, variable_directives = _scan_directives(document)
        # Plans depend on @skip/@include; with variables in them they are made per execution instead.
        entry: _DocumentEntry = (document, unsupported, None if variable_directives else {})
        self._documents[id(document)] = entry
        if len(self._documents) > PLAN_CACHE_SIZE:
            self._documents.popitem(last=False)
        return entry

    async def execute(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variable_values: Any,
        context_value: Any = None,
        root_value: Any = None,
    ) -> ExecutionResult:
        """Execute a query operation that `supports` accepted."""
        _document, _unsupported, shared_plans = self._document_entry(document)
        run = _Run(self, document, operation, variable_values, context_value, root_value, shared_plans)
        return await run.execute()


def _batch_of(strawberry_field: Any) -> Callable[..., Any] | None:
    """A field's declared batch resolver, unless field extensions (permissions...) must run per object."""
    if strawberry_field is None or getattr(strawberry_field, "extensions", None):
        return None
    metadata = getattr(strawberry_field, "metadata", None) or {}
    return metadata.get(BATCH_METADATA_KEY)


def _scan_directives(document: DocumentNode) -> tuple[bool, bool]:
    """(uses a directive this executor does not plan, has @skip/@include depending on a variable)."""
    unsupported = False
    variable_directives = False
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        for directive in getattr(node, "directives", None) or ():
            name = directive.name.value
            unsupported = unsupported or name in UNSUPPORTED_DIRECTIVES
            if name in ("skip", "include") and any(arg.value.kind == "variable" for arg in directive.arguments):
                variable_directives = True
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return unsupported, variable_directives


class _Run:
    """The state of one execution."""

    def __init__(
        self,
        executor: FastExecutor,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variable_values: Any,
        context_value: Any,
        root_value: Any,
        shared_plans: dict[Any, list[FieldPlan]] | None,
    ) -> None:
        self.schema = executor.schema
        self.operation = operation
        self.fragments: dict[str, FragmentDefinitionNode] = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variable_values = variable_values
        self.context_value = context_value
        self.root_value = root_value
        self.plans = shared_plans if shared_plans is not None else {}
        self.arguments: dict[int, Any] = {}
        self.errors: list[GraphQLError] = []
        self.nulls: list[tuple[Link, str | int, bool]] = []
        self.helpers = GraphQLResolveInfoHelpers(gather=_gather, track=_track)
        self.root: dict[str, Any] | None = {}

    async def execute(self) -> ExecutionResult:
        root_type = self.schema.query_type
        if root_type is None:  # validation rejects this before execution
            return ExecutionResult(None, [GraphQLError("Schema is not configured to execute query operation.")])
        data: dict[str, Any] = {}
        root_link = Link(data, None, None, True)
        batch = _Batch(root_type, None)
        batch.items.append((self.root_value, data, root_link, None))
        level = [batch]
        while level:
            level = await self._run_level(level)
        return ExecutionResult(None if root_link.dead else data, self.errors or None)

    # -- planning -----------------------------------------------------------------------------

    def _plan(self, object_type: GraphQLObjectType, nodes: list[FieldNode] | None) -> list[FieldPlan]:
        key = (object_type.name, None if nodes is None else tuple(map(id, nodes)))
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._build_plan(object_type, nodes)
        return plan

    def _build_plan(self, object_type: GraphQLObjectType, nodes: list[FieldNode] | None) -> list[FieldPlan]:
        selection_sets = [self.operation.selection_set] if nodes is None else [n.selection_set for n in nodes]
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for selection_set in selection_sets:
            if selection_set is not None:
                self._collect(object_type, selection_set, grouped, visited)
        return [self._field_plan(object_type, key, field_nodes) for key, field_nodes in grouped.items()]

    def _collect(
        self,
        object_type: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._matches(selection.type_condition, object_type):
                    self._collect(object_type, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments.get(name)
                if fragment is not None and self._matches(fragment.type_condition, object_type):
                    self._collect(object_type, fragment.selection_set, grouped, visited)

    def _included(self, node: Any) -> bool:
        if not node.directives:
            return True
        skip = get_directive_values(GraphQLSkipDirective, node, self.variable_values)
        if skip and skip["if"] is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variable_values)
        return not (include and include["if"] is False)

    def _matches(self, type_condition: Any, object_type: GraphQLObjectType) -> bool:
        if type_condition is None:
            return True
        conditional = type_from_ast(self.schema, type_condition)
        if conditional is object_type:
            return True
        return (
            conditional is not None
            and is_abstract_type(conditional)
            and self.schema.is_sub_type(
                conditional,  # type: ignore[arg-type]
                object_type,
            )
        )

    def _field_plan(self, object_type: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> FieldPlan:
        name = nodes[0].name.value
        if name == "__typename":
            return FieldPlan(key, name, object_type.name, nodes, None, None, True)
        definition = self.schema.get_field(object_type, name)
        strawberry_field = None if definition is None else (definition.extensions or {}).get(STRAWBERRY_DEFINITION)
        attribute = None
        if definition is not None and getattr(definition.resolve, "_is_default", False):
            attribute = getattr(strawberry_field, "python_name", None)
        return FieldPlan(key, name, object_type.name, nodes, definition, attribute, False, _batch_of(strawberry_field))

    # -- execution ----------------------------------------------------------------------------

    async def _run_level(self, level: list[_Batch]) -> list[_Batch]:
        next_level: dict[Any, _Batch] = {}
        pending: list[_Pending] = []
        for batch in level:
            items = [item for item in batch.items if item[2].alive()]
            if not items:
                continue
            for plan in self._plan(batch.object_type, batch.nodes):
                if plan.definition is None and not plan.is_typename:
                    continue
                self._resolve_field(batch.object_type, plan, items, pending, next_level)
        if pending:
            await _settle(pending)
            for entry in pending:
                if isinstance(entry.link, list):
                    self._complete_batch(entry.plan, entry.link, entry.path, entry.result, next_level)
                else:
                    self._complete_field(entry.plan, entry.link, entry.path, entry.result, next_level)
        for link, key, nonnull in self.nulls:
            _null_out(link, key, nonnull)
        self.nulls.clear()
        return list(next_level.values())

    def _resolve_field(
        self,
        object_type: GraphQLObjectType,
        plan: FieldPlan,
        items: list[tuple[Any, dict[str, Any], Link, Path | None]],
        pending: list[_Pending],
        next_level: dict[Any, _Batch],
    ) -> None:
        key = plan.key
        if plan.is_typename:
            for _source, result, _link, _path in items:
                result[key] = object_type.name
            return
        definition = plan.definition
        assert definition is not None
        return_type = definition.type
        attribute = plan.attribute
        if attribute is not None and is_leaf_type(_named(return_type)):
            items = self._read_leaves(plan, attribute, return_type, items)
            if not items:
                return
        try:
            arguments = self._arguments(plan)
        except Exception as error:
            for _source, result, link, path in items:
                result[key] = None
                self._field_error(error, plan, link, Path(path, key, object_type.name), return_type)
            return
        if plan.batch is not None:
            self._resolve_batch(object_type, plan, arguments, items, pending, next_level)
            return
        resolve = definition.resolve
        for source, result, link, path in items:
            result[key] = None
            field_path = Path(path, key, object_type.name)
            try:
                if attribute is not None:
                    value = getattr(source, attribute)  # as strawberry's default resolver: getattr
                elif resolve is None:
                    value = _default_resolver(source, plan.name)
                else:
                    value = resolve(source, self._info(plan, object_type, field_path), **arguments)
            except Exception as error:
                self._field_error(error, plan, link, field_path, return_type)
                continue
            if _is_awaitable(value):
                pending.append(_Pending(value, plan, link, field_path))
            else:
                self._complete_field(plan, link, field_path, value, next_level)

    def _resolve_batch(
        self,
        object_type: GraphQLObjectType,
        plan: FieldPlan,
        arguments: dict[str, Any],
        items: list[tuple[Any, dict[str, Any], Link, Path | None]],
        pending: list[_Pending],
        next_level: dict[Any, _Batch],
    ) -> None:
        links, paths = [], []
        for _source, result, link, path in items:
            result[plan.key] = None
            links.append(link)
            paths.append(Path(path, plan.key, object_type.name))
        try:
            assert plan.batch is not None
            values = plan.batch(self.context_value, [item[0] for item in items], arguments)
        except Exception as error:
            values = error
        if _is_awaitable(values):
            pending.append(_Pending(values, plan, links, paths))
        else:
            self._complete_batch(plan, links, paths, values, next_level)

    def _complete_batch(
        self, plan: FieldPlan, links: list[Link], paths: list[Path], values: Any, next_level: dict[Any, _Batch]
    ) -> None:
        if not isinstance(values, Exception) and (not isinstance(values, list) or len(values) != len(links)):
            values = TypeError(f"The batch resolver of {plan.parent_type}.{plan.name} returned a wrong-sized list")
        for index, (link, path) in enumerate(zip(links, paths, strict=True)):
            value = values if isinstance(values, Exception) else values[index]
            self._complete_field(plan, link, path, value, next_level)

    def _read_leaves(
        self,
        plan: FieldPlan,
        attribute: str,
        return_type: Any,
        items: list[tuple[Any, dict[str, Any], Link, Path | None]],
    ) -> list[tuple[Any, dict[str, Any], Link, Path | None]]:
        """Copy plain scalar attributes straight into the results; return the items that need the general path."""
        key = plan.key
        fast = _FAST_LEAVES.get(return_type.of_type if is_non_null_type(return_type) else return_type)
        if fast is None:
            return items
        exact_type, valid = fast
        slow = []
        for item in items:
            value = getattr(item[0], attribute, _MISSING)
            if type(value) is exact_type and valid(value):
                item[1][key] = value
            else:
                slow.append(item)
        return slow

    def _arguments(self, plan: FieldPlan) -> Any:
        found = self.arguments.get(id(plan))
        if found is None:
            assert plan.definition is not None
            found = self.arguments[id(plan)] = get_argument_values(plan.definition, plan.nodes[0], self.variable_values)
        return found

    def _info(self, plan: FieldPlan, object_type: GraphQLObjectType, path: Path) -> GraphQLResolveInfo:
        assert plan.definition is not None
        return GraphQLResolveInfo(
            plan.name,
            plan.nodes,
            plan.definition.type,
            object_type,
            path,
            self.schema,
            self.fragments,
            self.root_value,
            self.operation,
            self.variable_values,
            self.context_value,
            _is_awaitable,
            None,
            self.helpers,
        )

    def _complete_field(
        self, plan: FieldPlan, link: Link, path: Path, value: Any, next_level: dict[Any, _Batch]
    ) -> None:
        assert plan.definition is not None
        return_type = plan.definition.type
        try:
            if isinstance(value, Exception):
                raise value
            link.container[plan.key] = self._complete_value(return_type, plan, value, link, plan.key, path, next_level)
        except Exception as error:
            self._field_error(error, plan, link, path, return_type)

    def _complete_value(
        self,
        return_type: Any,
        plan: FieldPlan,
        value: Any,
        link: Link,
        key: str | int,
        path: Path,
        next_level: dict[Any, _Batch],
    ) -> Any:
        """The completed value for a position, registering objects for the next level; raises on error."""
        if isinstance(return_type, GraphQLNonNull):
            completed = self._complete_value(return_type.of_type, plan, value, link, key, path, next_level)
            if completed is None:
                raise TypeError(f"Cannot return null for non-nullable field {plan.parent_type}.{plan.name}.")
            return completed
        if value is None or value is Undefined:
            return None
        if isinstance(return_type, GraphQLList):
            return self._complete_list(return_type, plan, value, link, key, path, next_level)
        if is_leaf_type(return_type):
            fast = _FAST_LEAVES.get(return_type)
            if fast is not None and type(value) is fast[0] and fast[1](value):
                return value
            return _coerce_leaf(return_type, value)
        object_type = return_type if is_object_type(return_type) else self._runtime_type(return_type, plan, value, path)
        is_type_of = object_type.is_type_of
        if is_type_of is not None:
            # strawberry's generated checks never read the info; build it only for hand-written ones
            info = None if _ignores_info(is_type_of) else self._info(plan, object_type, path)
            matches = is_type_of(value, info)  # type: ignore[arg-type]
            if not matches:
                raise GraphQLError(f"Expected value of type '{object_type}' but got: {inspect(value)}.", plan.nodes)
        result: dict[str, Any] = {}
        child = Link(result, link, key, isinstance(_position_type(plan, link, key), GraphQLNonNull))
        batch_key = (object_type.name, id(plan))
        batch = next_level.get(batch_key)
        if batch is None:
            batch = next_level[batch_key] = _Batch(object_type, plan.nodes)
        batch.items.append((value, result, child, path))
        return result

    def _complete_list(
        self,
        return_type: GraphQLList,
        plan: FieldPlan,
        value: Any,
        link: Link,
        key: str | int,
        path: Path,
        next_level: dict[Any, _Batch],
    ) -> list[Any]:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise GraphQLError(
                f"Expected Iterable, but did not find one for field '{plan.parent_type}.{plan.name}'.", plan.nodes
            )
        item_type = return_type.of_type
        completed: list[Any] = []
        list_link = Link(completed, link, key, is_non_null_type(_position_type(plan, link, key)))
        list_link.item_type = item_type
        fast = _FAST_LEAVES.get(item_type.of_type if is_non_null_type(item_type) else item_type)
        for index, item in enumerate(value):
            if fast is not None and type(item) is fast[0] and fast[1](item):
                completed.append(item)
                continue
            completed.append(None)
            item_path = Path(path, index, None)
            try:
                if _is_awaitable(item):
                    raise TypeError("awaitable list items are not planned")
                completed[index] = self._complete_value(item_type, plan, item, list_link, index, item_path, next_level)
            except Exception as error:
                self._position_error(error, plan, list_link, index, item_path, is_non_null_type(item_type))
        return completed

    def _runtime_type(self, abstract_type: Any, plan: FieldPlan, value: Any, path: Path) -> GraphQLObjectType:
        info = self._info(plan, self.schema.query_type, path)  # type: ignore[arg-type]
        resolve_type: Callable[..., Any] | None = abstract_type.resolve_type
        if resolve_type is None:
            from graphql.execution.executor import default_type_resolver

            resolve_type = default_type_resolver
        name = resolve_type(value, info, abstract_type)
        if _is_awaitable(name):
            raise TypeError("asynchronous resolve_type is not planned")
        runtime_type = self.schema.get_type(name) if isinstance(name, str) else None
        if (
            runtime_type is None
            or not is_object_type(runtime_type)
            or not self.schema.is_sub_type(abstract_type, runtime_type)
        ):
            raise GraphQLError(
                f"Abstract type '{abstract_type}' must resolve to an Object type at runtime"
                f" for field '{plan.parent_type}.{plan.name}'.",
                plan.nodes,
            )
        return runtime_type  # type: ignore[return-value]

    # -- errors and null propagation --------------------------------------------------------

    def _field_error(self, error: Exception, plan: FieldPlan, link: Link, path: Path, return_type: Any) -> None:
        self._position_error(error, plan, link, plan.key, path, is_non_null_type(return_type))

    def _position_error(
        self, error: Exception, plan: FieldPlan, link: Link, key: str | int, path: Path, nonnull: bool
    ) -> None:
        if not link.alive():
            return
        self.errors.append(located_error(error, plan.nodes, path.as_list()))
        # Nulling waits for the end of the level: errors of one level happen concurrently, and the
        # reference executor reports every error that settled before the nulling reached it.
        self.nulls.append((link, key, nonnull))


def _ignores_info(is_type_of: Any) -> bool:
    return is_type_of.__qualname__.endswith("_get_is_type_of.<locals>.is_type_of")


def _position_type(plan: FieldPlan, link: Link, key: str | int) -> Any:
    """The GraphQL type of the position `key` inside `link`'s container."""
    if isinstance(key, int):
        return link.item_type
    assert plan.definition is not None
    return plan.definition.type


def _null_out(link: Link, key: str | int | None, nonnull: bool) -> None:
    """Null a position; a non-null one nulls its container instead, up to the nearest nullable position."""
    current: Link | None = link
    while current is not None:
        if not nonnull:
            current.container[key] = None
            return
        current.dead = True
        key, nonnull, current = current.key, current.nonnull, current.parent


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _coerce_leaf(leaf_type: Any, value: Any) -> Any:
    coerced = leaf_type.coerce_output_value(value)
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{inspect(leaf_type)}.coerce_output_value({inspect(value)})`"
            f" to return non-nullable value, returned: {inspect(coerced)}"
        )
    return coerced


def _default_resolver(source: Any, name: str) -> Any:
    from graphql.execution.executor import default_field_resolver

    return default_field_resolver(source, _NameOnly(name))  # type: ignore[arg-type]


class _NameOnly:
    __slots__ = ("field_name",)

    def __init__(self, field_name: str) -> None:
        self.field_name = field_name


# Leaf types whose value of one exact Python type needs no serializer call: (python type, value check).
_FAST_LEAVES: dict[Any, tuple[type, Callable[[Any], bool]]] = {
    GraphQLString: (str, lambda _value: True),
    GraphQLID: (str, lambda _value: True),
    GraphQLBoolean: (bool, lambda _value: True),
    GraphQLInt: (int, lambda value: MIN_INT <= value <= MAX_INT),
    GraphQLFloat: (float, math.isfinite),
}


async def _settle(pending: list[_Pending]) -> None:
    """Drive every pending awaitable to its result (or exception) without a task per awaitable.

    Each awaitable's iterator runs until it blocks on a future. Iterators whose future is done (or that
    yielded bare, to let the loop run) are resumed; otherwise the executor waits until any of the
    futures completes: waiting for all of them could deadlock, since one awaitable may hold a lock
    another is queued on.
    """
    ready: list[tuple[_Pending, Any]] = [(entry, entry.awaitable.__await__()) for entry in pending]
    blocked: list[tuple[_Pending, Any, Any]] = []
    try:
        while ready or blocked:
            for entry, iterator in ready:
                future = _step(entry, iterator)
                if future is not _DONE:
                    blocked.append((entry, iterator, future))
            if any(future is None for _e, _it, future in blocked):
                await asyncio.sleep(0)  # a bare yield asks for one turn of the event loop
            elif blocked and not any(future.done() for _e, _it, future in blocked):
                await asyncio.wait({future for _e, _it, future in blocked}, return_when=asyncio.FIRST_COMPLETED)
            ready = [(e, it) for e, it, future in blocked if future is None or future.done()]
            blocked = [(e, it, future) for e, it, future in blocked if future is not None and not future.done()]
    finally:
        for _entry, iterator in ready:
            iterator.close()
        for _entry, iterator, _future in blocked:
            iterator.close()


_DONE = object()
_MISSING = object()


def _step(entry: _Pending, iterator: Any) -> Any:
    """Resume one awaitable: _DONE when it finished (result stored), else the future it waits on or None."""
    try:
        yielded = iterator.send(None)
    except StopIteration as stop:
        entry.result = stop.value
        return _DONE
    except Exception as error:
        entry.result = error
        return _DONE
    if yielded is None:
        return None
    if not isinstance(yielded, asyncio.Future):
        iterator.close()
        entry.result = RuntimeError(f"cannot drive an awaitable that yields {yielded!r}")
        return _DONE
    yielded._asyncio_future_blocking = False
    return yielded


async def _gather(values: Any) -> list[Any]:
    return list(await asyncio.gather(*values))


def _track(_values: Any) -> None:
    return None
