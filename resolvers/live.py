"""Live updates: what each subscription streams (`resolvers.events` publishes the events).

Each subscriber's stream loads the changed thing again for every event, through the event's shared loaders
(see app.live.hub), and executes the subscriber's selection on it with those loaders.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from app.cart.loaders import CartByTokenLoader
from app.catalog.loaders import VariantByIdLoader
from app.context import Context
from app.db.ids import pk_of
from app.errors import DomainError, Forbidden, Unauthenticated
from app.live.hub import EventScope, Subscription, TooManySubscriptions
from app.orders.loaders import OrderByIdLoader
from resolvers.cart import cart, may_see_cart

__all__ = [
    "MAX_VARIANTS",
    "cart_changes",
    "order_status_changes",
    "variant_availability_changes",
]

MAX_VARIANTS = 100
END = object()  # what a load returns when the thing followed is gone: the stream ends


class LiveFailure(DomainError):
    """A subscription refused before any event."""

    def __init__(self, code: str, message: str, field: tuple[str, ...] | None = None) -> None:
        super().__init__(message, field=field, code=code)


async def order_status_changes(ctx: Context, id: str) -> AsyncGenerator[Any, None]:
    """The order's row at each status change; its owner and staff only (FORBIDDEN before any event)."""
    pk = pk_of(id, "Order")
    row = await ctx.loaders.get(OrderByIdLoader).load(pk) if pk is not None else None
    viewer = ctx.viewer
    if viewer is None:
        raise Unauthenticated("Sign in to follow an order")
    if row is None or not (viewer.is_staff or row.customer_id == viewer.customer_id):
        raise Forbidden("Only the order's customer and staff may follow it", field=("orderId",))
    return _stream(ctx, _open(ctx, [f"order:{pk}"]), _load_order, expires=True)


async def variant_availability_changes(ctx: Context, ids: list[str]) -> AsyncGenerator[Any, None]:
    """The variant's row whenever its availability or price changes (public; at most MAX_VARIANTS IDs)."""
    if not 1 <= len(ids) <= MAX_VARIANTS:
        raise LiveFailure("INVALID", f"Follow 1 to {MAX_VARIANTS} variants", ("variantIds",))
    pks = [pk_of(id, "ProductVariant") for id in ids]
    if any(pk is None for pk in pks):
        raise LiveFailure("NOT_FOUND", "Some of these IDs are not variants", ("variantIds",))
    return _stream(ctx, _open(ctx, [f"variant:{pk}" for pk in pks]), _load_variant, expires=False)


async def cart_changes(ctx: Context, id: str) -> AsyncGenerator[Any, None]:
    """The cart's row whenever it changes, for whoever may read it with `cart(id:)`; the stream ends when
    the cart closes (checked out)."""
    row = await cart(ctx, id)
    if row is None:
        raise LiveFailure("NOT_FOUND", "No open cart has this ID", ("cartId",))
    # a customer's cart is theirs only while their session lasts
    return _stream(ctx, _open(ctx, [f"cart:{row.id}"]), _load_cart, expires=ctx.viewer is not None)


def _open(ctx: Context, topics: list[str]) -> Subscription:
    try:
        subscription: Subscription = ctx.live.subscribe(topics)
    except TooManySubscriptions as full:
        raise LiveFailure("UNAVAILABLE", str(full)) from None
    # closed when the request ends even if its stream never started (cancelled as it was being set up)
    ctx.cleanups.append(subscription.close)
    return subscription


async def _load_order(ctx: Context, payload: dict[str, Any]) -> Any:
    return await ctx.loaders.get(OrderByIdLoader).load(int(payload["id"]))


async def _load_variant(ctx: Context, payload: dict[str, Any]) -> Any:
    return await ctx.loaders.get(VariantByIdLoader, ctx.columns_of("ProductVariant")).load(int(payload["id"]))


async def _load_cart(ctx: Context, payload: dict[str, Any]) -> Any:
    """The cart as `cart(id:)` would show it to this subscriber now; the stream ends once it would not (checked
    out, merged, or become a customer's cart at sign-in)."""
    row = await ctx.loaders.get(CartByTokenLoader).load(str(payload["token"]))
    return row if may_see_cart(ctx, row) else END


async def _stream(
    ctx: Context,
    subscription: Subscription,
    load: Callable[[Context, dict[str, Any]], Awaitable[Any]],
    *,
    expires: bool,
) -> AsyncGenerator[Any, None]:
    """Each event's row, loaded and then executed with the event's shared database handle and loaders (the
    context points at them while the subscriber's selection runs). The event is let go as soon as its
    result is made (`Context.event_done`), before the transport sends it, so a subscriber slow to read
    holds no connection. A subscription that needed the viewer ends with UNAUTHENTICATED when the viewer's
    token expires (events or not) or its session is signed out."""
    between = ctx.db, ctx.loaders
    try:
        while True:
            scope = await _next_event(ctx, subscription, expires)
            if scope is None:  # the hub closed the subscription (shutting down)
                return
            turn = _Turn(ctx, scope, between)
            try:
                if expires:
                    _check_viewer(ctx)
                turn.begin()
                row = await load(ctx, scope.payload)
                if row is END:
                    return
                if row is not None:
                    yield row
            finally:
                await turn.end()
    finally:
        await subscription.close()


class _Turn:
    """A subscriber's turn with one event: the context points at the event's shared handles while the
    subscriber executes it, and `end` (whoever calls it first: the pipeline once the result is made, or the
    stream when it moves on) points it back and lets the event go."""

    def __init__(self, ctx: Context, scope: EventScope, between: tuple[Any, Any]) -> None:
        self._ctx, self._scope, self._between = ctx, scope, between
        self._executing = self._ended = False

    def begin(self) -> None:
        """Execute with the event's database handle and loaders."""
        resources = self._scope.resources()
        self._executing = True
        self._ctx.db, self._ctx.loaders = resources.db, resources.loaders
        self._ctx.on_event_done = self.end

    async def end(self) -> None:
        """Back to the context's own handles; the event is released (once)."""
        if self._ended:
            return
        self._ended = True
        self._ctx.db, self._ctx.loaders = self._between
        self._ctx.on_event_done = None
        if self._executing:
            await self._scope.finished()
        await self._scope.release()


async def _next_event(ctx: Context, subscription: Subscription, expires: bool) -> EventScope | None:
    """The next event; None once the subscription is closed. Past the viewer's expiry, UNAUTHENTICATED."""
    expires_at = ctx.viewer.expires_at if expires and ctx.viewer is not None else None
    seconds = None if expires_at is None else (expires_at - datetime.now(UTC)).total_seconds()
    try:
        async with asyncio.timeout(seconds):
            return await anext(subscription)
    except StopAsyncIteration:
        return None
    except TimeoutError:
        raise Unauthenticated("The access token has expired; subscribe again with a fresh one") from None


def _check_viewer(ctx: Context) -> None:
    viewer = ctx.viewer
    if viewer is None:
        return
    if viewer.expires_at is not None and viewer.expires_at <= datetime.now(UTC):
        raise Unauthenticated("The access token has expired; subscribe again with a fresh one")
    accounts = ctx.accounts
    if accounts is not None and accounts.revocations.is_revoked(viewer.session_id):
        raise Unauthenticated("The session was signed out")
