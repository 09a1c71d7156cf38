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
- completes values with functions made once per planned field for its return type (non-null, list,
  leaf, object), so a value's completion does no type inspection;
- keeps one `Link` per object and list for null propagation, and builds response paths from the links
  only when an error or a resolver's `info` needs one;
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
does) must run in a task of its own; `RequestDatabase` does so for the pool checkout.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect as inspect_module
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import GeneratorType
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
    get_named_type,
    is_abstract_type,
    is_input_object_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql.execution.values import get_argument_values, get_directive_values
from graphql.pyutils import Path, Undefined, inspect
from graphql.type.definition import GraphQLResolveInfoHelpers
from graphql.utilities import type_from_ast
from strawberry.types.arguments import convert_arguments

__all__ = ["BATCH_METADATA_KEY", "FastExecutor"]

UNSUPPORTED_DIRECTIVES = frozenset({"defer", "stream", "experimental_disable_error_propagation"})
PLAN_CACHE_SIZE = 500
MAX_INT = 2**31 - 1
MIN_INT = -(2**31)
STRAWBERRY_DEFINITION = "strawberry-definition"
# A field may declare, in its metadata under this key, `batch(context, sources, arguments)` returning (an
# awaitable of) the list of values its resolver would give for each source, in order. The planned
# executor then calls it once per level instead of the resolver once per object.
BATCH_METADATA_KEY = "storefront.batch"


# Whether values of a type are awaitable, by type: `await` looks `__await__` up on the type, and asking an
# instance would run `__getattr__` of lazy objects (schema/lazy.py) for a miss every time.
_AWAITABLE_TYPES: dict[type, bool] = dict.fromkeys((str, int, float, bool, type(None), list, dict, tuple), False)


def _is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    value_type = type(value)
    awaitable = _AWAITABLE_TYPES.get(value_type)
    if awaitable is None:
        if value_type is GeneratorType:  # a generator-based coroutine is awaitable by its code flags
            return inspect_module.isawaitable(value)
        awaitable = _AWAITABLE_TYPES[value_type] = hasattr(value_type, "__await__")
    return awaitable


Completer = Callable[[Any, "Link", "str | int", "_Run"], Any]


class Link:
    """A result container (object dict or list), where it sits in its parent, and for an object its source.

    Links make null propagation possible (an error nulls the nearest nullable position upwards) and give
    response paths on demand (`_path`), so no path is built for a position that never fails.
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


def _path(link: Link, key: str | int) -> Path:
    """The response path of the position `key` inside `link`'s container."""
    return Path(_link_path(link), key, link.type_name)


class _NoType:
    """No value is of this type: a fast-path check that never passes."""


def _never(_value: Any) -> bool:
    return False


@dataclass(slots=True)
class FieldPlan:
    """How to produce one response key of an object: which field, how to read it, how to complete it."""

    key: str
    name: str
    parent_type: str
    nodes: list[FieldNode]
    definition: GraphQLField | None
    attribute: str | None  # set when the field is a plain attribute read (strawberry's default resolver)
    is_typename: bool
    batch: Callable[..., Any] | None = None  # the field's declared per-level resolver, if any
    nonnull: bool = False
    complete: Completer | None = None  # completes a resolved value for the return type; raises on error
    leaf: tuple[type, Callable[[Any], bool]] = (_NoType, _never)  # see `_fast_leaf`


class _Batch:
    """Every object of one level that has the same runtime type and selection."""

    __slots__ = ("links", "nodes", "object_type")

    def __init__(self, object_type: GraphQLObjectType, nodes: list[FieldNode] | None) -> None:
        self.object_type = object_type
        self.nodes = nodes
        self.links: list[Link] = []


class _Pending:
    """A resolver result still to be awaited, with where its completed value goes.

    For a batch resolver, `link` is a list: one object link per source.
    """

    __slots__ = ("awaitable", "blocked_on", "context", "iterator", "link", "plan", "result")

    def __init__(self, awaitable: Any, plan: FieldPlan, link: Any) -> None:
        self.awaitable = awaitable
        self.plan = plan
        self.link = link
        self.result: Any = None
        # Each awaitable runs in a context of its own, as in a task of its own: what one resolver sets in
        # a contextvar is not seen by its siblings and does not outlive the operation.
        self.context = contextvars.copy_context()
        self.iterator: Any = None  # the awaitable's iterator, once `_settle` drives it
        self.blocked_on: Any = _NOT_STARTED  # the future it waits on, None after a bare yield, or _DONE


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


