"""The planned executor and one execution of a query operation, level by level."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    is_input_object_type,
    located_error,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.types.arguments import convert_arguments

from app.graphql.executor.complete import STRAWBERRY_DEFINITION, Batch, Link, is_awaitable, null_out, path_at
from app.graphql.executor.plan import FieldPlan, Planner, scan_directives
from app.graphql.executor.settle import Pending, settle

__all__ = ["FastExecutor", "Run"]

PLAN_CACHE_SIZE = 500

_DocumentEntry = tuple[DocumentNode, bool, dict[Any, Any] | None]


class FastExecutor:
    """Executes validated query operations of one schema; see the package docstring (`app.graphql.executor`)."""

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
        unsupported, variable_directives = scan_directives(document)
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
        run = Run(self, document, operation, variable_values, context_value, root_value, shared_plans)
        return await run.execute()


class Run:
    """The state of one execution."""

    def __init__(
        self,
        executor: FastExecutor,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variable_values: Any,
        context_value: Any,
        root_value: Any,
        shared_plans: dict[Any, Any] | None,
    ) -> None:
        self.schema = executor.schema
        self.operation = operation
        self.fragments: dict[str, FragmentDefinitionNode] = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variable_values = variable_values
        self.context_value = context_value
        self.root_value = root_value
        plans = shared_plans if shared_plans is not None else {}
        # plans made for one execution only are not worth compiling
        self.planner = Planner(self.schema, operation, self.fragments, variable_values, plans, shared_plans is not None)
        self.arguments: dict[int, Any] = {}
        self.batch_arguments: dict[int, dict[str, Any]] = {}
        self.errors: list[GraphQLError] = []
        self.nulls: list[tuple[Link, str | int, bool]] = []
        self.propagated = False  # whether any container was nulled: only then can a batch hold dead links
        self.next_level: dict[Any, Batch] = {}
        self.helpers = GraphQLResolveInfoHelpers(gather=_gather, track=_track)

    async def execute(self) -> ExecutionResult:
        root_type = self.schema.query_type
        if root_type is None:  # validation rejects this before execution
            return ExecutionResult(None, [GraphQLError("Schema is not configured to execute query operation.")])
        data: dict[str, Any] = {}
        root_link = Link(data, None, None, True, self.root_value, root_type.name)
        batch = Batch(root_type, None)
        batch.links.append(root_link)
        level = [batch]
        while level:
            level = await self._run_level(level)
        return ExecutionResult(None if root_link.dead else data, self.errors or None)

    # -- execution ----------------------------------------------------------------------------

    async def _run_level(self, level: list[Batch]) -> list[Batch]:
        next_level: dict[Any, Batch] = {}
        self.next_level = next_level  # where completers put the objects of the next level
        pending: list[Pending] = []
        for batch in level:
            links = batch.links
            if self.propagated:
                links = [link for link in links if link.alive()]
                if not links:
                    continue
            object_plan = self.planner.object_plan(batch.object_type, batch.nodes)
            if object_plan.fill is not None:
                object_plan.fill(links, self, pending)
            for plan in object_plan.resolved:
                if plan.is_typename:
                    name = batch.object_type.name
                    for link in links:
                        link.container[plan.key] = name
                elif plan.attribute is not None:
                    self._read_attribute(plan, plan.attribute, links, pending)
                else:
                    self._resolve_field(batch.object_type, plan, links, pending)
        if pending:
            await settle(pending)
            for entry in pending:
                if isinstance(entry.link, list):
                    self._complete_batch(entry.plan, entry.link, entry.result)
                else:
                    self._complete_field(entry.plan, entry.link, entry.result)
        for link, key, nonnull in self.nulls:
            null_out(link, key, nonnull)
            self.propagated = True
        self.nulls.clear()
        return list(next_level.values())

    def _read_attribute(self, plan: FieldPlan, attribute: str, links: list[Link], pending: list[Pending]) -> None:
        """A default-resolver field for every object: `getattr`, as strawberry's default resolver does."""
        key = plan.key
        exact_type, valid = plan.leaf
        for link in links:
            try:
                value = getattr(link.source, attribute)
            except Exception as error:
                self.read_failed(plan, link, error)
                continue
            if type(value) is exact_type and valid(value):
                link.container[key] = value
            else:
                self.take(plan, link, value, pending)

    def take(self, plan: FieldPlan, link: Link, value: Any, pending: list[Pending]) -> None:
        """Complete the value read for a plain field of one object (the generic path of compiled fills)."""
        key = plan.key
        container = link.container
        try:
            if is_awaitable(value):
                container[key] = None
                pending.append(Pending(value, plan, link))
                return
            assert plan.complete is not None
            container[key] = plan.complete(value, link, key, self)
        except Exception as error:
            container[key] = None
            self.position_error(error, plan, link, key, plan.nonnull)

    def read_plain(self, plan: FieldPlan, link: Link, pending: list[Pending]) -> None:
        """Read and complete a plain field of one object the generic way (a compiled fill's fallback)."""
        assert plan.attribute is not None
        self._read_attribute(plan, plan.attribute, [link], pending)

    def read_failed(self, plan: FieldPlan, link: Link, error: Exception) -> None:
        """Reading a plain field of one object raised: its position is null, with the error."""
        link.container[plan.key] = None
        self.position_error(error, plan, link, plan.key, plan.nonnull)

    def fill_generic(self, fields: list[tuple[FieldPlan, bool]], link: Link, pending: list[Pending]) -> None:
        """What a compiled fill does for one object whose source is not of the type's own class: each compiled
        field read and completed generically, `__typename`, and placeholders for the fields resolved later."""
        for plan, compiled in fields:
            if plan.is_typename:
                link.container[plan.key] = link.type_name
            elif compiled:
                self.read_plain(plan, link, pending)
            else:
                link.container[plan.key] = None

    def _resolve_field(
        self,
        object_type: GraphQLObjectType,
        plan: FieldPlan,
        links: list[Link],
        pending: list[Pending],
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
                    value = resolve(link.source, self.info(plan, path_at(link, key)), **arguments)
            except Exception as error:
                self.position_error(error, plan, link, key, plan.nonnull)
                continue
            if is_awaitable(value):
                pending.append(Pending(value, plan, link))
            else:
                self._complete_field(plan, link, value)

    def _resolve_batch(
        self,
        plan: FieldPlan,
        arguments: dict[str, Any],
        links: list[Link],
        pending: list[Pending],
    ) -> None:
        key = plan.key
        for link in links:
            link.container[key] = None
        try:
            assert plan.batch is not None
            values = plan.batch(self.context_value, [link.source for link in links], arguments)
        except Exception as error:
            values = error
        if is_awaitable(values):
            pending.append(Pending(values, plan, links))
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
                info = config.info_class(_raw_info=self.info(plan, path_at(link, plan.key)), _field=strawberry_field)
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
            is_awaitable,
            None,
            self.helpers,
        )

    # -- errors and null propagation --------------------------------------------------------

    def position_error(self, error: Exception, plan: FieldPlan, link: Link, key: str | int, nonnull: bool) -> None:
        """Report an error at a position and null it (or its nearest nullable ancestor) when the level ends."""
        if not link.alive():
            return
        self.errors.append(located_error(error, plan.nodes, path_at(link, key).as_list()))
        # Nulling waits for the end of the level: errors of one level happen concurrently, and the
        # reference executor reports every error that settled before the nulling reached it.
        self.nulls.append((link, key, nonnull))


def _default_resolver(source: Any, name: str) -> Any:
    from graphql.execution.executor import default_field_resolver

    return default_field_resolver(source, _NameOnly(name))  # type: ignore[arg-type]


class _NameOnly:
    __slots__ = ("field_name",)

    def __init__(self, field_name: str) -> None:
        self.field_name = field_name


async def _gather(values: Any) -> list[Any]:
    return list(await asyncio.gather(*values))


def _track(_values: Any) -> None:
    return None
