"""The catalog's loaders: every relation is one batched statement per query level (see `app.db.loaders`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select

from app.catalog import sql
from app.db.database import RequestDatabase
from app.db.loaders import BaseLoader, CountLoader, Loaders, PageLoader, by_key, grouped
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
    "ProjectedLoader",
    "RatingByProductLoader",
    "ReviewByIdLoader",
    "ReviewCountByCustomerLoader",
    "ReviewPageByCustomerLoader",
    "ReviewPageByProductLoader",
    "VariantAggregatesByProductLoader",
    "VariantByIdLoader",
    "VariantsByProductLoader",
]


class ProjectedLoader(BaseLoader):
    """A loader that selects only the columns a query reads (`columns`, see app.graphql.columns; None for
    every column). Get it with the request's columns of its type, `loaders.get(Loader, ctx.columns_of(...))`,
    so every loader of a type in one request selects the same columns and their primed rows fit each other."""

    def __init__(self, db: RequestDatabase, loaders: Loaders, columns: frozenset[str] | None = None) -> None:
        super().__init__(db, loaders)
        self.columns = columns


class CategoryByIdLoader(ProjectedLoader):
    """Categories by id; each batch also loads and primes every ancestor, so breadcrumbs cost nothing."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        rows = await self.fetch(sql.categories_with_ancestors(self.dialect, self.columns), keys)
        for row in rows:
            self.prime(row.id, row)
        return by_key(rows, keys, "id")


class CategoryBySlugLoader(ProjectedLoader):
    """Categories by slug."""

    async def batch_load_fn(self, keys: Sequence[str]) -> list[Any]:
        rows = await self.fetch(sql.categories_by("slug", self.dialect, self.columns), keys)
        by_id = self.loaders.get(CategoryByIdLoader, self.columns)
        for row in rows:
            by_id.prime(row.id, row)
        return by_key(rows, keys, "slug")


class ChildCategoriesByParentLoader(ProjectedLoader):
    """The child categories of each category, by position."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[Any]]:
        rows = await self.fetch(sql.categories_by("parent_id", self.dialect, self.columns), keys)
        return grouped(rows, keys, "parent_id")


class ProductByIdLoader(ProjectedLoader):
    """Visible products by id."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.products_by("id", self.dialect, self.columns), keys), keys, "id")


class ProductBySlugLoader(ProjectedLoader):
    """Visible products by slug."""

    async def batch_load_fn(self, keys: Sequence[str]) -> list[Any]:
        rows = await self.fetch(sql.products_by("slug", self.dialect, self.columns), keys)
        by_id = self.loaders.get(ProductByIdLoader, self.columns)
        for row in rows:
            by_id.prime(row.id, row)
        return by_key(rows, keys, "slug")


class VariantsByProductLoader(ProjectedLoader):
    """Every variant of each product, by position."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[Any]]:
        rows = await self.fetch(sql.variants_by("product_id", self.dialect, self.columns), keys)
        return grouped(rows, keys, "product_id")


class VariantByIdLoader(ProjectedLoader):
    """Variants of visible products by id."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.variants_by("id", self.dialect, self.columns), keys), keys, "id")


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


class ReviewCountByCustomerLoader(CountLoader):
    """How many reviews of visible products each customer wrote: one GROUP BY for a level."""

    def counted(self) -> Select[Any]:
        """Reviews per customer."""
        return sql.review_counts_by_customer(self.dialect)


class ReviewPageByCustomerLoader(PageLoader):
    """A page of each customer's reviews (of visible products), newest first."""

    keyset = sql.REVIEW_ORDER

    def pages(self, keys: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
        """A window of each customer's reviews."""
        return sql.review_pages_by_customer(self.window, self.dialect), {}


class ProductPageByCategoryLoader(PageLoader):
    """A page of each category's products (subcategories included) for one filter, sort order and column set."""

    def __init__(self, db: RequestDatabase, loaders: Loaders, window: Window, *params: Any) -> None:
        super().__init__(db, loaders, window, *params)
        conditions, keyset, columns = params
        self.conditions: sql.ProductConditions = conditions
        self.keyset = keyset
        self.columns: frozenset[str] | None = columns  # see ProjectedLoader

    def pages(self, keys: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
        """A window of the products under each category."""
        return sql.category_pages(keys, self.conditions, self.keyset, self.window, self.dialect, self.columns)


class ProductCountByCategoryLoader(BaseLoader):
    """How many visible products match a filter under each category."""

    def __init__(self, db: RequestDatabase, loaders: Loaders, conditions: sql.ProductConditions) -> None:
        super().__init__(db, loaders)
        self.conditions = conditions

    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        rows = await self.fetch(sql.product_count_by_category(self.conditions, self.dialect), keys)
        counts = {row.root_id: row.count for row in rows}
        return [counts.get(key, 0) for key in keys]
