"""SQL for the catalog: visibility, filters, sort orders and the batched statements loaders run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    Subquery,
    Text,
    any_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    select,
    union_all,
)

from app.accounts.models import Customer
from app.catalog.models import Category, Product, ProductImage, ProductVariant, Review
from app.db.loaders import keys_in
from app.db.pagination import (
    Keyset,
    Window,
    keyset_page,
    lateral_pages,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_text,
    partitioned_pages,
)

__all__ = [
    "PRODUCT_SORTS",
    "ProductConditions",
    "categories",
    "customers",
    "images",
    "product_where",
    "products",
    "reviews",
    "row_count",
    "variants",
]

categories = Category.__table__
customers = Customer.__table__
products = Product.__table__
variants = ProductVariant.__table__
images = ProductImage.__table__
reviews = Review.__table__


def _json_text(column: Any) -> Any:
    """A JSON column read as its text, labelled as the column: the schema decodes it only when a client
    asks for the field, instead of the driver decoding it for every row (a listing never shows tags)."""
    return cast(column, Text).label(column.key)


PRODUCT_COLUMNS = (
    products.c.id,
    products.c.slug,
    products.c.title,
    products.c.description,
    products.c.vendor,
    products.c.category_id,
    _json_text(products.c.tags),
    products.c.min_price,
    products.c.rating_average,
    products.c.rating_count,
    products.c.created_at,
    products.c.updated_at,
)
CATEGORY_COLUMNS = tuple(categories.c)
VARIANT_COLUMNS = tuple(_json_text(column) if column.key == "selected_options" else column for column in variants.c)
IMAGE_COLUMNS = tuple(images.c)
REVIEW_COLUMNS = (*reviews.c, customers.c.display_name.label("author_display_name"))

PRODUCT_SORTS: dict[str, Keyset] = {
    "ID": Keyset("ID", None, products.c.id, ascending=True),
    "TITLE": Keyset("TITLE", products.c.title, products.c.id, ascending=True, parse=parse_text),
    "PRICE": Keyset("PRICE", products.c.min_price, products.c.id, ascending=True, parse=parse_decimal),
    "CREATED_AT": Keyset("CREATED_AT", products.c.created_at, products.c.id, ascending=True, parse=parse_datetime),
    "BEST_RATED": Keyset("BEST_RATED", products.c.rating_average, products.c.id, ascending=False, parse=parse_decimal),
}
CATEGORY_ORDER = Keyset("POSITION", categories.c.position, categories.c.id, ascending=True, parse=parse_int)
REVIEW_ORDER = Keyset("CREATED_AT", reviews.c.created_at, reviews.c.id, ascending=False, parse=parse_datetime)


@dataclass(frozen=True)
class ProductConditions:
    """Which products a listing shows; every field narrows the set, None means no constraint."""

    category_id: int | None = None
    category_slug: str | None = None
    text: tuple[str, ...] = ()
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    available_for_sale: bool | None = None
    vendor: str | None = None


def projected(candidates: Sequence[Any], columns: frozenset[str] | None, *required: str) -> tuple[Any, ...]:
    """The candidate columns a statement selects: all of them for ALL_COLUMNS (None), else those named in
    `columns` (what the query reads, see app.graphql.columns) or `required` (what the loader itself reads:
    keys, sort columns), in their usual order."""
    if columns is None:
        return tuple(candidates)
    wanted = columns.union(required)
    return tuple(column for column in candidates if column.key in wanted)


def visible_products() -> ColumnElement[bool]:
    """Only ACTIVE products are visible to storefront clients."""
    return products.c.status == "ACTIVE"


def product_select(columns: frozenset[str] | None = None, *required: str) -> Select[Any]:
    """Visible products with the columns a query reads (see `projected`); their id always."""
    return select(*projected(PRODUCT_COLUMNS, columns, "id", *required)).where(visible_products())


def category_subtree(anchor: ColumnElement[bool], name: str = "category_tree") -> Any:
    """A recursive CTE of (root_id, id): every category under each anchor category, itself included."""
    tree = select(categories.c.id.label("root_id"), categories.c.id.label("id")).where(anchor).cte(name, recursive=True)
    child = categories.alias("child")
    return tree.union_all(select(tree.c.root_id, child.c.id).join(child, child.c.parent_id == tree.c.id))


def product_where(conditions: ProductConditions) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a listing's conditions (visibility not included).

    A text with NUL in it matches nothing: PostgreSQL text cannot hold NUL (nor take it as a parameter),
    so no stored slug, title, description or vendor has one.
    """
    clauses: list[ColumnElement[bool]] = []
    if conditions.category_id is not None or conditions.category_slug is not None:
        anchor = (
            categories.c.id == conditions.category_id
            if conditions.category_id is not None
            else _text_equals(categories.c.slug, conditions.category_slug)
        )
        tree = category_subtree(anchor)
        clauses.append(products.c.category_id.in_(select(tree.c.id)))
    for term in conditions.text:
        clauses.append(
            products.c.title.icontains(term, autoescape=True) | products.c.description.icontains(term, autoescape=True)
            if _storable(term)
            else false()
        )
    price_clauses = _variant_price_where(conditions)
    if price_clauses:
        clauses.append(exists().where(variants.c.product_id == products.c.id, *price_clauses))
    if conditions.available_for_sale is not None:
        in_stock = exists().where(variants.c.product_id == products.c.id, variants.c.stock_quantity > 0)
        clauses.append(in_stock if conditions.available_for_sale else ~in_stock)
    if conditions.vendor is not None:
        clauses.append(_text_equals(func.lower(products.c.vendor), conditions.vendor.lower()))
    return clauses