def _plain_attribute(definition: GraphQLField | None, strawberry_field: Any) -> str | None:
    """The attribute a field reads when its value is exactly `getattr(source, attribute)`, else None.

    That holds only for strawberry's basic resolver: no resolver of its own, no field extensions
    (permission classes are one), no exception handlers, and the default `getattr` resolver. strawberry
    marks every resolver-less field `_is_default`, also one whose extensions must run; such a field is
    resolved through its (wrapped) resolver like any other.
    """
    if definition is None or strawberry_field is None:
        return None
    resolve = definition.resolve
    if not getattr(resolve, "_is_default", False) or getattr(resolve, "__name__", "") != "_get_basic_result":
        return None
    if not strawberry_field.is_basic_field or strawberry_field.default_resolver is not getattr:
        return None
    return strawberry_field.python_name  # type: ignore[no-any-return]


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
        self.batch_arguments: dict[int, dict[str, Any]] = {}
        self.errors: list[GraphQLError] = []
        self.nulls: list[tuple[Link, str | int, bool]] = []
        self.propagated = False  # whether any container was nulled: only then can a batch hold dead links
        self.next_level: dict[Any, _Batch] = {}
        self.helpers = GraphQLResolveInfoHelpers(gather=_gather, track=_track)

    async def execute(self) -> ExecutionResult:
        root_type = self.schema.query_type
        if root_type is None:  # validation rejects this before execution
            return ExecutionResult(None, [GraphQLError("Schema is not configured to execute query operation.")])
        data: dict[str, Any] = {}
        root_link = Link(data, None, None, True, self.root_value, root_type.name)
        batch = _Batch(root_type, None)
        batch.links.append(root_link)
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
        plans = [self._field_plan(object_type, key, field_nodes) for key, field_nodes in grouped.items()]
        return [plan for plan in plans if plan.is_typename or plan.definition is not None]

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
        attribute = _plain_attribute(definition, strawberry_field)
        plan = FieldPlan(key, name, object_type.name, nodes, definition, attribute, False, _batch_of(strawberry_field))
        if definition is not None:
            return_type: Any = definition.type
            plan.nonnull = is_non_null_type(return_type)
            plan.complete = _Completers(plan).build(return_type, False)
            plan.leaf = _fast_leaf(return_type)
        return plan

    # -- execution ----------------------------------------------------------------------------

    async def _run_level(self, level: list[_Batch]) -> list[_Batch]:
        next_level: dict[Any, _Batch] = {}
        self.next_level = next_level  # where completers put the objects of the next level
        pending: list[_Pending] = []
        for batch in level:
            links = batch.links
            if self.propagated:
                links = [link for link in links if link.alive()]
                if not links:
                    continue
            for plan in self._plan(batch.object_type, batch.nodes):
                if plan.is_typename:
                    name = batch.object_type.name
                    for link in links:
                        link.container[plan.key] = name
                elif plan.attribute is not None:
                    self._read_attribute(plan, plan.attribute, links, pending)
                else:
                    self._resolve_field(batch.object_type, plan, links, pending)
        if pending:
            await _settle(pending)
            for entry in pending:
                if isinstance(entry.link, list):
                    self._complete_batch(entry.plan, entry.link, entry.result)
                else:
                    self._complete_field(entry.plan, entry.link, entry.result)
        for link, key, nonnull in self.nulls:
            _null_out(link, key, nonnull)
            self.propagated = True
        self.nulls.clear()
        return list(next_level.values())

    def _read_attribute(self, plan: FieldPlan, attribute: str, links: list[Link], pending: list[_Pending]) -> None:
        """A default-resolver field for every object: `getattr`, as strawberry's default resolver does."""
        key = plan.key
        exact_type, valid = plan.leaf
        complete = plan.complete
        assert complete is not None
        for link in links:
            container = link.container
            try:
                value = getattr(link.source, attribute)
                if type(value) is exact_type and valid(value):
                    container[key] = value
                    continue
                if _is_awaitable(value):
                    container[key] = None
                    pending.append(_Pending(value, plan, link))
                    continue
                container[key] = complete(value, link, key, self)
            except Exception as error:
                container[key] = None
                self.position_error(error, plan, link, key, plan.nonnull)

    def _resolve_field(
        self,
        object_type: GraphQLObjectType,
        plan: FieldPlan,
        links: list[Link],
        pending: list[_Pending],
    ) -> None:
        key = plan.key
        try:
            arguments = self._arguments(plan)
        except Exception as error:
            for link in links:
                link.container[key] = None
                self.position_error(error, plan, link, key, plan.nonnull)
            return
        if plan.batch is not None:
            try:
                arguments = self._batch_arguments(plan, arguments, links[0])
            except Exception as error:
                for link in links:
                    link.container[key] = None
                    self.position_error(error, plan, link, key, plan.nonnull)
                return
            self._resolve_batch(plan, arguments, links, pending)
            return
        assert plan.definition is not None
        resolve = plan.definition.resolve
        for link in links:
            link.container[key] = None
            try:
                if resolve is None:
                    value = _default_resolver(link.source, plan.name)
                else:
                    value = resolve(link.source, self.info(plan, _path(link, key)), **arguments)
            except Exception as error:
                self.position_error(error, plan, link, key, plan.nonnull)
                continue
            if _is_awaitable(value):
                pending.append(_Pending(value, plan, link))
            else:
                self._complete_field(plan, link, value)

    def _resolve_batch(
        self,
        plan: FieldPlan,
        arguments: dict[str, Any],
        links: list[Link],
        pending: list[_Pending],
    ) -> None:
        key = plan.key
        for link in links:
            link.container[key] = None
        try:
            assert plan.batch is not None
            values = plan.batch(self.context_value, [link.source for link in links], arguments)
        except Exception as error:
            values = error
        if _is_awaitable(values):
            pending.append(_Pending(values, plan, links))
        else:
            self._complete_batch(plan, links, values)

    def _complete_batch(self, plan: FieldPlan, links: list[Link], values: Any) -> None:
        if not isinstance(values, Exception) and (not isinstance(values, list) or len(values) != len(links)):
            values = TypeError(f"The batch resolver of {plan.parent_type}.{plan.name} returned a wrong-sized list")
        if isinstance(values, Exception):
            for link in links:
                self.position_error(values, plan, link, plan.key, plan.nonnull)
            return
        for link, value in zip(links, values, strict=True):
            self._complete_field(plan, link, value)

    def _complete_field(self, plan: FieldPlan, link: Link, value: Any) -> None:
        key = plan.key
        try:
            if isinstance(value, Exception):
                raise value
            assert plan.complete is not None
            link.container[key] = plan.complete(value, link, key, self)
        except Exception as error:
            self.position_error(error, plan, link, key, plan.nonnull)

    def _arguments(self, plan: FieldPlan) -> Any:
        found = self.arguments.get(id(plan))
        if found is None:
            assert plan.definition is not None
            found = self.arguments[id(plan)] = get_argument_values(plan.definition, plan.nodes[0], self.variable_values)
        return found

    def _batch_arguments(self, plan: FieldPlan, arguments: dict[str, Any], link: Link) -> dict[str, Any]:
        """The arguments as the field's resolver receives them: Python names and strawberry inputs,
        converted exactly as strawberry converts them for a resolver (once per planned field)."""
        if not arguments:
            return arguments
        found = self.batch_arguments.get(id(plan))
        if found is None:
            assert plan.definition is not None
            strawberry_field = (plan.definition.extensions or {})[STRAWBERRY_DEFINITION]
            strawberry_schema = self.schema._strawberry_schema  # type: ignore[attr-defined]
            config = strawberry_schema.config
            info = None  # only input objects read it (to build themselves); scalars convert without it
            if any(is_input_object_type(get_named_type(arg.type)) for arg in plan.definition.args.values()):
                info = config.info_class(_raw_info=self.info(plan, _path(link, plan.key)), _field=strawberry_field)
            found = self.batch_arguments[id(plan)] = convert_arguments(
                arguments,
                strawberry_field.arguments,
                scalar_registry=strawberry_schema.schema_converter.scalar_registry,
                config=config,
                info=info,
            )
        return found

    def info(self, plan: FieldPlan, path: Path) -> GraphQLResolveInfo:
        """The resolve info of a planned field at a path, for resolvers and type callbacks."""
        assert plan.definition is not None
        return GraphQLResolveInfo(
            plan.name,
            plan.nodes,
            plan.definition.type,
            self.schema.get_type(plan.parent_type),  # type: ignore[arg-type]
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

    # -- errors and null propagation --------------------------------------------------------

    def position_error(self, error: Exception, plan: FieldPlan, link: Link, key: str | int, nonnull: bool) -> None:
        """Report an error at a position and null it (or its nearest nullable ancestor) when the level ends."""
        if not link.alive():
            return
        self.errors.append(located_error(error, plan.nodes, _path(link, key).as_list()))
        # Nulling waits for the end of the level: errors of one level happen concurrently, and the
        # reference executor reports every error that settled before the nulling reached it.
        self.nulls.append((link, key, nonnull))


class _Completers:
    """Builds the completion functions of one planned field: one per wrapping of its return type.

    A completer takes a resolved value and its position (container link and key), returns the value for
    the response, registers objects for the next level, and raises on an error at that position. List
    completers report their items' errors themselves, since an item is a position of its own.
    """

    def __init__(self, plan: FieldPlan) -> None:
        self.plan = plan

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

        def complete_non_null(value: Any, link: Link, key: str | int, run: _Run) -> Any:
            completed = inner(value, link, key, run)
            if completed is None:
                raise TypeError(message)
            return completed

        return complete_non_null

    def _list(self, item_type: Any, nonnull: bool) -> Completer:
        plan = self.plan
        complete_item = self.build(item_type, False)
        item_nonnull = is_non_null_type(item_type)
        exact_type, valid = _fast_leaf(item_type)
        message = f"Expected Iterable, but did not find one for field '{plan.parent_type}.{plan.name}'."

        def complete_list(value: Any, link: Link, key: str | int, run: _Run) -> Any:
            if value is None or value is Undefined:
                return None
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                raise GraphQLError(message, plan.nodes)
            completed: list[Any] = []
            list_link = Link(completed, link, key, nonnull)
            for index, item in enumerate(value):
                if type(item) is exact_type and valid(item):
                    completed.append(item)
                    continue
                try:
                    if _is_awaitable(item):
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
        origin = getattr(definition, "origin", _NoType)
        is_type_of = object_type.is_type_of
        # strawberry's generated checks never read the info; an info is built only for hand-written ones
        needs_info = is_type_of is not None and not _ignores_info(is_type_of)

        def complete_object(value: Any, link: Link, key: str | int, run: _Run) -> Any:
            if value is None or value is Undefined:
                return None
            if is_type_of is not None and type(value) is not origin:
                info = run.info(plan, _path(link, key)) if needs_info else None
                if not is_type_of(value, info):  # type: ignore[arg-type]
                    raise GraphQLError(f"Expected value of type '{object_type}' but got: {inspect(value)}.", plan.nodes)
            result: dict[str, Any] = {}
            level = run.next_level
            batch = level.get(batch_key)
            if batch is None:
                batch = level[batch_key] = _Batch(object_type, plan.nodes)
            batch.links.append(Link(result, link, key, nonnull, value, type_name))
            return result

        return complete_object

    def _abstract(self, abstract_type: Any, nonnull: bool) -> Completer:
        plan = self.plan
        by_type: dict[str, Completer] = {}

        def complete_abstract(value: Any, link: Link, key: str | int, run: _Run) -> Any:
            if value is None or value is Undefined:
                return None
            runtime_type = _runtime_type(run, abstract_type, plan, value, _path(link, key))
            complete = by_type.get(runtime_type.name)
            if complete is None:
                complete = by_type[runtime_type.name] = self._object(runtime_type, nonnull)
            return complete(value, link, key, run)

        return complete_abstract


def _leaf_completer(leaf_type: Any) -> Completer:
    exact_type, valid = _fast_leaf(leaf_type)

    def complete_leaf(value: Any, _link: Link, _key: str | int, _run: _Run) -> Any:
        if value is None or value is Undefined:
            return None
        if type(value) is exact_type and valid(value):
            return value
        return _coerce_leaf(leaf_type, value)

    return complete_leaf


def _runtime_type(run: _Run, abstract_type: Any, plan: FieldPlan, value: Any, path: Path) -> Any:
    schema = run.schema
    info = run.info(plan, path)
    resolve_type: Callable[..., Any] | None = abstract_type.resolve_type
    if resolve_type is None:
        from graphql.execution.executor import default_type_resolver

        resolve_type = default_type_resolver
    name = resolve_type(value, info, abstract_type)
    if _is_awaitable(name):
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


def _null_out(link: Link, key: str | int | None, nonnull: bool) -> None:
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


def _default_resolver(source: Any, name: str) -> Any:
    from graphql.execution.executor import default_field_resolver

    return default_field_resolver(source, _NameOnly(name))  # type: ignore[arg-type]


class _NameOnly:
    __slots__ = ("field_name",)

    def __init__(self, field_name: str) -> None:
        self.field_name = field_name


def _fast_leaf(type_: Any) -> tuple[type, Callable[[Any], bool]]:
    """(python type, value check): a value of a position of this (possibly non-null) type that has exactly
    that type and passes the check is its own serialized form; for other types the check never passes."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return _FAST_LEAVES.get(type_, (_NoType, _never))


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
    another is queued on. When the request itself is cancelled, every awaitable is cancelled as its own
    task would be (see `_cancel`), and the cancellation propagates.
    """
    for entry in pending:
        entry.iterator = entry.awaitable.__await__()
    waiting = pending
    try:
        while waiting:
            waiting = _advance(waiting)
            if waiting:
                await _wait_any(waiting)
    except BaseException:
        await _cancel(pending)
        raise


_NOT_STARTED = object()
_DONE = object()


def _advance(entries: list[_Pending], cancelling: bool = False) -> list[_Pending]:
    """Resume every entry that can go on; the entries still unfinished, in order."""
    unfinished = []
    for entry in entries:
        blocked_on = entry.blocked_on
        if blocked_on is _NOT_STARTED or blocked_on is None or blocked_on.done():
            entry.blocked_on = blocked_on = _step(entry, cancelling)
        if blocked_on is not _DONE:
            unfinished.append(entry)
    return unfinished


async def _wait_any(entries: list[_Pending]) -> None:
    """Wait until at least one entry can go on."""
    futures = [entry.blocked_on for entry in entries]
    if any(future is None for future in futures):
        await asyncio.sleep(0)  # a bare yield asks for one turn of the event loop
    elif not any(future.done() for future in futures):
        await asyncio.wait(set(futures), return_when=asyncio.FIRST_COMPLETED)


async def _cancel(pending: list[_Pending]) -> None:
    """Cancel every unfinished awaitable as `Task.cancel` would, and drive each until it has finished.

    An awaitable blocked on a future gets that future cancelled, so it resumes with CancelledError where
    it waits and its `finally` blocks and context managers run (a statement in flight is cancelled in the
    driver, a connection is handed back). Closing it instead would raise GeneratorExit where it waits,
    which SQLAlchemy's greenlet bridge cannot honour. An awaitable never started is closed.
    """
    for entry in pending:
        blocked_on = entry.blocked_on
        if blocked_on is _NOT_STARTED:
            entry.iterator.close()
            entry.blocked_on = _DONE
        elif blocked_on is None:  # it yielded bare: throw the cancellation in once, as a task would
            entry.blocked_on = _step(entry, cancelling=True, throw=True)
        elif blocked_on is not _DONE:
            blocked_on.cancel()
    waiting = [entry for entry in pending if entry.blocked_on is not _DONE]
    try:
        while waiting:
            waiting = _advance(waiting, cancelling=True)
            if waiting:
                await _wait_any(waiting)
    except BaseException:  # cancelled again while cleaning up: give up on the rest
        for entry in waiting:
            entry.iterator.close()
        raise


def _step(entry: _Pending, cancelling: bool = False, throw: bool = False) -> Any:
    """Resume one awaitable: _DONE when it finished (result stored), else the future it waits on or None.

    With `throw`, CancelledError is thrown in instead; while `cancelling`, whatever the awaitable raises
    ends it (its result no longer matters).
    """
    iterator = entry.iterator
    try:
        if throw:
            yielded = entry.context.run(iterator.throw, asyncio.CancelledError())
        else:
            yielded = entry.context.run(iterator.send, None)
    except StopIteration as stop:
        entry.result = stop.value
        return _DONE
    except Exception as error:
        entry.result = error
        return _DONE
    except BaseException as error:
        if not cancelling:
            raise
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
