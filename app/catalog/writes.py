"""The catalog's writes: reviews, and the staff's changes to products, variants and stock.

Every function runs inside the caller's `db.transaction()`; rows whose derived columns are recomputed
(a product's rating, its lowest price) are locked first, so concurrent writers recompute in turn.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, insert, select, update

from app.catalog import sql
from app.catalog.sql import visible_products
from app.db.database import RequestDatabase

__all__ = [
    "adjust_stock",
    "category_exists",
    "insert_product",
    "insert_review",
    "insert_variant",
    "lock_visible_product",
    "next_variant_position",
    "product_row",
    "refresh_min_price",
    "refresh_product_rating",
    "slug_taken",
    "update_product",
    "update_variant",
    "variant_row",
]

products: Table = sql.products  # type: ignore[assignment]
reviews: Table = sql.reviews  # type: ignore[assignment]


async def lock_visible_product(db: RequestDatabase, product_id: int) -> Any:
    """A visible product's row, locked until the transaction ends (its rating columns are about to
    change); None when there is none."""
    rows = await db.lock_rows(select(products.c.id).where(products.c.id == product_id, visible_products()))
    return rows[0] if rows else None


async def insert_review(db: RequestDatabase, values: dict[str, Any]) -> int:
    """Add a review; its id (IntegrityError when the customer already reviewed the product)."""
    rows = await db.fetch_all(insert(reviews).values(**values).returning(reviews.c.id))
    return int(rows[0].id)


async def refresh_product_rating(db: RequestDatabase, product_id: int) -> None:
    """Recompute a product's denormalised rating columns (the BEST_RATED order) from its reviews."""
    of_product = reviews.c.product_id == product_id
    await db.execute(
        update(products)
        .where(products.c.id == product_id)
        .values(
            rating_count=select(func.count()).where(of_product).scalar_subquery(),
            rating_average=select(func.coalesce(func.round(func.avg(reviews.c.rating), 3), 0))
            .where(of_product)
            .scalar_subquery(),
        )
    )


variants: Table = sql.variants  # type: ignore[assignment]
categories: Table = sql.categories  # type: ignore[assignment]
STAFF_PRODUCT_COLUMNS = (*sql.PRODUCT_COLUMNS, products.c.status)


async def product_row(db: RequestDatabase, product_id: int, *, lock: bool = False) -> Any:
    """A product of any status, as the schema reads products (tags as JSON text); None when there is none."""
    statement = select(*STAFF_PRODUCT_COLUMNS).where(products.c.id == product_id)
    rows = await (db.lock_rows(statement) if lock else db.fetch_all(statement))
    return rows[0] if rows else None


async def variant_row(db: RequestDatabase, variant_id: int, *, lock: bool = False) -> Any:
    """A variant of a product of any status, as the schema reads variants; None when there is none."""
    statement = select(*sql.VARIANT_COLUMNS).where(variants.c.id == variant_id)
    rows = await (db.lock_rows(statement) if lock else db.fetch_all(statement))
    return rows[0] if rows else None


async def category_exists(db: RequestDatabase, category_id: int) -> bool:
    """Whether the category exists."""
    return bool(await db.fetch_all(select(categories.c.id).where(categories.c.id == category_id)))


async def slug_taken(db: RequestDatabase, slug: str, other_than: int | None = None) -> bool:
    """Whether another product has this slug."""
    statement = select(products.c.id).where(products.c.slug == slug)
    if other_than is not None:
        statement = statement.where(products.c.id != other_than)
    return bool(await db.fetch_all(statement))


async def insert_product(db: RequestDatabase, values: dict[str, Any]) -> int:
    """Add a product (no variants yet, so its lowest price is 0); its id."""
    rows = await db.fetch_all(insert(products).values(min_price=0, **values).returning(products.c.id))
    return int(rows[0].id)


async def update_product(db: RequestDatabase, product_id: int, values: dict[str, Any]) -> None:
    """Change a product's columns (and its `updated_at`)."""
    await db.execute(update(products).where(products.c.id == product_id).values(**values))


async def insert_variant(db: RequestDatabase, values: dict[str, Any]) -> int:
    """Add a variant; its id (IntegrityError when its SKU is taken)."""
    rows = await db.fetch_all(insert(variants).values(**values).returning(variants.c.id))
    return int(rows[0].id)


async def update_variant(db: RequestDatabase, variant_id: int, values: dict[str, Any]) -> None:
    """Change a variant's columns (IntegrityError when a new SKU is taken)."""
    await db.execute(update(variants).where(variants.c.id == variant_id).values(**values))


async def next_variant_position(db: RequestDatabase, product_id: int) -> int:
    """The position after the product's last variant."""
    statement = select(func.coalesce(func.max(variants.c.position), -1) + 1).where(variants.c.product_id == product_id)
    return int((await db.fetch_all(statement))[0][0])


async def refresh_min_price(db: RequestDatabase, product_id: int) -> None:
    """Recompute a product's lowest variant price (the PRICE order and price filters read it)."""
    lowest = select(func.coalesce(func.min(variants.c.price), 0)).where(variants.c.product_id == product_id)
    await db.execute(update(products).where(products.c.id == product_id).values(min_price=lowest.scalar_subquery()))


async def adjust_stock(db: RequestDatabase, variant_id: int, delta: int) -> bool:
    """Add `delta` (negative to remove) to a variant's stock in one conditional UPDATE, which never takes
    it below zero: False when it would have (or the variant does not exist)."""
    statement = (
        update(variants)
        .where(variants.c.id == variant_id, variants.c.stock_quantity + delta >= 0)
        .values(stock_quantity=variants.c.stock_quantity + delta)
    )
    return await db.execute(statement) == 1
