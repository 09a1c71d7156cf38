"""The catalog's loaders: every relation is one batched statement per query level (see `app.db.loaders`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select

from app.catalog import sql
from app.db.database import RequestDatabase
from app.db.loaders import BaseLoader, Loaders, PageLoader, by_key, grouped
from app.db.pagination import Window

__all__ = [
    "CategoryByIdLoader",
    "CategoryBySlugLoader",
    "ChildCategoriesByParentLoader",
    "FirstImagesByProductLoader",
    "ImageByIdLoader",
    "ProductByIdLoader",
    "ProductBySlugLoader",
    "ProductCountByCategoryLoader",
    "ProductPageByCategoryLoader",
    "RatingByProductLoader",
    "ReviewByIdLoader",
    "ReviewPageByProductLoader",
    "VariantAggregatesByProductLoader",
    "VariantByIdLoader",
    "VariantsByProductLoader",
]


class CategoryByIdLoader(BaseLoader):
    """Categories by id; each batch also loads and primes every ancestor, so breadcrumbs cost nothing."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        rows = await self.fetch(sql.categories_with_ancestors(self.dialect), keys)
        for row in rows:
            self.prime(row.id, row)
        return by_key(rows, keys, "id")


class CategoryBySlugLoader(BaseLoader):
    """Categories by slug."""

    async def batch_load_fn(self, keys: Sequence[str]) -> list[Any]:
        rows = await self.fetch(sql.categories_by("slug", self.dialect), keys)
        for row in rows:
            self.loaders.get(CategoryByIdLoader).prime(row.id, row)
        return by_key(rows, keys, "slug")


class ChildCategoriesByParentLoader(BaseLoader):
    """The child categories of each category, by position."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[Any]]:
        return grouped(await self.fetch(sql.categories_by("parent_id", self.dialect), keys), keys, "parent_id")


class ProductByIdLoader(BaseLoader):
    """Visible products by id."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.products_by("id", self.dialect), keys), keys, "id")


class ProductBySlugLoader(BaseLoader):
    """Visible products by slug."""

    async def batch_load_fn(self, keys: Sequence[str]) -> list[Any]:
        rows = await self.fetch(sql.products_by("slug", self.dialect), keys)
        for row in rows:
            self.loaders.get(ProductByIdLoader).prime(row.id, row)
        return by_key(rows, keys, "slug")


class VariantsByProductLoader(BaseLoader):
    """Every variant of each product, by position."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[Any]]:
        return grouped(await self.fetch(sql.variants_by("product_id", self.dialect), keys), keys, "product_id")


class VariantByIdLoader(BaseLoader):
    """Variants of visible products by id."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.variants_by("id", self.dialect), keys), keys, "id")


class VariantAggregatesByProductLoader(BaseLoader):
    """Price range and stock of each product's variants: one GROUP BY for all products."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.variant_aggregates(self.dialect), keys), keys, "product_id")


class RatingByProductLoader(BaseLoader):
    """Average rating and review count of each product: one GROUP BY for all products."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.rating_aggregates(self.dialect), keys), keys, "product_id")


class FirstImagesByProductLoader(BaseLoader):
    """The first N images of each product, keyed by (product id, N).

    Keys asking for different N in the same batch share one windowed statement read up to the largest N,
    so `featuredImage` and `images(first: 3)` side by side cost one statement.
    """

    async def batch_load_fn(self, keys: Sequence[tuple[int, int]]) -> list[list[Any]]:
        product_ids = sorted({product_id for product_id, _ in keys})
        largest = max(count for _, count in keys)
        rows = await self.fetch(sql.first_images(self.dialect), product_ids, count=largest)
        groups = grouped(rows, product_ids, "product_id")
        by_product = dict(zip(product_ids, groups, strict=True))
        return [by_product[product_id][:count] for product_id, count in keys]


class ImageByIdLoader(BaseLoader):
    """Images of visible products by id."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.images_by_id(self.dialect), keys), keys, "id")


class ReviewByIdLoader(BaseLoader):
    """Reviews of visible products by id, with the author's display name."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.reviews_by_id(self.dialect), keys), keys, "id")


class ReviewPageByProductLoader(PageLoader):
    """A page of each product's reviews, newest first, authors' public names joined in."""

    keyset = sql.REVIEW_ORDER

    def pages(self, keys: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
        """A window of each product's reviews."""
        return sql.review_pages(self.window, self.dialect), {}


class ProductPageByCategoryLoader(PageLoader):
    """A page of each category's products (subcategories included) for one filter and sort order."""

    def __init__(self, db: RequestDatabase, loaders: Loaders, window: Window, *params: Any) -> None:
        super().__init__(db, loaders, window, *params)
        conditions, keyset = params
        self.conditions: sql.ProductConditions = conditions
        self.keyset = keyset

    def pages(self, keys: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
        """A window of the products under each category."""
        return sql.category_pages(keys, self.conditions, self.keyset, self.window, self.dialect)


class ProductCountByCategoryLoader(BaseLoader):
    """How many visible products match a filter under each category."""

    def __init__(self, db: RequestDatabase, loaders: Loaders, conditions: sql.ProductConditions) -> None:
        super().__init__(db, loaders)
        self.conditions = conditions

    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        rows = await self.fetch(sql.product_count_by_category(self.conditions, self.dialect), keys)
        counts = {row.root_id: row.count for row in rows}
        return [counts.get(key, 0) for key in keys]