def _storable(text: str | None) -> bool:
    return text is not None and "\x00" not in text


def _text_equals(column: ColumnElement[Any], text: str | None) -> ColumnElement[bool]:
    return column == text if _storable(text) else false()


def _variant_price_where(conditions: ProductConditions) -> list[ColumnElement[bool]]:
    # The bounds are bound as NUMERIC without precision: at the column's NUMERIC(12, 2) PostgreSQL would
    # round 47.945 up to 47.95 (letting a 47.95 variant under a 47.945 maximum) and overflow past 10^10.
    clauses = []
    if conditions.min_price is not None:
        clauses.append(variants.c.price >= literal(conditions.min_price, Numeric()))
    if conditions.max_price is not None:
        clauses.append(variants.c.price <= literal(conditions.max_price, Numeric()))
    return clauses


def filtered_products(
    conditions: ProductConditions, columns: frozenset[str] | None = None, *required: str
) -> Select[Any]:
    """Visible products matching a filter, with the columns a query reads (see `projected`)."""
    return product_select(columns, *required).where(*product_where(conditions))


@lru_cache(maxsize=256)
def product_listing(
    conditions: ProductConditions, keyset: Keyset, window: Window, columns: frozenset[str] | None = None
) -> Select[Any]:
    """One page of the visible products matching a filter, in a keyset order, with the columns a query reads.

    Kept per (filter, order, window, columns): building the statement cost more than running it, and
    SQLAlchemy's cache key is memoized on the statement object."""
    return keyset_page(filtered_products(conditions, columns, *keyset.column_keys()), keyset, window)


@lru_cache(maxsize=256)
def products_count(conditions: ProductConditions) -> Select[Any]:
    """COUNT(*) of the visible products matching a filter."""
    return select(func.count()).select_from(products).where(visible_products(), *product_where(conditions))


def row_count(query: Select[Any]) -> Select[Any]:
    """COUNT(*) of the rows a query returns."""
    return select(func.count()).select_from(query.subquery())


def _subtrees_of_keys(dialect: str) -> Any:
    """(root_id, id) of every category under each category in :keys, itself included."""
    return category_subtree(keys_in(categories.c.id, dialect), name="category_roots")


def products_by_category(
    conditions: ProductConditions, dialect: str, columns: tuple[Any, ...] = PRODUCT_COLUMNS
) -> Select[Any]:
    """Visible products under each category (subcategories included), with the category as `root_id`."""
    tree = _subtrees_of_keys(dialect)
    return (
        select(*columns, tree.c.root_id)
        .join(tree, tree.c.id == products.c.category_id)
        .where(visible_products(), *product_where(conditions))
    )


# SQLite reads at most this many categories' pages as one UNION ALL of keyset pages; more are numbered
# with ROW_NUMBER (SQLite allows 500 terms in a compound SELECT).
UNION_PAGES_MAX = 50


def parent_param(index: int) -> str:
    """The bind parameter naming the `index`-th category of a SQLite UNION ALL of pages."""
    return f"parent_{index}"


def category_pages(
    keys: Sequence[int],
    conditions: ProductConditions,
    keyset: Keyset,
    window: Window,
    dialect: str,
    columns: frozenset[str] | None = None,
) -> tuple[Select[Any], dict[str, Any]]:
    """The same window of visible products under each of these categories (subcategories included), with
    the category as `parent_key`: the statement and its parameters besides :keys.

    PostgreSQL reads each category's window alone (LATERAL, in keyset order, stopping after the window).
    SQLite has no LATERAL: up to UNION_PAGES_MAX categories read one keyset page each in a UNION ALL (its
    statement depends on how many); more are numbered with ROW_NUMBER and keep the window.
    """
    parents = len(keys) if dialect != "postgresql" and len(keys) <= UNION_PAGES_MAX else 0
    statement = product_pages_by_category(conditions, keyset, window, dialect, parents, columns)
    return statement, {parent_param(index): key for index, key in enumerate(keys[:parents])}


