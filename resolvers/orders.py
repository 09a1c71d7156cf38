"""Order use cases: who may read an order (its customer and staff; a guest by its access token), and the
lists and details of orders, each one statement per level."""

from __future__ import annotations

from typing import Any

from app.catalog.loaders import VariantByIdLoader
from app.context import Context
from app.db.ids import decode_global_id
from app.db.pagination import PageArgs, PageOfRows, validate_window
from app.errors import Forbidden
from app.orders import sql
from app.orders.loaders import (
    LineCountByOrderLoader,
    OrderByIdLoader,
    OrderCountByCustomerLoader,
    OrderLinePageByOrderLoader,
    OrderPageByCustomerLoader,
    StatusHistoryByOrderLoader,
)
from resolvers.checkout import access_digest

__all__ = [
    "customer_orders",
    "lines_variants",
    "order",
    "order_by_token",
    "order_lines",
    "order_visible",
    "orders_history",
]


def order_visible(ctx: Context, row: Any) -> bool:
    """Whether the request may read this order by ID: its customer and staff only."""
    viewer = ctx.viewer
    return viewer is not None and (
        viewer.is_staff or (row.customer_id is not None and viewer.customer_id == row.customer_id)
    )


async def order(ctx: Context, id: str) -> Any:
    """An order by ID; None when there is none; FORBIDDEN for anyone but its customer and staff."""
    _, pk = decode_global_id(id, "Order")
    row = await ctx.loaders.get(OrderByIdLoader).load(pk)
    if row is None:
        return None
    if not order_visible(ctx, row):
        raise Forbidden("Only the order's customer and staff may read it")
    return row


async def order_by_token(ctx: Context, token: str) -> Any:
    """The order of a guest's access token (from the checkout's answer), or None."""
    if not token or len(token) > 200:
        return None
    return await sql.order_by_digest(ctx.db, access_digest(token))


async def customer_orders(ctx: Context, row: Any, page: PageArgs) -> PageOfRows:
    """A page of a customer's orders, newest first."""
    keyset = sql.ORDER_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    result = await ctx.loaders.get(OrderPageByCustomerLoader, window).load(row.id)

    async def count() -> int:
        return int(await ctx.loaders.get(OrderCountByCustomerLoader).load(row.id))

    return PageOfRows(result, keyset, count)


async def order_lines(ctx: Context, row: Any, page: PageArgs) -> PageOfRows:
    """A page of an order's lines, in order."""
    keyset = sql.LINE_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    result = await ctx.loaders.get(OrderLinePageByOrderLoader, window).load(row.id)

    async def count() -> int:
        return int(await ctx.loaders.get(LineCountByOrderLoader).load(row.id))

    return PageOfRows(result, keyset, count)


async def orders_history(ctx: Context, rows: list[Any]) -> list[list[Any]]:
    """Each order's status changes, oldest first (one statement for the level)."""
    return list(await ctx.loaders.get(StatusHistoryByOrderLoader).load_many([row.id for row in rows]))


async def lines_variants(ctx: Context, rows: list[Any]) -> list[Any]:
    """Each line's variant as the catalog has it now (None when it is gone or off sale)."""
    loader = ctx.loaders.get(VariantByIdLoader, ctx.columns_of("ProductVariant"))
    wanted = [row.variant_id for row in rows if row.variant_id is not None]
    found = iter(await loader.load_many(wanted))
    return [next(found) if row.variant_id is not None else None for row in rows]
