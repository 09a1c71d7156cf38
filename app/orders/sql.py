"""The SQL of orders: checkout's writes (stock decremented conditionally, lines copied) and orders' reads."""

from __future__ import annotations

from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Select, Table, delete, func, insert, select, update

from app.cart import sql as carts
from app.catalog import sql as catalog
from app.db.database import RequestDatabase
from app.db.loaders import keys_in
from app.db.pagination import Keyset, Window, parse_datetime, partitioned_pages
from app.orders.models import Order, OrderLine, OrderStatusChange, PaymentEvent

__all__ = [
    "LINE_ORDER",
    "ORDER_ORDER",
    "add_status",
    "checkout_lines",
    "decrement_stock",
    "delete_order",
    "insert_lines",
    "insert_order",
    "line_counts",
    "line_pages",
    "lock_order",
    "move_status",
    "next_payment_attempt",
    "order_by_digest",
    "order_by_key",
    "order_counts",
    "order_of_payment",
    "order_pages_by_customer",
    "order_row",
    "orders_by_id",
    "overdue_pending",
    "record_event",
    "return_stock",
    "set_order",
    "status_history",
]

orders: Table = Order.__table__  # type: ignore[assignment]
order_lines: Table = OrderLine.__table__  # type: ignore[assignment]
changes: Table = OrderStatusChange.__table__  # type: ignore[assignment]
events: Table = PaymentEvent.__table__  # type: ignore[assignment]
variants: Table = catalog.variants  # type: ignore[assignment]
products: Table = catalog.products  # type: ignore[assignment]
LINE_ORDER = Keyset("ID", None, order_lines.c.id, ascending=True)
ORDER_ORDER = Keyset("CREATED_AT", orders.c.created_at, orders.c.id, ascending=False, parse=parse_datetime)


async def order_by_key(db: RequestDatabase, key: str) -> Any:
    """The order a checkout with this idempotency key made, or None."""
    rows = await db.fetch_all(select(orders).where(orders.c.idempotency_key == key))
    return rows[0] if rows else None


async def order_by_digest(db: RequestDatabase, digest: str) -> Any:
    """The order of a guest access token's digest, or None."""
    rows = await db.fetch_all(select(orders).where(orders.c.access_digest == digest))
    return rows[0] if rows else None


async def checkout_lines(db: RequestDatabase, cart_id: int) -> list[Any]:
    """A cart's lines with what checkout copies: the product's title and status, the variant's title, SKU,
    price and stock, as they are now."""
    statement = (
        select(
            carts.lines.c.id,
            carts.lines.c.variant_id,
            carts.lines.c.quantity,
            variants.c.title.label("variant_title"),
            variants.c.sku,
            variants.c.price,
            variants.c.stock_quantity,
            products.c.title,
            products.c.status.label("product_status"),
        )
        .join(variants, variants.c.id == carts.lines.c.variant_id)
        .join(products, products.c.id == variants.c.product_id)
        .where(carts.lines.c.cart_id == cart_id)
        .order_by(carts.lines.c.id)
    )
    return list(await db.fetch_all(statement))


async def decrement_stock(db: RequestDatabase, variant_id: int, quantity: int) -> int | None:
    """Take `quantity` from a variant's stock in one conditional UPDATE: the stock left, or None (nothing
    taken) when fewer are left. Concurrent checkouts of the last items: exactly as many succeed as there is
    stock."""
    statement = (
        update(variants)
        .where(variants.c.id == variant_id, variants.c.stock_quantity >= quantity)
        .values(stock_quantity=variants.c.stock_quantity - quantity)
        .returning(variants.c.stock_quantity)
    )
    rows = await db.fetch_all(statement)
    return int(rows[0].stock_quantity) if rows else None


async def insert_order(db: RequestDatabase, values: dict[str, Any]) -> int:
    """Add an order; its id (IntegrityError when its idempotency key was used)."""
    return int((await db.fetch_all(insert(orders).values(**values).returning(orders.c.id)))[0].id)


async def insert_lines(db: RequestDatabase, rows: list[dict[str, Any]]) -> None:
    """Add an order's lines."""
    await db.execute(insert(order_lines), rows)  # type: ignore[arg-type]


async def add_status(db: RequestDatabase, order_id: int, status: str, at: datetime) -> None:
    """Record that an order entered a status."""
    await db.execute(insert(changes).values(order_id=order_id, status=status, at=at))


async def set_order(db: RequestDatabase, order_id: int, **values: Any) -> None:
    """Change an order's columns."""
    await db.execute(update(orders).where(orders.c.id == order_id).values(**values))


@cache
def orders_by_id(dialect: str) -> Select[Any]:
    """Orders by id (the caller checks who may see them)."""
    return select(orders).where(keys_in(orders.c.id, dialect))


@lru_cache(maxsize=64)
def line_pages(window: Window, dialect: str) -> Select[Any]:
    """The same window of each order's lines, in order, with the order as `parent_key`."""
    base = select(order_lines).where(keys_in(order_lines.c.order_id, dialect))
    return partitioned_pages(base, order_lines.c.order_id, LINE_ORDER, window)


