"""Relay building blocks: the Node interface and its registration, page info, generic connections and edges,
and connection fields with the Relay arguments declared once."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from app.db.pagination import PageArgs, PageOfRows, encode_cursor
from app.db.registry import NodeType, register_node
from app.graphql.columns import COLUMNS_METADATA_KEY
from schema.lazy import LazyFields, lazy_fields

__all__ = ["Connection", "Edge", "Node", "PageInfo", "connection", "connection_from", "node_type", "to_node"]

T = TypeVar("T")
C = TypeVar("C", bound=type)


@strawberry.interface(description="An object with a globally unique, opaque ID that `node(id:)` can fetch.")
class Node:
    id: strawberry.ID = strawberry.field(description="The opaque global ID of this object.")


def node_type(
    loader: type[Any],
    view: Callable[[Any, Any], Any] | None = None,
    *,
    visible: Callable[[Any, Any], bool] | None = None,
) -> Callable[[C], C]:
    """Register a GraphQL type implementing Node, once, for IDs and `node(id:)`: under its GraphQL name, with
    the loader that loads its rows by primary key and `view(context, row)` presenting a row (by default the
    type's `from_row(row)`); a private type gives `visible(context, row)`, and `node` answers null for a row
    the request may not see. Put it above `@strawberry.type` (and `@lazy_fields`)."""

    def register(cls: C) -> C:
        if not issubclass(cls, Node):
            raise TypeError(f"{cls.__name__} does not implement Node")
        present = view or (lambda _context, row: cls.from_row(row))  # type: ignore[attr-defined]
        name = cls.__strawberry_definition__.name  # type: ignore[attr-defined]
        register_node(NodeType(name, loader, present, visible))
        return cls

    return register


def to_node(found: tuple[NodeType, Any] | None, info: strawberry.Info) -> Node | None:
    """The GraphQL object for a (registered type, row) pair, as the `node` resolvers give them."""
    if found is None:
        return None
    node, row = found
    return node.view(info.context, row)  # type: ignore[no-any-return]


@strawberry.type(description="Where a page sits in its list, for asking for the next or previous one.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Whether items precede this page (true whenever `after` was given)."
    )
    start_cursor: str | None = strawberry.field(description="The cursor of the first item of this page.")
    end_cursor: str | None = strawberry.field(description="The cursor of the last item of this page.")


@strawberry.type(description="One item of a page with the cursor that marks its place.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Pass as `after` (or `before`) to page from this item.")
    node: T = strawberry.field(description="The item.")


@lazy_fields
@strawberry.type(description="A page of a list, with Relay edges, plain nodes and page info.")
class Connection(LazyFields, Generic[T]):
    READERS = {
        "nodes": lambda connection: [connection.convert(row) for row in connection.result.page.rows],
        "edges": lambda connection: _edges(connection.result, connection.nodes),
        "page_info": lambda connection: _page_info(connection.result),
    }
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    nodes: list[T] = strawberry.field(description="The items of this page, without cursors.")
    page_info: PageInfo = strawberry.field(description="How to reach the neighbouring pages.")
    result: strawberry.Private[PageOfRows]
    convert: strawberry.Private[Callable[[Any], Any]]

    @strawberry.field(description="How many items the whole list has; counted only when asked for.")
    async def total_count(self) -> int:
        return await self.result.count()


def connection_from(result: PageOfRows, convert: Callable[[Any], Any]) -> Any:
    """A GraphQL connection over a page of rows; `convert` turns a row into its GraphQL object.

    Nodes, edges, cursors and page info are built only when the query reads them (see `LazyFields`).
    """
    return Connection.wrap(result=result, convert=convert)


def _edges(result: PageOfRows, nodes: list[Any]) -> list[Edge[Any]]:
    rows = result.page.rows
    return [Edge(cursor=encode_cursor(result.keyset, row), node=node) for row, node in zip(rows, nodes, strict=True)]


def _page_info(result: PageOfRows) -> PageInfo:
    rows = result.page.rows
    return PageInfo(
        has_next_page=result.page.has_next_page,
        has_previous_page=result.page.has_previous_page,
        start_cursor=encode_cursor(result.keyset, rows[0]) if rows else None,
        end_cursor=encode_cursor(result.keyset, rows[-1]) if rows else None,
    )


# The Relay arguments of every connection field, declared once.
_PAGE_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=None)
    for name, annotation in (
        ("first", Annotated[int | None, strawberry.argument(description="Page size from the start, 1-100.")]),
        ("after", Annotated[str | None, strawberry.argument(description="Start after this cursor.")]),
        ("last", Annotated[int | None, strawberry.argument(description="Page size from the end, 1-100.")]),
        ("before", Annotated[str | None, strawberry.argument(description="End before this cursor.")]),
    )
]


def connection(
    *, columns: tuple[str, ...], description: str, permission_classes: list[type[Any]] | None = None
) -> Callable[[Callable[..., Any]], Any]:
    """Declare a connection field: the decorated resolver takes `page: PageArgs`, and the GraphQL field has the
    Relay arguments `first after last before` in its place (the same four, described once, on every
    connection), followed by the resolver's other arguments. `columns` names the parent row's columns the
    resolver reads (see app.graphql.columns); () on a root type."""

    def declare(resolver: Callable[..., Any]) -> Any:
        signature = inspect.signature(resolver)
        if "page" not in signature.parameters:
            raise TypeError(f"{resolver.__qualname__} must take `page: PageArgs`")
        parameters: list[inspect.Parameter] = []
        keyword_only = False  # the parameters after `page` follow keyword-only ones
        for parameter in signature.parameters.values():
            if parameter.name == "page":
                parameters.extend(_PAGE_PARAMETERS)
                keyword_only = True
            else:
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY) if keyword_only else parameter)

        async def resolve(
            *args: Any,
            first: int | None = None,
            after: str | None = None,
            last: int | None = None,
            before: str | None = None,
            **kwargs: Any,
        ) -> Any:
            return await resolver(*args, page=PageArgs(first, after, last, before), **kwargs)

        # strawberry reads the field's arguments and type from this signature, resolving its (string)
        # annotations in the module of `resolver`, where the field is declared.
        resolve.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        resolve.__name__, resolve.__qualname__ = resolver.__name__, resolver.__qualname__
        resolve.__module__ = resolver.__module__
        return strawberry.field(
            resolver=resolve,
            description=description,
            metadata={COLUMNS_METADATA_KEY: columns},
            permission_classes=permission_classes,
        )

    return declare
