"""Catalog use cases: products, categories, variants, images and reviews, all through loaders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app import catalog_sql as sql
from app.context import Context
from app.errors import UserInputError
from app.ids import decode_global_id
from app.loaders import (
    BaseLoader,
    CategoryByIdLoader,
    CategoryBySlugLoader,
    ChildCategoriesByParentLoader,
    FirstImagesByProductLoader,
    ImageByIdLoader,
    ProductByIdLoader,
    ProductBySlugLoader,
    ProductCountByCategoryLoader,
    ProductPageByCategoryLoader,
    RatingByProductLoader,
    ReviewByIdLoader,
    ReviewPageByProductLoader,
    VariantAggregatesByProductLoader,
    VariantByIdLoader,
    VariantsByProductLoader,
)
from app.pagination import Keyset, Page, PageArgs, keyset_page, to_page, validate_window

__all__ = [
    "PageOfRows",
    "ProductQuery",
    "categories",
    "category",
    "category_children",
    "category_parent",
    "category_products",
    "node",
    "nodes",
    "product",
    "product_category",
    "product_featured_image",
    "product_images",
    "product_rating",
    "product_reviews",
    "product_variant_summary",
    "product_variants",
    "products",
    "variant_product",
]

MAX_NODES = 100
MAX_IMAGES = 50
MAX_SEARCH_TERMS = 10
MAX_TERM_LENGTH = 100
MAX_SLUG_LENGTH = 200
MAX_IMAGE_SIDE = 5000


@dataclass(frozen=True)
class PageOfRows:
    """A page of rows with the keyset that orders them (and makes their cursors) and a lazy total count:
    what a resolver returns for the schema's Relay connection to present."""

    page: Page
    keyset: Keyset
    count: Callable[[], Awaitable[int]]


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
    rows = await ctx.db.fetch_all(keyset_page(sql.filtered_products(conditions), keyset, window))
    for row in rows:
        ctx.loaders.get(ProductByIdLoader).prime(row.id, row)

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
    if id is not None:
        return await ctx.loaders.get(by_id).load(decode_global_id(id, expected=type_name)[1])
    return await ctx.loaders.get(by_slug).load(slug) if _possible_slug(slug) else None


async def categories(ctx: Context, page: PageArgs, top_level: bool = False) -> PageOfRows:
    """A page of categories by position; only the roots of the tree with `top_level`."""
    keyset = sql.CATEGORY_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    base = sql.categories.select()
    if top_level:
        base = base.where(sql.categories.c.parent_id.is_(None))
    rows = await ctx.db.fetch_all(keyset_page(base, keyset, window))
    for row in rows:
        ctx.loaders.get(CategoryByIdLoader).prime(row.id, row)

    async def count() -> int:
        return (await ctx.db.fetch_all(sql.row_count(base)))[0][0]

    return PageOfRows(to_page(rows, window), keyset, count)


NODE_LOADERS: dict[str, type[BaseLoader]] = {
    "Category": CategoryByIdLoader,
    "Product": ProductByIdLoader,
    "ProductVariant": VariantByIdLoader,
    "Image": ImageByIdLoader,
    "Review": ReviewByIdLoader,
}


async def node(ctx: Context, id: str) -> tuple[str, Any] | None:
    """The (type name, row) an opaque ID names, or None when it does not exist or is not visible."""
    type_name, pk = decode_global_id(id)
    row = await ctx.loaders.get(NODE_LOADERS[type_name]).load(pk)
    return None if row is None else (type_name, row)


async def nodes(ctx: Context, ids: list[str]) -> list[tuple[str, Any] | None]:
    """Several nodes at once, in the order asked, batched per type."""
    if len(ids) > MAX_NODES:
        raise UserInputError(f"`nodes` takes at most {MAX_NODES} IDs; got {len(ids)}", field="ids")
    return list(await asyncio.gather(*(node(ctx, id) for id in ids)))


# The per-object relation resolvers are the per-level ones (at the end of this module) on one row, so
# both executors read relations through the same code.


def product_category(ctx: Context, row: Any) -> Awaitable[Any]:
    """The category of a product (None when it has none)."""
    return _one(products_categories(ctx, [row]))


def category_parent(ctx: Context, row: Any) -> Awaitable[Any]:
    """The parent of a category (None at the top of the tree)."""
    return _one(categories_parents(ctx, [row]))


def category_children(ctx: Context, row: Any) -> Awaitable[list[Any]]:
    """The child categories of a category, by position."""
    return _one(categories_children(ctx, [row]))


