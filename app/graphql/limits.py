"""Limits on the shape of a document, as graphql-core validation rules: they run before any resolver (and any
SQL), on either executor, and their outcome is cached with the parsed document.

- Depth: the longest path of nested selections, through fragments (introspection's `__` fields aside, as
  GraphiQL's own schema query is deep).
- Aliases: every aliased field counts each time it is reached, fragments included (a fragment spread ten
  times counts its aliases ten times), so fragments cannot multiply work past the limit.
- Directives and fields: counted the same way (a directive on a fragment spread, an inline fragment, a
  fragment definition or the operation counts once where it is reached).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

__all__ = [
    "DEFAULT_MAX_ALIASES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_DIRECTIVES",
    "DEFAULT_MAX_FIELDS",
    "Measure",
    "max_aliases_rule",
    "max_depth_rule",
    "max_directives_rule",
    "max_fields_rule",
    "measure",
]

DEFAULT_MAX_DEPTH = 15
DEFAULT_MAX_ALIASES = 30
DEFAULT_MAX_DIRECTIVES = 50
DEFAULT_MAX_FIELDS = 250


class Measure(NamedTuple):
    """An operation's shape: its depth, and how many aliases, directives and fields it reaches."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    fields: int = 0

    def beside(self, other: Measure) -> Measure:
        """Two selections side by side: the deeper depth, the counts added."""
        return Measure(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.directives + other.directives,
            self.fields + other.fields,
        )


NOTHING = Measure()


class _Shape:
    """The measure of an operation, fragments expanded (each fragment measured once, counted per spread)."""

    def __init__(self, context: ValidationContext) -> None:
        self._context = context
        self._fragments: dict[str, Measure] = {}
        self._open: set[str] = set()  # fragments being measured: a cycle is another rule's error

    def of(self, selections: SelectionSetNode | None) -> Measure:
        """The measure of a selection set."""
        measure = NOTHING
        if selections is not None:
            for selection in selections.selections:
                measure = measure.beside(self._selection(selection))
        return measure

    def _selection(self, selection: Any) -> Measure:
        directives = len(selection.directives or ())
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                return NOTHING
            inner = self.of(selection.selection_set)
            alias = 1 if selection.alias is not None else 0
            return Measure(inner.depth + 1, inner.aliases + alias, inner.directives + directives, inner.fields + 1)
        if isinstance(selection, InlineFragmentNode):
            inner = self.of(selection.selection_set)
        elif isinstance(selection, FragmentSpreadNode):
            inner = self._fragment(selection.name.value)
        else:
            return NOTHING
        return inner._replace(directives=inner.directives + directives)

    def _fragment(self, name: str) -> Measure:
        if name in self._fragments:
            return self._fragments[name]
        fragment: FragmentDefinitionNode | None = self._context.get_fragment(name)
        if fragment is None or name in self._open:
            return NOTHING
        self._open.add(name)
        inner = self.of(fragment.selection_set)
        self._fragments[name] = inner._replace(directives=inner.directives + len(fragment.directives or ()))
        self._open.discard(name)
        return self._fragments[name]


def measure(context: ValidationContext, operation: OperationDefinitionNode) -> Measure:
    """The measure of an operation (its own directives included), walked once per validation however many
    limit rules ask for it."""
    measures: dict[int, Measure] = context.__dict__.setdefault("_operation_measures", {})
    found = measures.get(id(operation))
    if found is None:
        inner = _Shape(context).of(operation.selection_set)
        found = measures[id(operation)] = inner._replace(directives=inner.directives + len(operation.directives or ()))
    return found


def _limit_rule(name: str, limit: int, code: str, counted: str, message: str) -> type[ValidationRule]:
    """A rule refusing operations whose `counted` measure is over `limit`: the error has `code`, the count
    under `counted` and the limit under `max<Counted>`; `message` is formatted with `count` and `limit`."""
    limit_key = "max" + counted[0].upper() + counted[1:]

    def enter_operation_definition(self: ValidationRule, node: OperationDefinitionNode, *_args: Any) -> None:
        count = getattr(measure(self.context, node), counted)
        if count > limit:
            extensions = {"code": code, counted: count, limit_key: limit}
            self.report_error(GraphQLError(message.format(count=count, limit=limit), node, extensions=extensions))

    return type(name, (ValidationRule,), {"enter_operation_definition": enter_operation_definition})


def max_depth_rule(limit: int = DEFAULT_MAX_DEPTH) -> type[ValidationRule]:
    """A rule refusing operations nested deeper than `limit` (MAX_DEPTH_EXCEEDED, with depth and limit)."""
    message = "The query is nested {count} levels deep; at most {limit} are allowed"
    return _limit_rule("MaxDepth", limit, "MAX_DEPTH_EXCEEDED", "depth", message)


def max_aliases_rule(limit: int = DEFAULT_MAX_ALIASES) -> type[ValidationRule]:
    """A rule refusing operations with more than `limit` aliases, fragments counted each time they are
    spread (MAX_ALIASES_EXCEEDED, with the count and limit)."""
    message = "The query has {count} aliases; at most {limit} are allowed"
    return _limit_rule("MaxAliases", limit, "MAX_ALIASES_EXCEEDED", "aliases", message)


def max_directives_rule(limit: int = DEFAULT_MAX_DIRECTIVES) -> type[ValidationRule]:
    """A rule refusing operations using more than `limit` directives, fragments counted each time they are
    spread (MAX_DIRECTIVES_EXCEEDED, with the count and limit)."""
    message = "The query uses {count} directives; at most {limit} are allowed"
    return _limit_rule("MaxDirectives", limit, "MAX_DIRECTIVES_EXCEEDED", "directives", message)


def max_fields_rule(limit: int = DEFAULT_MAX_FIELDS) -> type[ValidationRule]:
    """A rule refusing operations selecting more than `limit` fields, fragments counted each time they are
    spread and introspection aside (MAX_FIELDS_EXCEEDED, with the count and limit)."""
    message = "The query selects {count} fields; at most {limit} are allowed"
    return _limit_rule("MaxFields", limit, "MAX_FIELDS_EXCEEDED", "fields", message)
