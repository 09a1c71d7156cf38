"""Live updates in GraphQL: the subscriptions; each stream's logic lives in `resolvers.live`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.types import Info

from resolvers import live
from schema.cart import Cart
from schema.catalog import ProductVariant
from schema.orders import Order

__all__ = ["LiveSubscription"]

T = TypeVar("T")


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="The order at each change of its status, for its customer and staff only (FORBIDDEN at "
        "subscribe time otherwise). Ends with UNAUTHENTICATED when the viewer's access token expires."
    )
    async def order_status_changed(
        self, info: Info, order_id: Annotated[strawberry.ID, strawberry.argument(description="The order's ID.")]
    ) -> AsyncIterator[Order]:
        rows = await live.order_status_changes(info.context, str(order_id))
        return _each(rows, Order.from_row)

    @strawberry.subscription(
        description="A variant whenever its availability crosses what a storefront shows (sold out, fewer than "
        "5 left, in stock) or its price changes; not on every unit sold. Public; at most 100 IDs."
    )
    async def variant_availability_changed(
        self,
        info: Info,
        variant_ids: Annotated[list[strawberry.ID], strawberry.argument(description="The variants to follow.")],
    ) -> AsyncIterator[ProductVariant]:
        rows = await live.variant_availability_changes(info.context, [str(id) for id in variant_ids])
        currency = info.context.settings.currency_code
        return _each(rows, lambda row: ProductVariant.from_row(row, currency))

    @strawberry.subscription(
        description="The cart whenever it changes (another tab or device), for whoever may read it with "
        "`cart(id:)`; the stream completes when the cart is checked out."
    )
    async def cart_changed(
        self, info: Info, cart_id: Annotated[strawberry.ID, strawberry.argument(description="The cart's ID.")]
    ) -> AsyncIterator[Cart]:
        rows = await live.cart_changes(info.context, str(cart_id))
        return _each(rows, Cart.from_row)


async def _each(rows: AsyncGenerator[Any, None], build: Callable[[Any], T]) -> AsyncGenerator[T, None]:
    """The GraphQL object of each row the stream yields; closing it closes the stream."""
    try:
        async for row in rows:
            yield build(row)
    finally:
        await rows.aclose()
