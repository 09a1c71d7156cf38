"""Who may introspect the schema: a policy the pipeline applies once the viewer is known (introspection is
refused before any SQL, and the refusal is not cached with the document, as another viewer may introspect).
`__typename` is never introspection: clients need it to tell union members apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from app.errors import DomainError

__all__ = [
    "INTROSPECTION_FIELDS",
    "IntrospectionDisabled",
    "IntrospectionPolicy",
    "introspection_policy",
    "introspects",
]

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})

IntrospectionPolicy = Callable[[Any], bool]  # the viewer -> may they introspect


class IntrospectionDisabled(DomainError):
    """The viewer may not read the schema through introspection here."""

    code = "INTROSPECTION_DISABLED"
    refusal = "forbidden"


def introspection_policy(mode: str) -> IntrospectionPolicy:
    """`on`: everyone; `staff`: signed-in staff only; `off`: nobody."""
    if mode == "on":
        return lambda _viewer: True
    if mode == "staff":
        return lambda viewer: viewer is not None and bool(getattr(viewer, "is_staff", False))
    return lambda _viewer: False


def introspects(document: DocumentNode, operation: OperationDefinitionNode) -> bool:
    """Whether the operation selects `__schema` or `__type`, through fragments."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    seen: set[str] = set()

    def walk(selections: SelectionSetNode | None) -> bool:
        for selection in selections.selections if selections is not None else ():
            if isinstance(selection, FieldNode):
                if selection.name.value in INTROSPECTION_FIELDS or walk(selection.selection_set):
                    return True
            elif isinstance(selection, InlineFragmentNode):
                if walk(selection.selection_set):
                    return True
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    if walk(fragments[name].selection_set):
                        return True
        return False

    return walk(operation.selection_set)