async def category_products(ctx: Context, row: Any, request: ProductQuery) -> PageOfRows:
    """A page of the products under a category, subcategories included."""
    if request.category_id is not None or request.category_slug is not None:
        raise UserInputError("`Category.products` is already limited to its category", field="filter.category")
    keyset = _sort(request.sort_key, request.reverse)
    conditions = product_conditions(request)
    window = validate_window(request.page, keyset, ctx.settings.max_page_size)
    page = await ctx.loaders.get(ProductPageByCategoryLoader, window, conditions, keyset).load(row.id)

    def count() -> Awaitable[int]:
        return ctx.loaders.get(ProductCountByCategoryLoader, conditions).load(row.id)

    return PageOfRows(page, keyset, count)


def product_variants(ctx: Context, row: Any) -> Awaitable[list[Any]]:
    """Every variant of a product, by position."""
    return _one(products_variants(ctx, [row]))


def product_variant_summary(ctx: Context, row: Any) -> Awaitable[Any]:
    """Lowest and highest price and the in-stock count of a product's variants (None without variants)."""
    return _one(products_variant_summaries(ctx, [row]))


def product_rating(ctx: Context, row: Any) -> Awaitable[Any]:
    """The average rating and review count of a product (None without reviews)."""
    return _one(products_ratings(ctx, [row]))


def product_images(ctx: Context, row: Any, first: int) -> Awaitable[list[Any]]:
    """The first images of a product, by position."""
    return _one(products_images(ctx, [row], first))


def product_featured_image(ctx: Context, row: Any) -> Awaitable[Any]:
    """The first image of a product, or None."""
    return _one(products_featured_images(ctx, [row]))


async def product_reviews(ctx: Context, row: Any, page: PageArgs) -> PageOfRows:
    """A page of a product's reviews, newest first."""
    keyset = sql.REVIEW_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    result = await ctx.loaders.get(ReviewPageByProductLoader, window).load(row.id)

    async def count() -> int:
        rating = await ctx.loaders.get(RatingByProductLoader).load(row.id)
        return 0 if rating is None else rating.count

    return PageOfRows(result, keyset, count)


def variant_product(ctx: Context, row: Any) -> Awaitable[Any]:
    """The product a variant belongs to."""
    return _one(variants_products(ctx, [row]))


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


# -- per-level versions of the relation resolvers above: one call for all parents of a level --------


async def _one(values: Awaitable[list[Any]]) -> Any:
    return (await values)[0]


async def _load_each(loader: BaseLoader, keys: list[Any]) -> list[Any]:
    """Load every non-None key in one batch; None keys give None, in order."""
    found = iter(await loader.load_many([key for key in keys if key is not None]))
    return [None if key is None else next(found) for key in keys]


def products_categories(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """`product_category` for many products at once."""
    return _load_each(ctx.loaders.get(CategoryByIdLoader), [row.category_id for row in rows])


def categories_parents(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """`category_parent` for many categories at once."""
    return _load_each(ctx.loaders.get(CategoryByIdLoader), [row.parent_id for row in rows])


def categories_children(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """`category_children` for many categories at once."""
    return _load_each(ctx.loaders.get(ChildCategoriesByParentLoader), [row.id for row in rows])


def products_variants(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """`product_variants` for many products at once."""
    return _load_each(ctx.loaders.get(VariantsByProductLoader), [row.id for row in rows])


def products_variant_summaries(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """`product_variant_summary` for many products at once."""
    return _load_each(ctx.loaders.get(VariantAggregatesByProductLoader), [row.id for row in rows])


def products_ratings(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """`product_rating` for many products at once."""
    return _load_each(ctx.loaders.get(RatingByProductLoader), [row.id for row in rows])


async def products_images(ctx: Context, rows: list[Any], first: int) -> list[Any]:
    """`product_images` for many products at once."""
    if not 1 <= first <= MAX_IMAGES:
        raise UserInputError(f"`first` must be between 1 and {MAX_IMAGES}; got {first}", field="first")
    return await _load_each(ctx.loaders.get(FirstImagesByProductLoader), [(row.id, first) for row in rows])


async def products_featured_images(ctx: Context, rows: list[Any]) -> list[Any]:
    """`product_featured_image` for many products at once."""
    firsts = await _load_each(ctx.loaders.get(FirstImagesByProductLoader), [(row.id, 1) for row in rows])
    return [found[0] if found else None for found in firsts]


def variants_products(ctx: Context, rows: list[Any]) -> Awaitable[list[Any]]:
    """`variant_product` for many variants at once."""
    return _load_each(ctx.loaders.get(ProductByIdLoader), [row.product_id for row in rows])
