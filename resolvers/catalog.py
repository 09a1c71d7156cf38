"""Catalog use cases: products, categories, variants, images and reviews, all through loaders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.catalog import sql
from app.catalog.loaders import (
    CategoryByIdLoader,
    CategoryBySlugLoader,
    ChildCategoriesByParentLoader,
    FirstImagesByProductLoader,
    ProductByIdLoader,
    ProductBySlugLoader,
    ProductCountByCategoryLoader,
    ProductPageByCategoryLoader,
    ProjectedLoader,
    RatingByProductLoader,
    ReviewPageByProductLoader,
    VariantAggregatesByProductLoader,
    VariantsByProductLoader,
)
from app.context import Context
from app.db import registry
from app.db.ids import decode_global_id
from app.db.loaders import BaseLoader
from app.db.pagination import Keyset, PageArgs, PageOfRows, keyset_page, to_page, validate_window
from app.db.registry import NodeType
from app.errors import UserInputError

__all__ = [
    "ProductQuery",
    "categories",
    "categories_children",
    "categories_parents",
    "category",
    "category_products",
    "image_url",
    "node",
    "nodes",
    "product",
    "product_reviews",
    "products",
    "products_categories",
    "products_featured_images",
    "products_images",
    "products_ratings",
    "products_variant_summaries",
    "products_variants",
    "reviews_products",
    "variants_products",
]

MAX_NODES = 100
MAX_IMAGES = 50
MAX_SEARCH_TERMS = 10
MAX_TERM_LENGTH = 100
MAX_SLUG_LENGTH = 200
MAX_IMAGE_SIDE = 5000


@dataclass(frozen=True)
class ProductQuery:
    """A product listing request as the schema received it."""

    page: PageArgs
    category_id: str | None = None
    category_slug: str | None = None
    query: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    available_for_sale: bool | None = None
    vendor: str | None = None
    sort_key: str = "ID"
    reverse: bool = False


def product_conditions(request: ProductQuery) -> sql.ProductConditions:
    """Validate a listing's filter arguments into the conditions its SQL applies."""
    if request.category_id is not None and request.category_slug is not None:
        raise UserInputError("Filter by `category` or by `categorySlug`, not both", field="filter.category")
    category_pk = None
    if request.category_id is not None:
        category_pk = decode_global_id(request.category_id, expected="Category", field="filter.category")[1]
    _check_price_range(request.min_price, request.max_price)
    return sql.ProductConditions(
        category_id=category_pk,
        category_slug=request.category_slug,
        text=_search_terms(request.query),
        min_price=request.min_price,
        max_price=request.max_price,
        available_for_sale=request.available_for_sale,
        vendor=request.vendor,
    )


def _search_terms(query: str | None) -> tuple[str, ...]:
    if query is None:
        return ()
    terms = tuple(term for term in query.split() if term)
    if len(terms) > MAX_SEARCH_TERMS:
        raise UserInputError(f"A search takes at most {MAX_SEARCH_TERMS} words", field="filter.query")
    if any(len(term) > MAX_TERM_LENGTH for term in terms):
        raise UserInputError(f"Search words are at most {MAX_TERM_LENGTH} characters", field="filter.query")
    return terms


def _check_price_range(low: Decimal | None, high: Decimal | None) -> None:
    for name, value in (("min", low), ("max", high)):
        if value is not None and (not value.is_finite() or value < 0):
            raise UserInputError(f"`price.{name}` must be a non-negative amount", field=f"filter.price.{name}")
    if low is not None and high is not None and low > high:
        raise UserInputError("`price.min` must not exceed `price.max`", field="filter.price")


def _sort(sort_key: str, reverse: bool) -> Keyset:
    try:
        return sql.PRODUCT_SORTS[sort_key].reversed(reverse)
    except KeyError:
        raise UserInputError(f"Unknown sort key {sort_key!r}", field="sortKey") from None