@lru_cache(maxsize=64)
def order_pages_by_customer(window: Window, dialect: str) -> Select[Any]:
    """The same window of each customer's orders, newest first, with the customer as `parent_key`."""
    base = select(orders).where(keys_in(orders.c.customer_id, dialect))
    return partitioned_pages(base, orders.c.customer_id, ORDER_ORDER, window)


@cache
def status_history(dialect: str) -> Select[Any]:
    """Every status change of the orders, oldest first."""
    return select(changes).where(keys_in(changes.c.order_id, dialect)).order_by(changes.c.order_id, changes.c.id)


@cache
def line_counts(dialect: str) -> Select[Any]:
    """How many lines each order has."""
    return (
        select(order_lines.c.order_id.label("key"), func.count().label("count"))
        .where(keys_in(order_lines.c.order_id, dialect))
        .group_by(order_lines.c.order_id)
    )


@cache
def order_counts(dialect: str) -> Select[Any]:
    """How many orders each customer has."""
    return (
        select(orders.c.customer_id.label("key"), func.count().label("count"))
        .where(keys_in(orders.c.customer_id, dialect))
        .group_by(orders.c.customer_id)
    )


async def move_status(db: RequestDatabase, order_id: int, allowed_from: tuple[str, ...], to: str, at: datetime) -> bool:
    """Move an order to `to` if it is in one of `allowed_from`, in one conditional UPDATE: of concurrent
    moves exactly one happens. Whether it did (and the history records it)."""
    statement = update(orders).where(orders.c.id == order_id, orders.c.status.in_(allowed_from)).values(status=to)
    if await db.execute(statement) != 1:
        return False
    await add_status(db, order_id, to, at)
    return True


async def return_stock(db: RequestDatabase, order_id: int) -> list[tuple[int, int, int]]:
    """Put an order's quantities back in stock (run once, by the move to CANCELLED that happened); per
    variant, (id, stock now, quantity returned)."""
    lines = await db.fetch_all(
        select(order_lines.c.variant_id, order_lines.c.quantity)
        .where(order_lines.c.order_id == order_id, order_lines.c.variant_id.is_not(None))
        .order_by(order_lines.c.variant_id)  # the variant order every writer of stock keeps
    )
    returned = []
    for line in lines:
        rows = await db.fetch_all(
            update(variants)
            .where(variants.c.id == line.variant_id)
            .values(stock_quantity=variants.c.stock_quantity + line.quantity)
            .returning(variants.c.stock_quantity)
        )
        if rows:
            returned.append((int(line.variant_id), int(rows[0].stock_quantity), int(line.quantity)))
    return returned


async def delete_order(db: RequestDatabase, order_id: int) -> None:
    """Remove an order that never was (its payment refused before anything was charged), with its rows."""
    await db.execute(delete(changes).where(changes.c.order_id == order_id))
    await db.execute(delete(order_lines).where(order_lines.c.order_id == order_id))
    await db.execute(delete(orders).where(orders.c.id == order_id))


async def lock_order(db: RequestDatabase, order_id: int) -> Any:
    """An order by id, locked until the transaction ends; None when there is none."""
    rows = await db.lock_rows(select(orders).where(orders.c.id == order_id))
    return rows[0] if rows else None


async def next_payment_attempt(db: RequestDatabase, order_id: int, failed: int) -> None:
    """Count a failed payment attempt (once, however many requests saw it fail), so the next one asks the
    provider under a new key."""
    await db.execute(
        update(orders)
        .where(
            orders.c.id == order_id,
            orders.c.status == "PAYMENT_PENDING",
            orders.c.payment_reference.is_(None),
            orders.c.payment_attempt == failed,
        )
        .values(payment_attempt=failed + 1)
    )


async def order_row(db: RequestDatabase, order_id: int) -> Any:
    """An order by id, read now (inside the caller's transaction); None when there is none."""
    rows = await db.fetch_all(select(orders).where(orders.c.id == order_id))
    return rows[0] if rows else None


async def record_event(db: RequestDatabase, provider: str, event_id: str, now: datetime) -> None:
    """Record a webhook event (IntegrityError when it was recorded before)."""
    await db.execute(insert(events).values(provider=provider, event_id=event_id, received_at=now))


async def order_of_payment(db: RequestDatabase, provider: str, reference: str) -> Any:
    """The order a provider's payment reference belongs to, or None."""
    statement = select(orders).where(orders.c.payment_provider == provider, orders.c.payment_reference == reference)
    rows = await db.fetch_all(statement)
    return rows[0] if rows else None


async def overdue_pending(db: RequestDatabase, before: datetime, limit: int) -> list[Any]:
    """Orders still PAYMENT_PENDING that were made before `before` (id, provider, payment reference), locked,
    skipping those another sweeper holds (PostgreSQL; SQLite serialises writers)."""
    statement = (
        select(orders.c.id, orders.c.payment_provider, orders.c.payment_reference)
        .where(orders.c.status == "PAYMENT_PENDING", orders.c.created_at < before)
        .order_by(orders.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(await db.fetch_all(statement))
