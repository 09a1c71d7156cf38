"""A product with two variants and a customer, written to an empty database for the write-path tests."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.models import Customer
from app.catalog.models import Product, ProductVariant

__all__ = ["PRODUCT", "STOCK", "VARIANT", "VARIANT_2", "add_product", "decrement_stock", "stock_of", "stocks"]

PRODUCT, VARIANT, VARIANT_2, CUSTOMER = 1, 1, 2, 1
STOCK = 10
VARIANTS = ProductVariant.__table__


async def add_product(engine: AsyncEngine) -> None:
    """One active product (id 1) with variants 1 and 2, `STOCK` of each, and customer 1."""
    async with engine.begin() as connection:
        await connection.execute(
            insert(Product.__table__).values(id=PRODUCT, slug="mug", title="Mug", vendor="Acme", min_price=5)
        )
        await connection.execute(
            insert(VARIANTS),
            [
                {
                    "id": VARIANT,
                    "product_id": PRODUCT,
                    "sku": "MUG-S",
                    "title": "S",
                    "price": Decimal(5),
                    "stock_quantity": STOCK,
                },
                {
                    "id": VARIANT_2,
                    "product_id": PRODUCT,
                    "sku": "MUG-L",
                    "title": "L",
                    "price": Decimal(6),
                    "stock_quantity": STOCK,
                },
            ],
        )
        await connection.execute(
            insert(Customer.__table__).values(id=CUSTOMER, email="a@example.com", display_name="Ann")
        )


async def stocks(engine: AsyncEngine) -> dict[int, int]:
    """Each variant's stock, read on a connection of its own (what other requests see)."""
    async with engine.connect() as connection:
        rows = await connection.execute(select(VARIANTS.c.id, VARIANTS.c.stock_quantity).order_by(VARIANTS.c.id))
        return {row.id: row.stock_quantity for row in rows}


async def stock_of(engine: AsyncEngine, variant: int = VARIANT) -> int:
    """One variant's committed stock."""
    return (await stocks(engine))[variant]


def decrement_stock(variant: int = VARIANT, by: int = 1):  # type: ignore[no-untyped-def]
    """UPDATE product_variants SET stock_quantity = stock_quantity - by WHERE id = variant."""
    return update(VARIANTS).where(VARIANTS.c.id == variant).values(stock_quantity=VARIANTS.c.stock_quantity - by)