async def products(ctx: Context, request: ProductQuery) -> PageOfRows:
    """A page of visible products matching a filter, in a stable keyset order."""
    keyset = _sort(request.sort_key, request.reverse)
    conditions = product_conditions(request)
    window = validate_window(request.page, keyset, ctx.settings.max_page_size)
    columns = ctx.columns_of("Product")
    rows = await ctx.db.fetch_all(sql.product_listing(conditions, keyset, window, columns))
    by_id = ctx.loaders.get(ProductByIdLoader, columns)
    for row in rows:
        by_id.prime(row.id, row)

    async def count() -> int:
        return (await ctx.db.fetch_all(sql.products_count(conditions)))[0][0]

    return PageOfRows(to_page(rows, window), keyset, count)


async def product(ctx: Context, id: str | None = None, slug: str | None = None) -> Any:
    """One visible product by global ID or slug; None when there is none."""
    return await _by_id_or_slug(ctx, "Product", id, slug, ProductByIdLoader, ProductBySlugLoader)


async def category(ctx: Context, id: str | None = None, slug: str | None = None) -> Any:
    """One category by global ID or slug; None when there is none."""
    return await _by_id_or_slug(ctx, "Category", id, slug, CategoryByIdLoader, CategoryBySlugLoader)


async def _by_id_or_slug(
    ctx: Context,
    type_name: str,
    id: str | None,
    slug: str | None,
    by_id: type[BaseLoader],
    by_slug: type[BaseLoader],
) -> Any:
    """The row a lookup names, or None when none exists or is visible: like Relay's `node`, a missing entity
    is not an error (clients drop a response with errors). Malformed input is: UserInputError."""
    if (id is None) == (slug is None):
        raise UserInputError("Pass exactly one of `id` and `slug`", field="id")
    columns = ctx.columns_of(type_name)
    if id is not None:
        return await ctx.loaders.get(by_id, columns).load(decode_global_id(id, expected=type_name)[1])
    return await ctx.loaders.get(by_slug, columns).load(slug) if _possible_slug(slug) else None


async def categories(ctx: Context, page: PageArgs, top_level: bool = False) -> PageOfRows:
    """A page of categories by position; only the roots of the tree with `top_level`."""
    keyset = sql.CATEGORY_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    base = sql.categories.select()
    if top_level:
        base = base.where(sql.categories.c.parent_id.is_(None))
    rows = await ctx.db.fetch_all(keyset_page(base, keyset, window))
    by_id = _categories_by_id(ctx)
    for row in rows:  # every column: they fit any query's loader of categories
        by_id.prime(row.id, row)

    async def count() -> int:
        return (await ctx.db.fetch_all(sql.row_count(base)))[0][0]

    return PageOfRows(to_page(rows, window), keyset, count)


async def node(ctx: Context, id: str) -> tuple[NodeType, Any] | None:
    """The (registered type, row) an opaque ID names, or None when it does not exist or is not visible."""
    type_name, pk = decode_global_id(id)
    found = registry.NODE_TYPES[type_name]
    if issubclass(found.loader, ProjectedLoader):
        loader = ctx.loaders.get(found.loader, ctx.columns_of(type_name))
    else:
        loader = ctx.loaders.get(found.loader)
    row = await loader.load(pk)
    if row is None or (found.visible is not None and not found.visible(ctx, row)):
        return None
    return found, row


async def nodes(ctx: Context, ids: list[str]) -> list[tuple[NodeType, Any] | None]:
    """Several nodes at once, in the order asked, batched per type."""
    if len(ids) > MAX_NODES:
        raise UserInputError(f"`nodes` takes at most {MAX_NODES} IDs; got {len(ids)}", field="ids")
    return list(await asyncio.gather(*(node(ctx, id) for id in ids)))


async def category_products(ctx: Context, row: Any, request: ProductQuery) -> PageOfRows:
    """A page of the products under a category, subcategories included."""
    if request.category_id is not None or request.category_slug is not None:
        raise UserInputError("`Category.products` is already limited to its category", field="filter.category")
    keyset = _sort(request.sort_key, request.reverse)
    conditions = product_conditions(request)
    window = validate_window(request.page, keyset, ctx.settings.max_page_size)
    columns = ctx.columns_of("Product")
    page = await ctx.loaders.get(ProductPageByCategoryLoader, window, conditions, keyset, columns).load(row.id)

    def count() -> Awaitable[int]:
        return ctx.loaders.get(ProductCountByCategoryLoader, conditions).load(row.id)

    return PageOfRows(page, keyset, count)


