"""Limits on the shape of a document, as graphql-core validation rules: they run before any resolver (and any
SQL), on either executor, and their outcome is cached with the parsed document.

- Depth: the longest path of nested selections, through fragments (introspection's `__` fields aside, as
  GraphiQL's own schema query is deep).
- Aliases: every aliased field counts each time it is reached, fragments included (a fragment spread ten
  times counts its aliases ten times), so fragments cannot multiply work past the limit.
"""

from __future__ import annotations

from typing import Any

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

__all__ = ["DEFAULT_MAX_ALIASES", "DEFAULT_MAX_DEPTH", "max_aliases_rule", "max_depth_rule"]

DEFAULT_MAX_DEPTH = 15
DEFAULT_MAX_ALIASES = 30


class _Shape:
    """The depth and alias count of an operation, fragments expanded (each fragment measured once)."""

    def __init__(self, context: ValidationContext) -> None:
        self._context = context
        self._fragments: dict[str, tuple[int, int]] = {}
        self._open: set[str] = set()  # fragments being measured: a cycle is another rule's error

    def of(self, selections: SelectionSetNode | None) -> tuple[int, int]:
        """(depth, aliases) of a selection set."""
        if selections is None:
            return 0, 0
        depth = aliases = 0
        for selection in selections.selections:
            inner_depth, inner_aliases = self._selection(selection)
            depth, aliases = max(depth, inner_depth), aliases + inner_aliases
        return depth, aliases

    def _selection(self, selection: Any) -> tuple[int, int]:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                return 0, 0
            depth, aliases = self.of(selection.selection_set)
            return depth + 1, aliases + (1 if selection.alias is not None else 0)
        if isinstance(selection, InlineFragmentNode):
            return self.of(selection.selection_set)
        if isinstance(selection, FragmentSpreadNode):
            return self._fragment(selection.name.value)
        return 0, 0

    def _fragment(self, name: str) -> tuple[int, int]:
        if name in self._fragments:
            return self._fragments[name]
        fragment: FragmentDefinitionNode | None = self._context.get_fragment(name)
        if fragment is None or name in self._open:
            return 0, 0
        self._open.add(name)
        self._fragments[name] = self.of(fragment.selection_set)
        self._open.discard(name)
        return self._fragments[name]


def max_depth_rule(limit: int = DEFAULT_MAX_DEPTH) -> type[ValidationRule]:
    """A rule refusing operations nested deeper than `limit` (MAX_DEPTH_EXCEEDED, with depth and limit)."""

    class MaxDepth(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            depth, _ = _Shape(self.context).of(node.selection_set)
            if depth > limit:
                self.report_error(
                    GraphQLError(
                        f"The query is nested {depth} levels deep; at most {limit} are allowed",
                        node,
                        extensions={"code": "MAX_DEPTH_EXCEEDED", "depth": depth, "maxDepth": limit},
                    )
                )

    return MaxDepth


def max_aliases_rule(limit: int = DEFAULT_MAX_ALIASES) -> type[ValidationRule]:
    """A rule refusing operations with more than `limit` aliases, fragments counted each time they are
    spread (MAX_ALIASES_EXCEEDED, with the count and limit)."""

    class MaxAliases(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            _, aliases = _Shape(self.context).of(node.selection_set)
            if aliases > limit:
                self.report_error(
                    GraphQLError(
                        f"The query has {aliases} aliases; at most {limit} are allowed",
                        node,
                        extensions={"code": "MAX_ALIASES_EXCEEDED", "aliases": aliases, "maxAliases": limit},
                    )
                )

    return MaxAliases
