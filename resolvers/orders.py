"""Order use cases: who may read an order (its customer and staff; a guest by its access token), and the
lists and details of orders, each one statement per level."""

from __future__ import annotations

import logging
from typing import Any

from app.catalog.loaders import VariantByIdLoader
from app.context import Context
from app.db.base import utcnow
from app.db.ids import decode_global_id, pk_of
from app.db.pagination import PageArgs, PageOfRows, validate_window
from app.errors import DomainError, Forbidden
from app.orders import sql
from app.orders.loaders import (
    LineCountByOrderLoader,
    OrderByIdLoader,
    OrderCountByCustomerLoader,
    OrderLinePageByOrderLoader,
    OrderPageByCustomerLoader,
    StatusHistoryByOrderLoader,
)
from resolvers import events
from resolvers.checkout import access_digest
from resolvers.payments import cancel_payments

__all__ = [
    "OrderFailure",
    "customer_orders",
    "lines_variants",
    "order",
    "order_by_token",
    "order_cancel",
    "order_lines",
    "order_update_status",
    "order_visible",
    "orders_history",
]

log = logging.getLogger("storefront.orders")


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
    viewer = ctx.viewer
    if row is None and viewer is not None and viewer.is_staff:
        return None
    if row is None or not order_visible(ctx, row):
        # the same answer whether the order exists or not: IDs are sequential, and must not be counted
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


# Where an order may go from each status, and who may send it there.
STAFF_MOVES = {
    "PAID": ("PAYMENT_PENDING",),
    "FULFILLED": ("PAID",),
    "DELIVERED": ("FULFILLED",),
    "CANCELLED": ("PAYMENT_PENDING", "PAID", "FULFILLED"),
}
CUSTOMER_CANCELS_FROM = ("PAYMENT_PENDING", "PAID")


class OrderFailure(DomainError):
    """An expected failure of an order change, shown as a payload error."""

    def __init__(self, code: str, message: str, field: tuple[str, ...] | None = None) -> None:
        super().__init__(message, field=field, code=code)


async def _order_of(ctx: Context, id: str) -> Any:
    pk = pk_of(id, "Order")
    row = await sql.order_row(ctx.db, pk) if pk is not None else None
    if row is None:
        raise OrderFailure("NOT_FOUND", "No order of yours has this ID", ("id",))
    return row


async def order_update_status(ctx: Context, id: str, status: str) -> Any:
    """Staff move an order along PAYMENT_PENDING -> PAID -> FULFILLED -> DELIVERED, or cancel it (its stock
    returned once); any other move is INVALID_TRANSITION."""
    viewer = ctx.viewer
    if viewer is None or not viewer.is_staff:
        raise OrderFailure("FORBIDDEN", "Only staff may change an order's status")
    async with ctx.db.transaction():
        row = await _order_of(ctx, id)
        await _move(ctx, row, STAFF_MOVES.get(status, ()), status)
    if status == "CANCELLED":
        await _cancel_payment(ctx, row)
    return await _fresh(ctx, row.id)


async def order_cancel(ctx: Context, id: str) -> Any:
    """Cancel an order: its customer while it is not yet fulfilled, staff until it is delivered; the
    stock goes back exactly once."""
    viewer = ctx.viewer
    async with ctx.db.transaction():
        row = await _order_of(ctx, id)
        if viewer is not None and viewer.is_staff:
            allowed = STAFF_MOVES["CANCELLED"]
        elif viewer is not None and row.customer_id == viewer.customer_id:
            allowed = CUSTOMER_CANCELS_FROM
        else:  # as if it did not exist: another's order is not told apart from none
            raise OrderFailure("NOT_FOUND", "No order of yours has this ID", ("id",))
        await _move(ctx, row, allowed, "CANCELLED")
    await _cancel_payment(ctx, row)
    return await _fresh(ctx, row.id)


async def _move(ctx: Context, row: Any, allowed_from: tuple[str, ...], to: str) -> None:
    now = utcnow()
    if not await sql.move_status(ctx.db, row.id, allowed_from, to, now):
        raise OrderFailure("INVALID_TRANSITION", f"An order that is {row.status} cannot become {to}", ("status",))
    if to == "CANCELLED":
        events.publish_stock_returned(ctx.db, ctx.live, await sql.return_stock(ctx.db, row.id))
    elif to == "PAID":
        await sql.set_order(ctx.db, row.id, processed_at=now)
    events.publish_order(ctx.db, ctx.live, row.id)


async def _cancel_payment(ctx: Context, row: Any) -> None:
    """After the cancellation commits: a payment still pending is cancelled at its provider, so it cannot
    be paid later; one already made needs a refund, which is staff's to give."""
    if row.status == "PAYMENT_PENDING":
        await cancel_payments(ctx.payments, [row])
        return
    provider = ctx.payments.named(row.payment_provider)
    if provider is not None and provider.reserves_first:
        log.warning("order %s was cancelled after its payment %s: refund it", row.id, row.payment_reference)


async def _fresh(ctx: Context, order_id: int) -> Any:
    for loader in (OrderByIdLoader, StatusHistoryByOrderLoader):
        ctx.loaders.clear_all(loader)
    return await ctx.loaders.get(OrderByIdLoader).load(order_id)
