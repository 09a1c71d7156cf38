"""Relay building blocks: the Node interface, page info, and generic connections and edges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from app.pagination import encode_cursor
from resolvers.catalog import PageOfRows
from schema.lazy import LazyFields, lazy_fields

__all__ = ["Connection", "Edge", "Node", "PageInfo", "connection_from"]

T = TypeVar("T")


@strawberry.interface(description="An object with a globally unique, opaque ID that `node(id:)` can fetch.")
class Node:
    id: strawberry.ID = strawberry.field(description="The opaque global ID of this object.")


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
