"""Query cost, Shopify style: what an operation may cost before it runs, and what its response did cost.

The prices:
- an object costs 1, for each one a list or connection may return; a scalar or an enum costs 0;
- a connection (a field of a `...Connection` type with `first`/`last`) multiplies the selections of its
  `edges` and `nodes` by its page size: `first` or `last`, else the default page size, at most the maximum;
- any other list multiplies its item's cost by its size: its own `first`, else the length of its list
  argument (`nodes(ids:)`), else the size given for it (`"ProductVariant.selectedOptions": 3`, a bound the
  data keeps), else an assumed size;
- weights, given per field (`"ProductConnection.totalCount"`, or `"*.totalCount"` for every type), for
  fields dearer to resolve than their objects; per argument (`"Query.products(filter.query)"`), added when
  the argument has a value (a text search); and a base cost for each mutation field;
- introspection (`__schema`, `__type`) and `__typename` are free: introspection has its own policy.

The requested cost is the most an operation can return: every page full, each abstract position (a `Node`,
a union) its dearest type, `@skip`/`@include` evaluated. The actual cost applies the same prices to what the
response holds, so it never exceeds the requested one.

Each (document, operation) is compiled once into a plan of the fields that cost anything (scalars without a
weight are left out), kept with the parsed document; the two costs are walks of that plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values, get_directive_values

__all__ = ["DEFAULT_MAX_COST", "CostAnalysis", "CostPlan", "CostPrices", "cost_exceeded"]

DEFAULT_MAX_COST = 10_000


@dataclass(frozen=True)
class CostPrices:
    """What things cost (see the module's docstring); the defaults are Shopify's, with our page sizes."""

    max_cost: int = DEFAULT_MAX_COST
    default_page_size: int = 20
    max_page_size: int = 100
    assumed_list_size: int = 10
    mutation_cost: int = 10
    weights: Mapping[str, int] = field(default_factory=dict)
    list_sizes: Mapping[str, int] = field(default_factory=dict)  # "Type.field": most items, for unsized lists


class _Field:
    """One response key of a plan that costs something."""

    __slots__ = (
        "arguments",
        "children",
        "conditions",
        "definition",
        "fixed_arguments",
        "key",
        "node",
        "searches",
        "size",
        "weight",
    )

    def __init__(self, key: str, node: FieldNode, definition: GraphQLField) -> None:
        self.key = key
        self.node = node
        self.definition = definition
        self.conditions: list[tuple[Any, ...]] = []  # per occurrence: the nodes whose @skip/@include apply
        self.weight = 0
        self.searches: tuple[tuple[tuple[str, ...], int], ...] = ()  # (argument path, weight)
        self.size = _ONE  # how many of its item the field returns
        self.arguments = False  # whether costing it needs its argument values
        self.fixed_arguments: dict[str, Any] | None = None  # its argument values, when no variable is among them
        self.children: _Selection | None = None  # None for a leaf


class _Selection:
    """The costed fields of a selection set, per object type it may be (one unless it is abstract)."""

    __slots__ = ("by_type", "single")

    def __init__(self, by_type: dict[str, tuple[_Field, ...]]) -> None:
        self.by_type = by_type
        self.single = next(iter(by_type.values())) if len(by_type) == 1 else None  # most selections: one type


# How a field's size is found: one item, the page of its connection, its own `first`, its list argument's
# length ("arg:ids"), the size given for it ("size:3"), or the assumed size of a list.
_ONE, _PAGE, _CONNECTION, _FIRST, _ASSUMED = "one", "page", "connection", "first", "assumed"


class CostPlan:
    """An operation's costed fields, for its requested cost (with variables) and its response's actual cost."""

    __slots__ = ("prices", "root")

    def __init__(self, root: _Selection, prices: CostPrices) -> None:
        self.root = root
        self.prices = prices

    def requested(self, variables: Any) -> int:
        """The most the operation can cost with these (coerced) variable values."""
        return _Requested(self.prices, variables).selection(self.root, None)

    def actual(self, data: Any, variables: Any) -> int:
        """What a response's `data` cost: the same prices, for what it holds. A list priced at its assumed
        size may hold more, so the caller, which knows the requested cost, holds it to that."""
        if not isinstance(data, dict):
            return 0
        return _Actual(variables).selection(self.root, data)


class CostAnalysis:
    """Compiles cost plans for one schema under one set of prices."""

    def __init__(self, schema: GraphQLSchema, prices: CostPrices | None = None) -> None:
        self.schema = schema
        self.prices = prices or CostPrices()

    def plan(self, document: Any, operation: OperationDefinitionNode) -> CostPlan:
        """The cost plan of one operation of a validated document."""
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        root_type = self.schema.get_root_type(operation.operation)
        assert root_type is not None  # a validated operation has its root type
        compiler = _Compiler(self.schema, self.prices, fragments, operation.operation == OperationType.MUTATION)
        return CostPlan(compiler.selection(root_type, [(operation.selection_set, ())], root=True), self.prices)


def cost_exceeded(cost: int, limit: int) -> GraphQLError:
    """The refusal of an operation dearer than the limit, with both in its extensions."""
    return GraphQLError(
        f"The query costs {cost} points; at most {limit} are allowed. Ask for smaller pages or fewer fields",
        extensions={"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": limit},
    )


# ---------------------------------------------------------------------------------------------- compiling


class _Compiler:
    def __init__(
        self, schema: GraphQLSchema, prices: CostPrices, fragments: dict[str, FragmentDefinitionNode], mutation: bool
    ) -> None:
        self.schema = schema
        self.prices = prices
        self.fragments = fragments
        self.mutation = mutation
        self.searches = _argument_weights(prices.weights)

    def selection(
        self,
        parent: GraphQLNamedType,
        sets: list[tuple[SelectionSetNode, tuple[Any, ...]]],
        *,
        root: bool = False,
        in_connection: bool = False,
    ) -> _Selection:
        """The costed fields of selection sets (merged, as one response key merges them) on a type."""
        types: Iterable[GraphQLObjectType] = (
            self.schema.get_possible_types(parent) if is_abstract_type(parent) else [parent]  # type: ignore[arg-type, list-item]
        )
        by_type: dict[str, tuple[_Field, ...]] = {}
        for object_type in types:
            occurrences: dict[str, list[tuple[FieldNode, tuple[Any, ...]]]] = {}
            expanded: set[tuple[str, tuple[int, ...]]] = set()
            for selection_set, conditions in sets:
                self._collect(object_type, selection_set, conditions, occurrences, expanded)
            by_type[object_type.name] = tuple(
                costed
                for key, found in occurrences.items()
                if (costed := self._field(object_type, key, found, root, in_connection)) is not None
            )
        return _Selection(by_type)

    def _collect(
        self,
        object_type: GraphQLObjectType,
        selection_set: SelectionSetNode,
        conditions: tuple[Any, ...],
        into: dict[str, list[tuple[FieldNode, tuple[Any, ...]]]],
        expanded: set[tuple[str, tuple[int, ...]]],
    ) -> None:
        """Gather the fields of a selection set on an object type, by response key. A fragment is expanded
        once per set of conditions: spread again, it adds the same fields (which merge), and expanding it
        each time would take time exponential in a chain of fragments spread twice each."""
        for selection in selection_set.selections:
            here = (*conditions, selection) if selection.directives else conditions
            if isinstance(selection, FieldNode):
                if not selection.name.value.startswith("__"):
                    key = selection.alias.value if selection.alias else selection.name.value
                    into.setdefault(key, []).append((selection, here))
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, object_type):
                    self._collect(object_type, selection.selection_set, here, into, expanded)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                once = (name, tuple(map(id, here)))
                if (
                    fragment is not None
                    and once not in expanded
                    and self._applies(fragment.type_condition, object_type)
                ):
                    expanded.add(once)  # also ends a cycle (which validation refuses anyway)
                    self._collect(object_type, fragment.selection_set, here, into, expanded)

    def _applies(self, condition: Any, object_type: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        named = self.schema.get_type(condition.name.value)
        if named is None or named is object_type:
            return named is object_type
        return is_abstract_type(named) and self.schema.is_sub_type(named, object_type)  # type: ignore[arg-type]

    def _field(
        self,
        parent: GraphQLObjectType,
        key: str,
        occurrences: list[tuple[FieldNode, tuple[Any, ...]]],
        root: bool,
        in_connection: bool,
    ) -> _Field | None:
        node = occurrences[0][0]
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return None
        costed = _Field(key, node, definition)
        costed.conditions = [conditions for _, conditions in occurrences]
        self._price(costed, parent, root)
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return costed if costed.weight or costed.searches else None
        costed.size = self._size(costed, parent, named, in_connection)
        costed.arguments = bool(costed.searches) or costed.size in (_CONNECTION, _FIRST) or _is_argument(costed.size)
        if costed.arguments and not any(_has_variable(argument.value) for argument in node.arguments or ()):
            costed.fixed_arguments = _arguments(costed, None)
        sets = [(n.selection_set, ()) for n, _ in occurrences if n.selection_set is not None]
        costed.children = self.selection(named, sets, in_connection=costed.size == _CONNECTION)
        return costed

    def _price(self, costed: _Field, parent: GraphQLObjectType, root: bool) -> None:
        name = f"{parent.name}.{costed.node.name.value}"
        weights = self.prices.weights
        costed.weight = weights.get(name, weights.get(f"*.{costed.node.name.value}", 0))
        if root and self.mutation:
            costed.weight += self.prices.mutation_cost
        costed.searches = self.searches.get(name, ())

    def _size(self, costed: _Field, parent: GraphQLObjectType, named: GraphQLNamedType, in_connection: bool) -> str:
        definition = costed.definition
        if _is_list(definition.type):
            if in_connection:
                return _PAGE
            if "first" in definition.args:
                return _FIRST
            for name, argument in definition.args.items():
                if _is_list(argument.type):
                    return f"arg:{name}"
            bound = self.prices.list_sizes.get(f"{parent.name}.{costed.node.name.value}")
            return f"size:{bound}" if bound is not None else _ASSUMED
        if named.name.endswith("Connection") and ("first" in definition.args or "last" in definition.args):
            return _CONNECTION
        return _ONE


def _argument_weights(weights: Mapping[str, int]) -> dict[str, tuple[tuple[tuple[str, ...], int], ...]]:
    """`"Type.field(arg.path)": weight` entries, per field: ((argument path), weight) pairs."""
    found: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    for spec, weight in weights.items():
        if spec.endswith(")") and "(" in spec:
            name, path = spec[:-1].split("(", 1)
            found.setdefault(name, []).append((tuple(path.split(".")), weight))
    return {name: tuple(paths) for name, paths in found.items()}


def _has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(item.value) for item in value.fields)
    return False


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _is_argument(size: str) -> bool:
    return size.startswith("arg:")


# ---------------------------------------------------------------------------------------------- costing


def _included(costed: _Field, variables: Any) -> bool:
    """Whether any occurrence of the field survives its @skip/@include directives."""
    return any(all(_kept(node, variables) for node in conditions) for conditions in costed.conditions)


def _kept(node: Any, variables: Any) -> bool:
    try:
        skip = get_directive_values(GraphQLSkipDirective, node, variables)
        include = get_directive_values(GraphQLIncludeDirective, node, variables)
    except GraphQLError:  # `if: $v` with $v null: execution refuses it; priced as kept meanwhile
        return True
    if skip is not None and skip["if"] is True:
        return False
    return not (include is not None and include["if"] is False)


def _arguments(costed: _Field, variables: Any) -> dict[str, Any]:
    if costed.fixed_arguments is not None:
        return costed.fixed_arguments
    try:
        return get_argument_values(costed.definition, costed.node, variables)
    except GraphQLError:  # a value the resolver will refuse; cost it by the defaults
        return {}


def _searched(costed: _Field, arguments: dict[str, Any]) -> int:
    total = 0
    for path, weight in costed.searches:
        value: Any = arguments
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if value not in (None, "", [], {}):
            total += weight
    return total


def _has_conditions(costed: _Field) -> bool:
    return any(costed.conditions)


class _Requested:
    def __init__(self, prices: CostPrices, variables: Any) -> None:
        self.prices = prices
        self.variables = variables

    def selection(self, selection: _Selection, page: int | None) -> int:
        best = 0
        for fields in selection.by_type.values():
            total = 0
            for costed in fields:
                if not _has_conditions(costed) or _included(costed, self.variables):
                    total += self.field(costed, page)
            best = max(best, total)
        return best

    def field(self, costed: _Field, page: int | None) -> int:
        arguments = _arguments(costed, self.variables) if costed.arguments else {}
        cost = costed.weight + (_searched(costed, arguments) if costed.searches else 0)
        if costed.children is None:
            return cost
        size = costed.size
        inner_page = self._page(arguments) if size == _CONNECTION else None
        inner = 1 + self.selection(costed.children, inner_page)
        return cost + self._count(size, arguments, page) * inner

    def _count(self, size: str, arguments: dict[str, Any], page: int | None) -> int:
        if size in (_ONE, _CONNECTION):
            return 1
        if size == _PAGE:
            return page if page is not None else self.prices.default_page_size
        if size == _FIRST:
            return self._bounded(arguments.get("first"), self.prices.assumed_list_size)
        if _is_argument(size):
            values = arguments.get(size[4:])
            return len(values) if isinstance(values, list) else self.prices.assumed_list_size
        if size.startswith("size:"):
            return int(size[5:])
        return self.prices.assumed_list_size

    def _page(self, arguments: dict[str, Any]) -> int:
        first, last = arguments.get("first"), arguments.get("last")
        return self._bounded(first if first is not None else last, self.prices.default_page_size)

    def _bounded(self, value: Any, default: int) -> int:
        if not isinstance(value, int):
            return default
        return max(0, min(value, self.prices.max_page_size))


class _Actual:
    """The actual cost of a response: a walk of its data along the plan (on every response, so kept lean)."""

    def __init__(self, variables: Any) -> None:
        self.variables = variables

    def selection(self, selection: _Selection, data: dict[str, Any]) -> int:
        fields = selection.single
        if fields is None:  # an abstract position: its dearest reading (a `__typename` key may be an alias)
            return max((self.fields(fields, data) for fields in selection.by_type.values()), default=0)
        return self.fields(fields, data)

    def fields(self, fields: tuple[_Field, ...], data: dict[str, Any]) -> int:
        total = 0
        for costed in fields:
            value = data.get(costed.key, _MISSING)
            if value is _MISSING:  # skipped, or a field of another type
                continue
            total += costed.weight
            if value is None:
                continue
            if costed.searches:
                total += _searched(costed, _arguments(costed, self.variables))
            children = costed.children
            if children is None:
                continue
            if type(value) is dict:
                total += 1 + self.selection(children, value)
            elif type(value) is list:
                total += self.items(children, value)
        return total

    def items(self, children: _Selection, items: list[Any]) -> int:
        total = 0
        for item in items:
            if type(item) is dict:
                total += 1 + self.selection(children, item)
            elif type(item) is list:
                total += self.items(children, item)
        return total


_MISSING = object()
