"""The SQL of carts: carts by token, their lines with what the catalog says of each variant now, and totals.

Prices and availability are joined from the catalog at reading time: a cart stores variants and
quantities only. Writes run inside the caller's `db.transaction()`, with the cart row locked first.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Select, Table, and_, case, delete, func, insert, select, update

from app.cart.models import Cart, CartLine
from app.catalog import sql as catalog
from app.db.database import RequestDatabase
from app.db.loaders import keys_in
from app.db.pagination import Keyset, Window, partitioned_pages

__all__ = [
    "LINE_ORDER",
    "MAX_LINES",
    "MAX_QUANTITY",
    "cart_by_token",
    "cart_totals",
    "carts_by_token",
    "delete_lines",
    "insert_cart",
    "insert_line",
    "line_pages",
    "lines_of",
    "lock_cart",
    "open_cart_of",
    "set_cart",
    "set_line_quantity",
    "visible_variants",
]

MAX_LINES = 100
MAX_QUANTITY = 99

carts: Table = Cart.__table__  # type: ignore[assignment]
lines: Table = CartLine.__table__  # type: ignore[assignment]
variants: Table = catalog.variants  # type: ignore[assignment]
products: Table = catalog.products  # type: ignore[assignment]
LINE_ORDER = Keyset("ID", None, lines.c.id, ascending=True)

# A line can be bought when its product is on sale and its variant has the quantity in stock.
_AVAILABLE = and_(products.c.status == "ACTIVE", variants.c.stock_quantity >= lines.c.quantity)
LINE_COLUMNS = (
    *lines.c,
    variants.c.price,
    variants.c.product_id,
    case((_AVAILABLE, True), else_=False).label("available"),
)


def _with_catalog(statement: Select[Any]) -> Select[Any]:
    return statement.join(variants, variants.c.id == lines.c.variant_id).join(
        products, products.c.id == variants.c.product_id
    )


@cache
def carts_by_token(dialect: str) -> Select[Any]:
    """Carts by token, whatever their status (the caller shows open ones only)."""
    return select(carts).where(keys_in(carts.c.token, dialect))


@lru_cache(maxsize=64)
def line_pages(window: Window, dialect: str) -> Select[Any]:
    """The same window of each cart's lines, oldest first, with the cart as `parent_key`."""
    base = _with_catalog(select(*LINE_COLUMNS).select_from(lines)).where(keys_in(lines.c.cart_id, dialect))
    return partitioned_pages(base, lines.c.cart_id, LINE_ORDER, window)


@cache
def cart_totals(dialect: str) -> Select[Any]:
    """Per cart: the quantity of every line, and the price of the lines that can be bought now."""
    amount = case((_AVAILABLE, lines.c.quantity * variants.c.price), else_=0)
    statement = select(
        lines.c.cart_id,
        func.count().label("line_count"),
        func.sum(lines.c.quantity).label("total_quantity"),
        func.sum(amount).label("subtotal"),
    ).select_from(lines)
    return _with_catalog(statement).where(keys_in(lines.c.cart_id, dialect)).group_by(lines.c.cart_id)


async def cart_by_token(db: RequestDatabase, token: str) -> Any:
    """The cart of a token, read without a lock; None when there is none."""
    rows = await db.fetch_all(select(carts).where(carts.c.token == token))
    return rows[0] if rows else None


async def lock_cart(db: RequestDatabase, token: str) -> Any:
    """The cart of a token, locked until the transaction ends; None when there is none."""
    rows = await db.lock_rows(select(carts).where(carts.c.token == token))
    return rows[0] if rows else None


async def open_cart_of(db: RequestDatabase, customer_id: int) -> Any:
    """A customer's open cart, locked; None when they have none."""
    statement = select(carts).where(carts.c.customer_id == customer_id, carts.c.status == "OPEN")
    rows = await db.lock_rows(statement)
    return rows[0] if rows else None


async def insert_cart(
    db: RequestDatabase, token: str, customer_id: int | None, email: str | None, now: datetime
) -> Any:
    """A new open cart (IntegrityError when the customer already has one open); its row."""
    statement = (
        insert(carts)
        .values(token=token, customer_id=customer_id, email=email, status="OPEN", created_at=now, updated_at=now)
        .returning(*carts.c)
    )
    return (await db.fetch_all(statement))[0]


async def set_cart(db: RequestDatabase, cart_id: int, **values: Any) -> None:
    """Change a cart's columns (its status, owner, email, `updated_at`)."""
    await db.execute(update(carts).where(carts.c.id == cart_id).values(**values))


async def lines_of(db: RequestDatabase, cart_id: int) -> list[Any]:
    """A cart's lines (id, variant, quantity), oldest first."""
    statement = select(lines.c.id, lines.c.variant_id, lines.c.quantity).where(lines.c.cart_id == cart_id)
    return list(await db.fetch_all(statement.order_by(lines.c.id)))


async def visible_variants(db: RequestDatabase, variant_ids: list[int]) -> set[int]:
    """Which of these variants belong to products on sale."""
    if not variant_ids:
        return set()
    statement = (
        select(variants.c.id)
        .join(products, products.c.id == variants.c.product_id)
        .where(variants.c.id.in_(variant_ids), catalog.visible_products())
    )
    return {row.id for row in await db.fetch_all(statement)}


async def insert_line(db: RequestDatabase, cart_id: int, variant_id: int, quantity: int, now: datetime) -> None:
    """Add a line for a variant not yet in the cart."""
    await db.execute(insert(lines).values(cart_id=cart_id, variant_id=variant_id, quantity=quantity, created_at=now))


async def set_line_quantity(db: RequestDatabase, line_id: int, quantity: int) -> None:
    """Change a line's quantity."""
    await db.execute(update(lines).where(lines.c.id == line_id).values(quantity=quantity))


async def delete_lines(db: RequestDatabase, cart_id: int, line_ids: list[int]) -> None:
    """Remove lines of a cart."""
    await db.execute(delete(lines).where(lines.c.cart_id == cart_id, lines.c.id.in_(line_ids)))