@lru_cache(maxsize=256)
def product_pages_by_category(
    conditions: ProductConditions,
    keyset: Keyset,
    window: Window,
    dialect: str,
    parents: int = 0,
    columns: frozenset[str] | None = None,
) -> Select[Any]:
    """The statement of `category_pages`: LATERAL on PostgreSQL; on SQLite a UNION ALL of `parents` keyset
    pages (bound as parent_0, parent_1, ...), or with no `parents` ROW_NUMBER over the categories in :keys.
    The products' columns are those a query reads (see `projected`), their id and sort key always."""
    selected = projected(PRODUCT_COLUMNS, columns, "id", *keyset.column_keys())
    if dialect == "postgresql":
        trees = category_trees(dialect)
        base = select(*selected, trees.c.root_id).where(
            products.c.category_id == any_(trees.c.ids), visible_products(), *product_where(conditions)
        )
        return lateral_pages(trees, trees.c.root_id, base, keyset, window)
    if parents:
        return _union_of_pages(conditions, keyset, window, parents, selected)
    everything = products_by_category(conditions, dialect, selected)
    return partitioned_pages(everything, everything.selected_columns.root_id, keyset, window)


def _union_of_pages(
    conditions: ProductConditions, keyset: Keyset, window: Window, parents: int, selected: tuple[Any, ...]
) -> Select[Any]:
    """One keyset page per category, in a UNION ALL, ordered by category then position in the window."""
    pages = []
    for index in range(parents):
        parent = bindparam(parent_param(index), type_=categories.c.id.type)
        tree = category_subtree(categories.c.id == parent, name=f"category_tree_{index}")
        page = select(*selected, parent.label("parent_key")).where(
            products.c.category_id.in_(select(tree.c.id)), visible_products(), *product_where(conditions)
        )
        if window.cursor is not None:
            page = page.where(keyset.beyond(window.cursor, window.forward))
        # SQLite takes ORDER BY and LIMIT in a compound SELECT's terms only inside a subquery
        limited = page.order_by(*keyset.order_by(window.forward)).limit(window.fetch).subquery(f"page_{index}")
        pages.append(select(limited))
    every = union_all(*pages).subquery("pages")
    return select(every).order_by(every.c.parent_key, *keyset.order_by(window.forward, within=every))


def category_trees(dialect: str) -> Subquery:
    """A subquery of (root_id, ids): each category with the array of its subtree's ids, itself included.

    An array per category keeps the subtree test a cheap filter on each product the page reads.
    """
    tree = _subtrees_of_keys(dialect)
    return (
        select(tree.c.root_id, func.array_agg(tree.c.id).label("ids"))
        .group_by(tree.c.root_id)
        .subquery("category_trees")
    )


@lru_cache(maxsize=256)
def product_count_by_category(conditions: ProductConditions, dialect: str) -> Select[Any]:
    """(root_id, count) of visible products under each category, subcategories included."""
    tree = _subtrees_of_keys(dialect)
    return (
        select(tree.c.root_id, func.count().label("count"))
        .select_from(products)
        .join(tree, tree.c.id == products.c.category_id)
        .where(visible_products(), *product_where(conditions))
        .group_by(tree.c.root_id)
    )


@lru_cache(maxsize=256)
def categories_with_ancestors(dialect: str, columns: frozenset[str] | None = None) -> Select[Any]:
    """The categories with the given ids and every ancestor of theirs, in one recursive statement, with the
    columns a query reads (see `projected`), their id and parent always."""
    selected = projected(CATEGORY_COLUMNS, columns, "id", "parent_id")
    names = [column.key for column in selected]
    chain = select(*selected).where(keys_in(categories.c.id, dialect)).cte("category_chain", recursive=True)
    parent = categories.alias("parent")
    chain = chain.union_all(select(*(parent.c[name] for name in names)).join(chain, chain.c.parent_id == parent.c.id))
    return select(chain).distinct()


@cache
def variant_aggregates(dialect: str) -> Select[Any]:
    """Per product: lowest and highest variant price and the number of variants in stock."""
    in_stock = func.sum(case((variants.c.stock_quantity > 0, 1), else_=0))
    return (
        select(
            variants.c.product_id,
            func.min(variants.c.price).label("min_price"),
            func.max(variants.c.price).label("max_price"),
            in_stock.label("in_stock"),
        )
        .where(keys_in(variants.c.product_id, dialect))
        .group_by(variants.c.product_id)
    )


