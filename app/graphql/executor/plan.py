"""Planning: which fields an object of a type and selection produces, and how each is read and completed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    is_abstract_type,
    is_non_null_type,
)
from graphql.execution.values import get_directive_values
from graphql.utilities import type_from_ast

from app.errors import UserInputError
from app.graphql.executor.compile import Build, ObjectPlan, compile_builder, compile_object_plan
from app.graphql.executor.complete import STRAWBERRY_DEFINITION, Completer, Completers, NoType, fast_leaf, never

__all__ = ["BATCH_METADATA_KEY", "UNSUPPORTED_DIRECTIVES", "FieldPlan", "Planner", "scan_directives"]

UNSUPPORTED_DIRECTIVES = frozenset({"defer", "stream", "experimental_disable_error_propagation"})

# A field may declare, in its metadata under this key, `batch(context, sources, arguments)` returning (an
# awaitable of) the list of values its resolver would give for each source, in order. The planned
# executor then calls it once per level instead of the resolver once per object.
BATCH_METADATA_KEY = "storefront.batch"


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
    leaf: tuple[type, Callable[[Any], bool]] = (NoType, never)  # see `fast_leaf`


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


def scan_directives(document: DocumentNode) -> tuple[bool, bool]:
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


class Planner:
    """Plans the fields of one operation: for each (object type, selection), the fields to produce and
    how to read and complete each; plans are kept in `plans`, shared by the executions of a document
    when no directive depends on a variable. Object plans (`object_plan`) add a compiled fill of the
    plain fields (see `compile`) when `compiled`: worth its cost for plans a document keeps."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variable_values: Any,
        plans: dict[Any, Any],
        compiled: bool = True,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.variable_values = variable_values
        self.plans = plans
        self.compiled = compiled

    def object_plan(self, object_type: GraphQLObjectType, nodes: list[FieldNode] | None) -> ObjectPlan:
        """The fields of objects of this type and selection, with the compiled fill of the plain ones."""
        key = ("object", object_type.name, self._selection_key(nodes))
        found = self.plans.get(key)
        if found is None:
            fields = self.plan(object_type, nodes)
            compiled = self.compiled
            found = compile_object_plan(object_type, fields, self.plan) if compiled else ObjectPlan.uncompiled(fields)
            self.plans[key] = found
        return found  # type: ignore[no-any-return]

    def _selection_key(self, nodes: list[FieldNode] | None) -> tuple[Any, ...]:
        """What a plan is kept under besides its type: its field nodes, or for the root the operation (plans
        are shared by every operation of a document)."""
        return ("operation", id(self.operation)) if nodes is None else tuple(map(id, nodes))

    def builder(self, object_type: GraphQLObjectType, nodes: list[FieldNode]) -> Build | None:
        """The compiled builder of whole objects of this type and selection, if every field compiles."""
        key = ("build", object_type.name, tuple(map(id, nodes)))
        if key not in self.plans:
            self.plans[key] = compile_builder(object_type, nodes, self.plan)
        return self.plans[key]  # type: ignore[no-any-return]

    def plan(self, object_type: GraphQLObjectType, nodes: list[FieldNode] | None) -> list[FieldPlan]:
        """The fields objects of this type and selection produce, in response order."""
        key = (object_type.name, self._selection_key(nodes))
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._build_plan(object_type, nodes)
        return plan  # type: ignore[no-any-return]

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
        try:
            skip = get_directive_values(GraphQLSkipDirective, node, self.variable_values)
            include = get_directive_values(GraphQLIncludeDirective, node, self.variable_values)
        except GraphQLError as error:  # `if: $v` with $v null: the client's input, refused as such
            raise UserInputError(error.message) from None
        if skip and skip["if"] is True:
            return False
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
            plan.complete = Completers(plan, self.builder if self.compiled else None).build(return_type, False)
            plan.leaf = fast_leaf(return_type)
        return plan
