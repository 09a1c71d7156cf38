"""Payment use cases outside a GraphQL request: a provider's webhook events, and the sweeper that cancels
orders left unpaid. Both move an order's status with one conditional UPDATE, so concurrent deliveries,
instances and sweepers change an order once and return its stock once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.db.database import RequestDatabase
from app.live.hub import LiveHub
from app.orders import sql
from app.orders.payments import PaymentEvent, PaymentProviders
from resolvers import events

__all__ = ["SWEEP_BATCH", "cancel_payments", "handle_payment_event", "sweep_unpaid"]

SWEEP_BATCH = 100
log = logging.getLogger("storefront.payments")


async def handle_payment_event(
    db: RequestDatabase, provider: str, event: PaymentEvent, now: datetime, live: LiveHub | None = None
) -> str:
    """Apply a verified event once: `succeeded` pays a pending order, `failed` cancels it (stock returned).
    What happened, in a word: applied, duplicate, ignored (the order had moved on) or unknown."""
    async with db.transaction():
        try:
            async with db.transaction():  # a savepoint: an event seen before fails only this
                await sql.record_event(db, provider, event.id, now)
        except IntegrityError:
            return "duplicate"
        order = await sql.order_of_payment(db, provider, event.reference)
        if order is None:
            return "unknown"
        if event.kind == "succeeded":
            moved = await sql.move_status(db, order.id, ("PAYMENT_PENDING",), "PAID", now)
            if moved:
                await sql.set_order(db, order.id, processed_at=now)
                events.publish_order(db, live, order.id)
            elif order.status == "CANCELLED":
                log.warning("payment %s succeeded for cancelled order %s: refund it", event.reference, order.id)
        else:
            moved = await sql.move_status(db, order.id, ("PAYMENT_PENDING",), "CANCELLED", now)
            if moved:
                events.publish_stock_returned(db, live, await sql.return_stock(db, order.id))
                events.publish_order(db, live, order.id)
    return "applied" if moved else "ignored"


async def sweep_unpaid(
    db: RequestDatabase, timeout: timedelta, now: datetime, live: LiveHub | None = None
) -> list[Any]:
    """Cancel the orders left PAYMENT_PENDING for longer than `timeout` and return their stock; the orders
    cancelled (id, provider, payment reference), for their payments to be cancelled at the provider."""
    cancelled = []
    async with db.transaction():
        for order in await sql.overdue_pending(db, now - timeout, SWEEP_BATCH):
            if await sql.move_status(db, order.id, ("PAYMENT_PENDING",), "CANCELLED", now):
                events.publish_stock_returned(db, live, await sql.return_stock(db, order.id))
                events.publish_order(db, live, order.id)
                cancelled.append(order)
    return cancelled


async def cancel_payments(payments: PaymentProviders, orders: list[Any]) -> None:
    """After their orders are cancelled, cancel their payments at the provider, so none is paid later
    (best effort: a payment that succeeds anyway is logged for a refund when its webhook arrives)."""
    for order in orders:
        provider = payments.named(order.payment_provider)
        if provider is not None and order.payment_reference:
            await provider.cancel(order.payment_reference)
