"""Relay building blocks: the Node interface, page info, and generic connections and edges."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from app.pagination import encode_cursor
from resolvers.catalog import Connection as ConnectionResult

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


@strawberry.type(description="A page of a list, with Relay edges, plain nodes and page info.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    nodes: list[T] = strawberry.field(description="The items of this page, without cursors.")
    page_info: PageInfo = strawberry.field(description="How to reach the neighbouring pages.")
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole list has; counted only when asked for.")
    async def total_count(self) -> int:
        return await self.count()


def connection_from(result: ConnectionResult, convert: Callable[[Any], Any]) -> Any:
    """Build a GraphQL connection from a page of rows, converting each row to its GraphQL type."""
    rows = result.page.rows
    cursors = [encode_cursor(result.keyset, row) for row in rows]
    items = [convert(row) for row in rows]
    info = PageInfo(
        has_next_page=result.page.has_next_page,
        has_previous_page=result.page.has_previous_page,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
    edges = [Edge(cursor=cursor, node=item) for cursor, item in zip(cursors, items, strict=True)]
    return Connection(edges=edges, nodes=items, page_info=info, count=result.count)