@cache
def rating_aggregates(dialect: str) -> Select[Any]:
    """Per product: the average rating and the number of reviews."""
    return (
        select(
            reviews.c.product_id,
            func.avg(reviews.c.rating).label("average"),
            func.count().label("count"),
        )
        .where(keys_in(reviews.c.product_id, dialect))
        .group_by(reviews.c.product_id)
    )


def review_select() -> Select[Any]:
    """Reviews of visible products with their author's public display name joined in."""
    return (
        select(*REVIEW_COLUMNS)
        .join(customers, customers.c.id == reviews.c.customer_id)
        .join(products, products.c.id == reviews.c.product_id)
        .where(visible_products())
    )


def variant_select(columns: frozenset[str] | None = None) -> Select[Any]:
    """Variants of visible products, with the columns a query reads (see `projected`)."""
    selected = _variant_columns(columns)
    return select(*selected).join(products, products.c.id == variants.c.product_id).where(visible_products())


def _variant_columns(columns: frozenset[str] | None) -> tuple[Any, ...]:
    return projected(VARIANT_COLUMNS, columns, "id", "product_id")


def image_select() -> Select[Any]:
    """Images of visible products."""
    return select(*IMAGE_COLUMNS).join(products, products.c.id == images.c.product_id).where(visible_products())


@cache
def first_images(dialect: str) -> Select[Any]:
    """The first `:count` images of each product, by position, in one windowed statement."""
    position = func.row_number().over(partition_by=images.c.product_id, order_by=(images.c.position, images.c.id))
    ranked = (
        select(*IMAGE_COLUMNS, position.label("image_rank")).where(keys_in(images.c.product_id, dialect)).subquery()
    )
    return (
        select(ranked)
        .where(ranked.c.image_rank <= bindparam("count"))
        .order_by(ranked.c.product_id, ranked.c.image_rank)
    )


@lru_cache(maxsize=256)
def categories_by(column: str, dialect: str, columns: frozenset[str] | None = None) -> Select[Any]:
    """Categories whose `column` (id, slug or parent_id) is one of the keys, by position, with the columns a
    query reads (see `projected`)."""
    return (
        select(*projected(CATEGORY_COLUMNS, columns, "id", "parent_id", column))
        .where(keys_in(categories.c[column], dialect))
        .order_by(categories.c.position, categories.c.id)
    )


@lru_cache(maxsize=256)
def products_by(column: str, dialect: str, columns: frozenset[str] | None = None) -> Select[Any]:
    """Visible products whose `column` (id or slug) is one of the keys, with the columns a query reads."""
    return product_select(columns, column).where(keys_in(products.c[column], dialect))


@lru_cache(maxsize=256)
def variants_by(column: str, dialect: str, columns: frozenset[str] | None = None) -> Select[Any]:
    """Variants whose `column` (id or product_id) is one of the keys, by product and position, with the
    columns a query reads (see `projected`).

    By id, only variants of visible products; by product, the product's visibility was checked already.
    """
    base = (
        variant_select(columns) if column == "id" else select(*projected(VARIANT_COLUMNS, columns, "id", "product_id"))
    )
    return base.where(keys_in(variants.c[column], dialect)).order_by(
        variants.c.product_id, variants.c.position, variants.c.id
    )


@cache
def images_by_id(dialect: str) -> Select[Any]:
    """Images of visible products with one of the keys as id."""
    return image_select().where(keys_in(images.c.id, dialect))


@cache
def reviews_by_id(dialect: str) -> Select[Any]:
    """Reviews of visible products with one of the keys as id."""
    return review_select().where(keys_in(reviews.c.id, dialect))


@lru_cache(maxsize=256)
def review_pages(window: Window, dialect: str) -> Select[Any]:
    """The same window of each product's reviews, newest first, with the product as `parent_key`."""
    base = review_select().where(keys_in(reviews.c.product_id, dialect))
    return partitioned_pages(base, reviews.c.product_id, REVIEW_ORDER, window)


@lru_cache(maxsize=256)
def review_pages_by_customer(window: Window, dialect: str) -> Select[Any]:
    """The same window of each customer's reviews (of visible products), newest first, the customer as
    `parent_key`."""
    base = review_select().where(keys_in(reviews.c.customer_id, dialect))
    return partitioned_pages(base, reviews.c.customer_id, REVIEW_ORDER, window)


@cache
def review_counts_by_customer(dialect: str) -> Select[Any]:
    """How many reviews of visible products each customer wrote (customers without any are absent)."""
    visible = review_select().where(keys_in(reviews.c.customer_id, dialect)).subquery()
    return select(visible.c.customer_id.label("key"), func.count().label("count")).group_by(visible.c.customer_id)