async def product_reviews(ctx: Context, row: Any, page: PageArgs) -> PageOfRows:
    """A page of a product's reviews, newest first."""
    keyset = sql.REVIEW_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    result = await ctx.loaders.get(ReviewPageByProductLoader, window).load(row.id)

    async def count() -> int:
        rating = await ctx.loaders.get(RatingByProductLoader).load(row.id)
        return 0 if rating is None else rating.count

    return PageOfRows(result, keyset, count)


def _possible_slug(slug: str | None) -> bool:
    """False for a slug no row can have (too long, or a NUL PostgreSQL refuses in text): no query needed."""
    return slug is not None and len(slug) <= MAX_SLUG_LENGTH and "\x00" not in slug


def image_url(ctx: Context, row: Any, width: int | None, height: int | None) -> str:
    """The image's URL with resize parameters for the image CDN (only the sides asked for)."""
    params = []
    for name, value in (("width", width), ("height", height)):
        if value is None:
            continue
        if not 1 <= value <= MAX_IMAGE_SIDE:
            raise UserInputError(f"`{name}` must be between 1 and {MAX_IMAGE_SIDE}; got {value}", field=name)
        params.append(f"{name}={value}")
    url = row.url
    if ctx.settings.image_cdn_base:
        url = ctx.settings.image_cdn_base + "/" + url.split("://", 1)[-1].split("/", 1)[-1]
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(params)


# -- relations: one call for all parent rows of a level, a value per row in order ---------------------
# The schema declares each relation field once (`schema.fields.relation`): the planned executor calls these
# for a whole level, the reference executor for one row.


async def _load_each(loader: BaseLoader, keys: list[Any]) -> list[Any]:
    """Load every non-None key in one batch; None keys give None, in order."""
    found = iter(await loader.load_many([key for key in keys if key is not None]))
    return [None if key is None else next(found) for key in keys]


def _categories_by_id(ctx: Context) -> CategoryByIdLoader:
    return ctx.loaders.get(CategoryByIdLoader, ctx.columns_of("Category"))


def products_categories(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """The category of each product (None when it has none)."""
    return _load_each(
        ctx.loaders.get(CategoryByIdLoader, ctx.columns_of("Category")), [row.category_id for row in rows]
    )


def categories_parents(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """The parent of each category (None at the top of the tree)."""
    return _load_each(_categories_by_id(ctx), [row.parent_id for row in rows])


def categories_children(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """The child categories of each category, by position."""
    loader = ctx.loaders.get(ChildCategoriesByParentLoader, ctx.columns_of("Category"))
    return _load_each(loader, [row.id for row in rows])


def products_variants(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """Every variant of each product, by position."""
    return _load_each(
        ctx.loaders.get(VariantsByProductLoader, ctx.columns_of("ProductVariant")), [row.id for row in rows]
    )


def products_variant_summaries(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """Lowest and highest price and in-stock count of each product's variants (None without variants)."""
    return _load_each(ctx.loaders.get(VariantAggregatesByProductLoader), [row.id for row in rows])


def products_ratings(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """The average rating and review count of each product (None without reviews)."""
    return _load_each(ctx.loaders.get(RatingByProductLoader), [row.id for row in rows])


async def products_images(ctx: Context, rows: list[Any], first: int) -> list[Any]:
    """The first images of each product, by position."""
    if not 1 <= first <= MAX_IMAGES:
        raise UserInputError(f"`first` must be between 1 and {MAX_IMAGES}; got {first}", field="first")
    return await _load_each(ctx.loaders.get(FirstImagesByProductLoader), [(row.id, first) for row in rows])


async def products_featured_images(ctx: Context, rows: list[Any]) -> list[Any]:
    """The first image of each product, or None."""
    firsts = await _load_each(ctx.loaders.get(FirstImagesByProductLoader), [(row.id, 1) for row in rows])
    return [found[0] if found else None for found in firsts]


def variants_products(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """The product each variant belongs to."""
    return _load_each(ctx.loaders.get(ProductByIdLoader, ctx.columns_of("Product")), [row.product_id for row in rows])


def reviews_products(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """The product each review is of (None once it is no longer on sale)."""
    return _load_each(ctx.loaders.get(ProductByIdLoader, ctx.columns_of("Product")), [row.product_id for row in rows])
