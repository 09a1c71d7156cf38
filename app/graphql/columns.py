"""Which columns of their rows a document's selections read, per object type: what loaders select.

A listing that shows a title and a price has no use for descriptions, timestamps and tags, yet decoding
them cost four times what the shown columns did (100 products: 0.64 ms against 0.16 ms of client CPU).
So every field of a row-backed type declares the columns its value is made from: a plain reader with
`reads(...)`, a field with a resolver in its metadata under `COLUMNS_METADATA_KEY`. For a document,
`ColumnNeeds` gives each object type the union of the columns its selected fields declare, anywhere in
the document (every fragment, both branches of every @skip/@include, each possible type of an abstract
one), or `ALL_COLUMNS` (None) when a selected field declares none. The loaders of a request then select
just those (and the keys they need themselves), the same set for every loader of a type, so rows primed
by one are what another would have read.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    is_abstract_type,
    is_object_type,
    visit,
)

from app.graphql.documents import MAX_CACHED_QUERY_CHARS
from app.graphql.executor.compile import PURE_READER
from app.graphql.executor.complete import STRAWBERRY_DEFINITION

__all__ = ["ALL_COLUMNS", "COLUMNS_METADATA_KEY", "ColumnAware", "ColumnNeeds", "Needs", "declared_columns", "reads"]

# In a field's metadata: the columns of its parent's row that its resolver reads (a tuple of names).
COLUMNS_METADATA_KEY = "storefront.columns"
# The attribute of a reader function naming the columns it reads (see `reads`).
READS_COLUMNS = "__reads_columns__"
ALL_COLUMNS = None  # a type some selected field of which declares no columns: loaders select every column

Needs = Mapping[str, frozenset[str] | None]
DOCUMENTS_KEPT = 500

F = TypeVar("F", bound=Callable[..., Any])


def reads(*columns: str) -> Callable[[F], F]:
    """Declare the row columns a reader makes its field's value from: `reads("price")(lambda view: ...)`."""

    def declare(reader: F) -> F:
        setattr(reader, READS_COLUMNS, tuple(columns))
        return reader

    return declare


@runtime_checkable
class ColumnAware(Protocol):
    """A resolvers' context that takes the column needs of the document it executes."""

    columns: Needs


def declared_columns(parent: GraphQLObjectType, definition: GraphQLField) -> tuple[str, ...] | None:
    """The columns a field of `parent` declares it reads, or None when it declares none."""
    strawberry_field = (definition.extensions or {}).get(STRAWBERRY_DEFINITION)
    if strawberry_field is None:
        return None
    declared = (getattr(strawberry_field, "metadata", None) or {}).get(COLUMNS_METADATA_KEY)
    if declared is not None:
        return tuple(declared)
    origin = getattr((parent.extensions or {}).get(STRAWBERRY_DEFINITION), "origin", None)
    if origin is None or strawberry_field.base_resolver is not None:
        return None
    # a plain field: its descriptor (a computed-once reader) or the reader itself may declare them
    descriptor = inspect.getattr_static(origin, strawberry_field.python_name, None)
    declared = getattr(descriptor, READS_COLUMNS, None)
    if declared is None:
        declared = getattr(getattr(descriptor, PURE_READER, None), READS_COLUMNS, None)
    return None if declared is None else tuple(declared)


class ColumnNeeds:
    """The column needs of documents of one schema, worked out once per document (see the module docstring)."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._documents: OrderedDict[int, tuple[DocumentNode, Needs]] = OrderedDict()

    def of(self, document: DocumentNode) -> Needs:
        """Each object type's needed columns for this document (a type it never selects is absent).

        Kept for the documents the document cache keeps (up to MAX_CACHED_QUERY_CHARS of source), so a
        stream of huge one-off documents is not held in memory."""
        if document.loc is None or len(document.loc.source.body) > MAX_CACHED_QUERY_CHARS:
            return self._work_out(document)
        found = self._documents.get(id(document))
        if found is not None and found[0] is document:
            self._documents.move_to_end(id(document))
            return found[1]
        needs = self._work_out(document)
        self._documents[id(document)] = (document, needs)
        if len(self._documents) > DOCUMENTS_KEPT:
            self._documents.popitem(last=False)
        return needs

    def _work_out(self, document: DocumentNode) -> Needs:
        needs: dict[str, set[str] | None] = {}
        type_info = TypeInfo(self.schema)
        schema = self.schema

        class Collect(Visitor):
            def enter_field(self, node: FieldNode, *_args: Any) -> None:
                parent = type_info.get_parent_type()
                if parent is None or node.name.value.startswith("__"):
                    return
                if is_object_type(parent):
                    owners = [parent]
                elif is_abstract_type(parent):
                    owners = list(schema.get_possible_types(parent))  # type: ignore[arg-type]
                else:
                    return
                for owner in owners:
                    definition = owner.fields.get(node.name.value)  # type: ignore[union-attr]
                    if definition is not None:
                        _add(needs, owner.name, declared_columns(owner, definition))  # type: ignore[arg-type]

        visit(document, TypeInfoVisitor(type_info, Collect()))
        return {name: None if columns is None else frozenset(columns) for name, columns in needs.items()}


def _add(needs: dict[str, set[str] | None], type_name: str, columns: tuple[str, ...] | None) -> None:
    if type_name in needs and needs[type_name] is None:
        return
    if columns is None:
        needs[type_name] = None
        return
    needs.setdefault(type_name, set()).update(columns)  # type: ignore[union-attr]
