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

__all__ = ["insert_review", "lock_visible_product", "refresh_product_rating"]

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
