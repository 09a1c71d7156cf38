"""Lookups and object fields: product, category, node and nodes, Category relations, Product fields, reviews
and images.

Expected bodies are built in Python from rows read straight from the database with SQLAlchemy Core, and whole
response bodies are compared. Only ACTIVE products (and what hangs off them) may be seen anywhere.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.accounts.models import Customer
from app.catalog.models import Category, Product, ProductImage, ProductVariant, Review
from app.db.ids import encode_global_id
from tests import conftest
from tests.conftest import Api, serve
from tests.helpers import b64, field_location, post, utc

IMAGE_FIELDS = "id altText width height url sized: url(width: 320, height: 240)"
PRODUCT_FIELDS = f"""
fragment ProductFields on Product {{
  id slug title description vendor tags createdAt updatedAt
  category {{ id slug name }}
  variants {{
    id sku title selectedOptions {{ name value }} quantityAvailable availableForSale
    price {{ amount currencyCode }} compareAtPrice {{ amount currencyCode }} product {{ id }}
  }}
  priceRange {{ minVariantPrice {{ amount currencyCode }} maxVariantPrice {{ amount currencyCode }} }}
  availableForSale
  featuredImage {{ {IMAGE_FIELDS} }}
  images(first: 3) {{ {IMAGE_FIELDS} }}
}}
"""
ALL_PRODUCTS = "{ products(first: 100) { nodes { ...ProductFields } } }" + PRODUCT_FIELDS
PRODUCT_BY_SLUG = "query ($slug: String) { product(slug: $slug) { ...ProductFields } }" + PRODUCT_FIELDS
PRODUCT_BY_ID = "query ($id: ID) { product(id: $id) { ...ProductFields } }" + PRODUCT_FIELDS
PRODUCT_LOOKUP = "query ($id: ID, $slug: String) { product(id: $id, slug: $slug) { id slug } }"
ALL_RATINGS = "{ products(first: 100) { nodes { id rating { average count } } } }"
RATING_BY_SLUG = "query ($slug: String) { product(slug: $slug) { rating { average count } } }"
ALL_IMAGES = "query ($id: ID) { product(id: $id) { images(first: 50) { id } } }"
IMAGES_WINDOW = "query ($id: ID, $first: Int!) { product(id: $id) { images(first: $first) { id } } }"
IMAGE_URL = """
query ($id: ID, $width: Int, $height: Int) {
  product(id: $id) { featuredImage { url(width: $width, height: $height) } }
}
"""

NODE = """
query ($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Category { slug name parent { id } }
    ... on Product { slug title }
    ... on ProductVariant { sku price { amount } product { id } }
    ... on Image { altText width height }
    ... on Review { rating title author { displayName } }
  }
}
"""
NODES = "query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"

ALL_CATEGORIES = """
{
  categories(first: 100) {
    totalCount
    nodes {
      id slug name description position
      parent { id }
      children { id }
      products(first: 3) { totalCount nodes { id } pageInfo { hasNextPage hasPreviousPage } }
    }
  }
}
"""
TOP_LEVEL_CATEGORIES = "{ categories(first: 100, topLevel: true) { totalCount nodes { id slug } } }"
DEFAULT_CATEGORIES = "{ categories { nodes { id } pageInfo { hasNextPage hasPreviousPage } } }"
CATEGORY_PAGE = """
query ($first: Int, $after: String, $last: Int, $before: String) {
  categories(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
CATEGORY_BY_SLUG = "query ($slug: String) { category(slug: $slug) { id slug } }"
CATEGORY_BY_ID = "query ($id: ID) { category(id: $id) { id slug } }"
BREADCRUMB = "query ($slug: String) { category(slug: $slug) { slug parent { slug parent { slug parent { slug } } } } }"
CATEGORY_PRODUCTS = """
query (
  $slug: String, $first: Int, $after: String, $last: Int, $before: String, $filter: ProductFilter,
  $sortKey: ProductSortKeys! = ID, $reverse: Boolean! = false
) {
  category(slug: $slug) {
    products(
      first: $first, after: $after, last: $last, before: $before, filter: $filter,
      sortKey: $sortKey, reverse: $reverse
    ) {
      totalCount
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""

REVIEW_FIELDS = "id rating title body createdAt author { displayName }"
REVIEW_PAGE = f"""
query ($id: ID, $first: Int, $after: String, $last: Int, $before: String) {{
  product(id: $id) {{
    reviews(first: $first, after: $after, last: $last, before: $before) {{
      totalCount
      edges {{ cursor node {{ {REVIEW_FIELDS} }} }}
      pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
    }}
  }}
}}
"""
EVERY_PRODUCTS_REVIEWS = """
{
  products(first: 100) {
    nodes { id reviews(first: 2) { totalCount nodes { id } pageInfo { hasNextPage hasPreviousPage } } }
  }
}
"""

MAX_WALK_PAGES = 60
CURRENCY = "USD"


# --- Rows read straight from the database ----------------------------------------------------------------


@dataclass(frozen=True)
class CatalogRows:
    """Every row of the seeded catalog, as plain dicts ordered by id."""

    categories: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    products: list[dict[str, Any]]
    variants: list[dict[str, Any]]
    images: list[dict[str, Any]]
    reviews: list[dict[str, Any]]

    @property
    def visible(self) -> list[dict[str, Any]]:
        return [product for product in self.products if product["status"] == "ACTIVE"]

    @property
    def hidden(self) -> list[dict[str, Any]]:
        return [product for product in self.products if product["status"] != "ACTIVE"]

    def category(self, category_id: int) -> dict[str, Any]:
        return next(category for category in self.categories if category["id"] == category_id)

    def category_by_slug(self, slug: str) -> dict[str, Any]:
        return next(category for category in self.categories if category["slug"] == slug)

    def children(self, category_id: int) -> list[dict[str, Any]]:
        found = [category for category in self.categories if category["parent_id"] == category_id]
        return sorted(found, key=lambda category: (category["position"], category["id"]))

    def subtree(self, category_id: int) -> set[int]:
        found = {category_id}
        for child in self.children(category_id):
            found |= self.subtree(child["id"])
        return found

    def products_under(self, category_id: int) -> list[int]:
        """Visible products in the category or below it, by id."""
        tree = self.subtree(category_id)
        return [product["id"] for product in self.visible if product["category_id"] in tree]

    def variants_of(self, product_id: int) -> list[dict[str, Any]]:
        found = [variant for variant in self.variants if variant["product_id"] == product_id]
        return sorted(found, key=lambda variant: (variant["position"], variant["id"]))

    def images_of(self, product_id: int) -> list[dict[str, Any]]:
        found = [image for image in self.images if image["product_id"] == product_id]
        return sorted(found, key=lambda image: (image["position"], image["id"]))

    def reviews_of(self, product_id: int) -> list[dict[str, Any]]:
        """A product's reviews, newest first (ties by id, highest first)."""
        found = [review for review in self.reviews if review["product_id"] == product_id]
        return sorted(found, key=lambda review: (utc(review["created_at"]), review["id"]), reverse=True)

    def author(self, review: dict[str, Any]) -> str:
        return next(c["display_name"] for c in self.customers if c["id"] == review["customer_id"])

    def most_reviewed(self) -> dict[str, Any]:
        return max(self.visible, key=lambda product: (len(self.reviews_of(product["id"])), -product["id"]))


TABLES = (Category, Customer, Product, ProductVariant, ProductImage, Review)


@pytest.fixture(scope="session")
async def rows(catalog_url: str) -> CatalogRows:
    """The seeded catalog's rows, read once per backend with SQLAlchemy Core."""
    engine = create_async_engine(catalog_url)
    try:
        async with engine.connect() as connection:
            loaded = []
            for model in TABLES:
                table = model.__table__
                result = await connection.execute(select(table).order_by(table.c.id))
                loaded.append([dict(row._mapping) for row in result])
    finally:
        await engine.dispose()
    return CatalogRows(*loaded)


# --- Expected views --------------------------------------------------------------------------------------


def gid(type_name: str, pk: int) -> str:
    return encode_global_id(type_name, pk)


def timestamp(value: datetime) -> str:
    return utc(value).isoformat()


def money(amount: Decimal | None) -> dict[str, str] | None:
    return None if amount is None else {"amount": f"{amount:.2f}", "currencyCode": CURRENCY}


def image_view(image: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": gid("Image", image["id"]),
        "altText": image["alt_text"],
        "width": image["width"],
        "height": image["height"],
        "url": image["url"],
        "sized": f"{image['url']}?width=320&height=240",
    }


def variant_view(variant: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": gid("ProductVariant", variant["id"]),
        "sku": variant["sku"],
        "title": variant["title"],
        "selectedOptions": [{"name": o["name"], "value": o["value"]} for o in variant["selected_options"]],
        "quantityAvailable": variant["stock_quantity"],
        "availableForSale": variant["stock_quantity"] > 0,
        "price": money(variant["price"]),
        "compareAtPrice": money(variant["compare_at_price"]),
        "product": {"id": gid("Product", variant["product_id"])},
    }


def product_view(rows: CatalogRows, product: dict[str, Any]) -> dict[str, Any]:
    """Every field of PRODUCT_FIELDS, from the rows."""
    variants = rows.variants_of(product["id"])
    images = rows.images_of(product["id"])
    category = None if product["category_id"] is None else rows.category(product["category_id"])
    return {
        "id": gid("Product", product["id"]),
        "slug": product["slug"],
        "title": product["title"],
        "description": product["description"],
        "vendor": product["vendor"],
        "tags": product["tags"],
        "createdAt": timestamp(product["created_at"]),
        "updatedAt": timestamp(product["updated_at"]),
        "category": category
        and {"id": gid("Category", category["id"]), "slug": category["slug"], "name": category["name"]},
        "variants": [variant_view(variant) for variant in variants],
        "priceRange": price_range_view([variant["price"] for variant in variants]),
        "availableForSale": any(variant["stock_quantity"] > 0 for variant in variants),
        "featuredImage": image_view(images[0]) if images else None,
        "images": [image_view(image) for image in images[:3]],
    }


def price_range_view(prices: list[Decimal]) -> dict[str, Any] | None:
    if not prices:
        return None
    return {"minVariantPrice": money(min(prices)), "maxVariantPrice": money(max(prices))}


def review_view(rows: CatalogRows, review: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": gid("Review", review["id"]),
        "rating": review["rating"],
        "title": review["title"],
        "body": review["body"],
        "createdAt": timestamp(review["created_at"]),
        "author": {"displayName": rows.author(review)},
    }


def mean_rating(ratings: list[int]) -> Decimal:
    return Decimal(sum(ratings)) / Decimal(len(ratings))


def rating_view(ratings: list[int]) -> dict[str, Any]:
    """The mean to two places, halves rounded up, and the count; a null average without reviews."""
    if not ratings:
        return {"average": None, "count": 0}
    average = mean_rating(ratings).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return {"average": float(average), "count": len(ratings)}


def error(
    message: str, code: str, field: str | None, query: str, path: list[str], at: str | None = None
) -> dict[str, Any]:
    """One GraphQL error as the API formats it; `at` names the field whose `(` marks the location."""
    extensions = {"code": code} if field is None else {"code": code, "field": field}
    location = field_location(query, at or path[-1])
    return {"message": message, "locations": [location], "path": path, "extensions": extensions}


# --- Walking a connection --------------------------------------------------------------------------------


Dig = Callable[[dict[str, Any]], dict[str, Any]]


async def walk(api: Api, query: str, variables: dict[str, Any], dig: Dig, size: int, forward: bool) -> list[Any]:
    """Follow a connection's cursors until the API says no page is left; return the pages in reading order."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < MAX_WALK_PAGES:
        window = {"first": size, "after": cursor} if forward else {"last": size, "before": cursor}
        body = await api.query(query, {**variables, **window})
        assert "errors" not in body, body
        page = dig(body["data"])
        pages.append(page)
        if not page["pageInfo"]["hasNextPage" if forward else "hasPreviousPage"]:
            return pages
        cursor = page["pageInfo"]["endCursor" if forward else "startCursor"]
    raise AssertionError(f"still more pages after {MAX_WALK_PAGES}")


def expected_pages(nodes: list[Any], size: int, forward: bool, pages: list[dict[str, Any]]) -> list[Any]:
    """The pages a walk must read, with the opaque cursors of the pages actually read."""
    if forward:
        chunks = [nodes[start : start + size] for start in range(0, len(nodes), size)]
    else:
        chunks = [nodes[max(0, end - size) : end] for end in range(len(nodes), 0, -size)]
    chunks = chunks or [[]]
    read = [[edge["cursor"] for edge in page["edges"]] for page in pages] + [[]] * len(chunks)
    expected = []
    for number, chunk in enumerate(chunks):
        first, last = number == 0, number == len(chunks) - 1
        has_next, has_previous = (not last, not first) if forward else (not first, not last)
        cursors = read[number] if len(read[number]) == len(chunk) else ["?"] * len(chunk)
        expected.append(
            {
                "totalCount": len(nodes),
                "edges": [{"cursor": c, "node": node} for c, node in zip(cursors, chunk, strict=True)],
                "pageInfo": {
                    "hasNextPage": has_next,
                    "hasPreviousPage": has_previous,
                    "startCursor": cursors[0] if cursors else None,
                    "endCursor": cursors[-1] if cursors else None,
                },
            }
        )
    return expected


async def assert_walks(api: Api, query: str, variables: dict[str, Any], dig: Dig, nodes: list[Any], size: int) -> None:
    """Both directions read every node once, in order, with the right page info on every page."""
    for forward in (True, False):
        pages = await walk(api, query, variables, dig, size, forward)
        assert pages == expected_pages(nodes, size, forward, pages)
        cursors = [edge["cursor"] for page in pages for edge in page["edges"]]
        assert len(set(cursors)) == len(cursors) == len(nodes)


# --- Product fields --------------------------------------------------------------------------------------


async def test_every_visible_product_with_all_its_fields(api: Api, rows: CatalogRows) -> None:
    body = await api.query(ALL_PRODUCTS)
    assert body == {"data": {"products": {"nodes": [product_view(rows, product) for product in rows.visible]}}}


def test_the_catalog_exercises_every_product_field(rows: CatalogRows) -> None:
    # Guards for the test above: images(first: 3) cuts some lists, some variants are on sale or sold out,
    # and some amounts have zero cents (so "361.00" must not come back as "361").
    image_counts = {len(rows.images_of(product["id"])) for product in rows.visible}
    assert min(image_counts) < 3 < max(image_counts)
    variants = [variant for product in rows.visible for variant in rows.variants_of(product["id"])]
    assert {variant["compare_at_price"] is None for variant in variants} == {True, False}
    assert {variant["stock_quantity"] > 0 for variant in variants} == {True, False}
    assert any(variant["price"] % 1 == 0 for variant in variants)


@pytest.mark.parametrize("by", ["slug", "id"])
async def test_product_by_slug_and_by_id(api: Api, rows: CatalogRows, by: str) -> None:
    product = rows.most_reviewed()
    query, variables = (
        (PRODUCT_BY_SLUG, {"slug": product["slug"]})
        if by == "slug"
        else (PRODUCT_BY_ID, {"id": gid("Product", product["id"])})
    )
    assert await api.query(query, variables) == {"data": {"product": product_view(rows, product)}}


async def test_rating_average_and_count(api: Api, rows: CatalogRows) -> None:
    ratings = {product["id"]: [r["rating"] for r in rows.reviews_of(product["id"])] for product in rows.visible}
    assert min(map(len, ratings.values())) == 0 and max(map(len, ratings.values())) > 2
    nodes = [{"id": gid("Product", pk), "rating": rating_view(found)} for pk, found in ratings.items()]
    assert await api.query(ALL_RATINGS) == {"data": {"products": {"nodes": nodes}}}


async def test_images_first_fifty_lists_them_all(api: Api, rows: CatalogRows) -> None:
    product = max(rows.visible, key=lambda p: len(rows.images_of(p["id"])))
    body = await api.query(ALL_IMAGES, {"id": gid("Product", product["id"])})
    images = [{"id": gid("Image", image["id"])} for image in rows.images_of(product["id"])]
    assert len(images) > 3
    assert body == {"data": {"product": {"images": images}}}


@pytest.mark.parametrize("first", [0, 51, -1])
async def test_images_window_out_of_bounds(api: Api, rows: CatalogRows, first: int) -> None:
    body = await post(api, IMAGES_WINDOW, {"id": gid("Product", rows.visible[0]["id"]), "first": first})
    message = f"`first` must be between 1 and 50; got {first}"
    # `images` is non-null, so the error nulls the product.
    expected_error = error(message, "BAD_USER_INPUT", "first", IMAGES_WINDOW, ["product", "images"])
    assert body == {"data": {"product": None}, "errors": [expected_error]}


@pytest.mark.parametrize(
    ("width", "height", "query_string"),
    [
        (None, None, ""),
        (300, None, "?width=300"),
        (None, 200, "?height=200"),
        (1, 5000, "?width=1&height=5000"),
    ],
)
async def test_image_url_sizes(
    api: Api, rows: CatalogRows, width: int | None, height: int | None, query_string: str
) -> None:
    product = rows.visible[0]
    image = rows.images_of(product["id"])[0]
    body = await api.query(IMAGE_URL, {"id": gid("Product", product["id"]), "width": width, "height": height})
    assert body == {"data": {"product": {"featuredImage": {"url": image["url"] + query_string}}}}


@pytest.mark.parametrize(
    ("size", "message", "field"),
    [
        ({"width": 0}, "`width` must be between 1 and 5000; got 0", "width"),
        ({"height": 5001}, "`height` must be between 1 and 5000; got 5001", "height"),
        ({"width": 10, "height": -5}, "`height` must be between 1 and 5000; got -5", "height"),
    ],
)
async def test_image_url_size_out_of_bounds(
    api: Api, rows: CatalogRows, size: dict[str, int], message: str, field: str
) -> None:
    body = await post(api, IMAGE_URL, {"id": gid("Product", rows.visible[0]["id"]), **size})
    expected_error = error(message, "BAD_USER_INPUT", field, IMAGE_URL, ["product", "featuredImage", "url"])
    assert body == {"data": {"product": {"featuredImage": None}}, "errors": [expected_error]}


# --- Reviews ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 3, 100])
async def test_reviews_newest_first_both_ways(api: Api, rows: CatalogRows, size: int) -> None:
    product = rows.most_reviewed()
    reviews = [review_view(rows, review) for review in rows.reviews_of(product["id"])]
    assert len(reviews) > 3
    variables = {"id": gid("Product", product["id"])}
    await assert_walks(api, REVIEW_PAGE, variables, lambda data: data["product"]["reviews"], reviews, size)


async def test_a_product_without_reviews(api: Api, rows: CatalogRows) -> None:
    product = next(p for p in rows.visible if not rows.reviews_of(p["id"]))
    body = await api.query(REVIEW_PAGE, {"id": gid("Product", product["id"]), "first": 5})
    empty_info = {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}
    assert body == {"data": {"product": {"reviews": {"totalCount": 0, "edges": [], "pageInfo": empty_info}}}}


async def test_reviews_of_every_product_in_one_query(api: Api, rows: CatalogRows) -> None:
    nodes = []
    for product in rows.visible:
        reviews = rows.reviews_of(product["id"])
        page = {
            "totalCount": len(reviews),
            "nodes": [{"id": gid("Review", review["id"])} for review in reviews[:2]],
            "pageInfo": {"hasNextPage": len(reviews) > 2, "hasPreviousPage": False},
        }
        nodes.append({"id": gid("Product", product["id"]), "reviews": page})
    assert await api.query(EVERY_PRODUCTS_REVIEWS) == {"data": {"products": {"nodes": nodes}}}


@pytest.mark.parametrize(
    ("window", "message", "field"),
    [
        ({"first": 101}, "`first` must be between 1 and 100; got 101", "first"),
        ({"last": 0}, "`last` must be between 1 and 100; got 0", "last"),
        ({"first": 2, "before": "x"}, "`before` goes with `last`; use `after` with `first`", "before"),
        ({"first": 2, "after": "x"}, "Invalid cursor: 'x'", "after"),
    ],
)
async def test_reviews_bad_windows(
    api: Api, rows: CatalogRows, window: dict[str, Any], message: str, field: str
) -> None:
    body = await post(api, REVIEW_PAGE, {"id": gid("Product", rows.most_reviewed()["id"]), **window})
    expected_error = error(message, "BAD_USER_INPUT", field, REVIEW_PAGE, ["product", "reviews"])
    assert body == {"data": {"product": None}, "errors": [expected_error]}


# --- product(id:, slug:) ---------------------------------------------------------------------------------


def lookup_error(message: str, code: str, field: str, query: str = PRODUCT_LOOKUP) -> dict[str, Any]:
    return {"data": {"product": None}, "errors": [error(message, code, field, query, ["product"])]}


async def test_a_missing_product_is_null_without_an_error(api: Api) -> None:
    # An error would make clients drop the whole response (Apollo's default policy); Relay's node does the same.
    assert await post(api, PRODUCT_LOOKUP, {"slug": "no-such-product"}) == {"data": {"product": None}}
    missing_id = gid("Product", 2**31 - 1)
    assert await post(api, PRODUCT_LOOKUP, {"id": missing_id}) == {"data": {"product": None}}


async def test_hidden_products_are_null_by_slug_or_id(api: Api, rows: CatalogRows) -> None:
    assert {product["status"] for product in rows.hidden} == {"DRAFT", "ARCHIVED"}
    for product in rows.hidden:
        by_slug = await post(api, PRODUCT_LOOKUP, {"slug": product["slug"]})
        assert by_slug == {"data": {"product": None}}
        by_id = await post(api, PRODUCT_LOOKUP, {"id": gid("Product", product["id"])})
        assert by_id == {"data": {"product": None}}


@pytest.mark.parametrize(
    "variables",
    [{}, {"id": None, "slug": None}, {"id": gid("Product", 1), "slug": "anything"}],
    ids=["neither", "both null", "both"],
)
async def test_product_takes_exactly_one_of_id_and_slug(api: Api, variables: dict[str, Any]) -> None:
    body = await post(api, PRODUCT_LOOKUP, variables)
    assert body == lookup_error("Pass exactly one of `id` and `slug`", "BAD_USER_INPUT", "id")


@pytest.mark.parametrize("type_name", ["Category", "ProductVariant", "Review"])
async def test_product_by_an_id_of_another_type(api: Api, type_name: str) -> None:
    other = gid(type_name, 1)
    body = await post(api, PRODUCT_LOOKUP, {"id": other})
    message = f"Expected a Product ID, got a {type_name} ID: {other!r}"
    assert body == lookup_error(message, "BAD_USER_INPUT", "id")


MALFORMED_IDS = {
    "not base64": "not an id!",
    "empty": "",
    "no type": b64("12"),
    "unknown type": b64("Widget:1"),
    "pk not a number": b64("Product:abc"),
    "pk zero": b64("Product:0"),
    "pk negative": b64("Product:-1"),
    "pk with a leading zero": b64("Product:01"),
    "pk with a sign": b64("Product:+1"),
    "too long": "A" * 201,
}


@pytest.mark.parametrize("bad_id", MALFORMED_IDS.values(), ids=MALFORMED_IDS.keys())
async def test_malformed_ids_are_bad_input(api: Api, bad_id: str) -> None:
    # A missing entity is null, but an ID that names nothing at all is still the client's error.
    message = f"Malformed global ID: {bad_id[:200]!r}"
    body = await post(api, PRODUCT_LOOKUP, {"id": bad_id})
    assert body == lookup_error(message, "BAD_USER_INPUT", "id")
    category = await post(api, CATEGORY_BY_ID, {"id": bad_id})
    category_error = error(message, "BAD_USER_INPUT", "id", CATEGORY_BY_ID, ["category"])
    assert category == {"data": {"category": None}, "errors": [category_error]}
    node = await post(api, NODE, {"id": bad_id})
    expected_error = error(message, "BAD_USER_INPUT", "id", NODE, ["node"])
    assert node == {"data": {"node": None}, "errors": [expected_error]}


# --- node and nodes --------------------------------------------------------------------------------------


def node_view(rows: CatalogRows, type_name: str, row: dict[str, Any]) -> dict[str, Any]:
    """What NODE selects for a row of each type."""
    common = {"__typename": type_name, "id": gid(type_name, row["id"])}
    if type_name == "Category":
        parent = None if row["parent_id"] is None else {"id": gid("Category", row["parent_id"])}
        return {**common, "slug": row["slug"], "name": row["name"], "parent": parent}
    if type_name == "Product":
        return {**common, "slug": row["slug"], "title": row["title"]}
    if type_name == "ProductVariant":
        return {
            **common,
            "sku": row["sku"],
            "price": {"amount": f"{row['price']:.2f}"},
            "product": {"id": gid("Product", row["product_id"])},
        }
    if type_name == "Image":
        return {**common, "altText": row["alt_text"], "width": row["width"], "height": row["height"]}
    return {**common, "rating": row["rating"], "title": row["title"], "author": {"displayName": rows.author(row)}}


def visible_rows(rows: CatalogRows, type_name: str) -> list[dict[str, Any]]:
    """Rows of a node type that the API shows: everything but products that are not ACTIVE and their parts."""
    shown = {product["id"] for product in rows.visible}
    return {
        "Category": rows.categories,
        "Product": rows.visible,
        "ProductVariant": [variant for variant in rows.variants if variant["product_id"] in shown],
        "Image": [image for image in rows.images if image["product_id"] in shown],
        "Review": [review for review in rows.reviews if review["product_id"] in shown],
    }[type_name]


NODE_TYPES = ("Category", "Product", "ProductVariant", "Image", "Review")


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_node_of_every_type(api: Api, rows: CatalogRows, type_name: str) -> None:
    candidates = visible_rows(rows, type_name)
    for row in (candidates[0], candidates[len(candidates) // 2], candidates[-1]):
        body = await api.query(NODE, {"id": gid(type_name, row["id"])})
        assert body == {"data": {"node": node_view(rows, type_name, row)}}


async def test_hidden_products_and_their_parts_are_not_nodes(api: Api, rows: CatalogRows) -> None:
    for product in rows.hidden:
        ids = [gid("Product", product["id"])]
        ids += [gid("ProductVariant", variant["id"]) for variant in rows.variants_of(product["id"])]
        ids += [gid("Image", image["id"]) for image in rows.images_of(product["id"])]
        ids += [gid("Review", review["id"]) for review in rows.reviews_of(product["id"])]
        assert await api.query(NODES, {"ids": ids}) == {"data": {"nodes": [None] * len(ids)}}
        assert await api.query(NODE, {"id": ids[0]}) == {"data": {"node": None}}
    assert any(rows.reviews_of(product["id"]) for product in rows.hidden)


async def test_nodes_keeps_order_and_gives_null_for_missing(api: Api, rows: CatalogRows) -> None:
    hidden, product = rows.hidden[0], rows.visible[-1]
    asked = [
        ("Review", visible_rows(rows, "Review")[-1]["id"]),
        ("Product", product["id"]),
        ("Product", 99_999),
        ("Category", rows.categories[-1]["id"]),
        ("Product", hidden["id"]),
        ("ProductVariant", rows.variants_of(product["id"])[-1]["id"]),
        ("Category", 99_999),
        ("Image", rows.images_of(product["id"])[0]["id"]),
        ("Product", product["id"]),
    ]
    body = await api.query(NODES, {"ids": [gid(type_name, pk) for type_name, pk in asked]})
    shown = {type_name: {row["id"] for row in visible_rows(rows, type_name)} for type_name in NODE_TYPES}
    expected = [
        {"__typename": type_name, "id": gid(type_name, pk)} if pk in shown[type_name] else None
        for type_name, pk in asked
    ]
    assert expected.count(None) == 3
    assert body == {"data": {"nodes": expected}}


async def test_nodes_takes_at_most_a_hundred_ids(api: Api, rows: CatalogRows) -> None:
    product_id = gid("Product", rows.visible[0]["id"])
    hundred = await api.query(NODES, {"ids": [product_id] * 100})
    assert hundred == {"data": {"nodes": [{"__typename": "Product", "id": product_id}] * 100}}
    body = await post(api, NODES, {"ids": [product_id] * 101})
    expected_error = error("`nodes` takes at most 100 IDs; got 101", "BAD_USER_INPUT", "ids", NODES, ["nodes"])
    assert body == {"data": None, "errors": [expected_error]}


async def test_a_missing_node_is_null(api: Api) -> None:
    assert await api.query(NODE, {"id": gid("Review", 99_999)}) == {"data": {"node": None}}


# --- Categories ------------------------------------------------------------------------------------------


def by_position(categories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(categories, key=lambda category: (category["position"], category["id"]))


def category_view(rows: CatalogRows, category: dict[str, Any]) -> dict[str, Any]:
    """What ALL_CATEGORIES selects for one category."""
    products = rows.products_under(category["id"])
    parent = None if category["parent_id"] is None else {"id": gid("Category", category["parent_id"])}
    return {
        "id": gid("Category", category["id"]),
        "slug": category["slug"],
        "name": category["name"],
        "description": category["description"],
        "position": category["position"],
        "parent": parent,
        "children": [{"id": gid("Category", child["id"])} for child in rows.children(category["id"])],
        "products": {
            "totalCount": len(products),
            "nodes": [{"id": gid("Product", pk)} for pk in products[:3]],
            "pageInfo": {"hasNextPage": len(products) > 3, "hasPreviousPage": False},
        },
    }


async def test_every_category_with_parent_children_and_products(api: Api, rows: CatalogRows) -> None:
    categories = [category_view(rows, category) for category in by_position(rows.categories)]
    body = await api.query(ALL_CATEGORIES)
    assert body == {"data": {"categories": {"totalCount": len(rows.categories), "nodes": categories}}}


async def test_top_level_categories(api: Api, rows: CatalogRows) -> None:
    roots = by_position([category for category in rows.categories if category["parent_id"] is None])
    assert 1 < len(roots) < len(rows.categories)
    nodes = [{"id": gid("Category", category["id"]), "slug": category["slug"]} for category in roots]
    body = await api.query(TOP_LEVEL_CATEGORIES)
    assert body == {"data": {"categories": {"totalCount": len(roots), "nodes": nodes}}}


async def test_categories_default_to_twenty(api: Api, rows: CatalogRows) -> None:
    nodes = [{"id": gid("Category", category["id"])} for category in by_position(rows.categories)[:20]]
    info = {"hasNextPage": len(rows.categories) > 20, "hasPreviousPage": False}
    assert info["hasNextPage"]
    assert await api.query(DEFAULT_CATEGORIES) == {"data": {"categories": {"nodes": nodes, "pageInfo": info}}}


async def test_categories_page_both_ways(api: Api, rows: CatalogRows) -> None:
    nodes = [{"id": gid("Category", category["id"])} for category in by_position(rows.categories)]
    await assert_walks(api, CATEGORY_PAGE, {}, lambda data: data["categories"], nodes, 9)


async def test_a_forged_category_cursor_is_invalid(api: Api) -> None:
    # A position that is not a number reached PostgreSQL and failed there before cursor values were parsed.
    cursor = base64.urlsafe_b64encode(b'["POSITION","first",1]').decode().rstrip("=")
    body = await post(api, CATEGORY_PAGE, {"first": 2, "after": cursor})
    expected_error = error(f"Invalid cursor: {cursor!r}", "BAD_USER_INPUT", "after", CATEGORY_PAGE, ["categories"])
    assert body == {"data": None, "errors": [expected_error]}


@pytest.mark.parametrize("by", ["slug", "id"])
async def test_category_by_slug_and_by_id(api: Api, rows: CatalogRows, by: str) -> None:
    category = rows.categories[len(rows.categories) // 2]
    query, variables = (
        (CATEGORY_BY_SLUG, {"slug": category["slug"]})
        if by == "slug"
        else (CATEGORY_BY_ID, {"id": gid("Category", category["id"])})
    )
    expected = {"id": gid("Category", category["id"]), "slug": category["slug"]}
    assert await api.query(query, variables) == {"data": {"category": expected}}


async def test_a_missing_category_is_null_without_an_error(api: Api) -> None:
    assert await post(api, CATEGORY_BY_SLUG, {"slug": "no-such-category"}) == {"data": {"category": None}}
    missing_id = gid("Category", 2**31 - 1)
    assert await post(api, CATEGORY_BY_ID, {"id": missing_id}) == {"data": {"category": None}}


async def test_category_lookup_errors(api: Api) -> None:
    neither = await post(api, CATEGORY_BY_SLUG, {"slug": None})
    neither_error = error("Pass exactly one of `id` and `slug`", "BAD_USER_INPUT", "id", CATEGORY_BY_SLUG, ["category"])
    assert neither == {"data": {"category": None}, "errors": [neither_error]}
    product_id = gid("Product", 1)
    wrong_type = await post(api, CATEGORY_BY_ID, {"id": product_id})
    message = f"Expected a Category ID, got a Product ID: {product_id!r}"
    assert wrong_type == {
        "data": {"category": None},
        "errors": [error(message, "BAD_USER_INPUT", "id", CATEGORY_BY_ID, ["category"])],
    }


async def test_breadcrumb_up_the_tree(api: Api, rows: CatalogRows) -> None:
    leaf = next(c for c in rows.categories if c["parent_id"] and rows.category(c["parent_id"])["parent_id"])
    chain = ancestry(rows, leaf)
    assert len(chain) == 3
    body = await api.query(BREADCRUMB, {"slug": leaf["slug"]})
    assert body == {"data": {"category": nest(chain)}}


def ancestry(rows: CatalogRows, category: dict[str, Any]) -> list[dict[str, Any]]:
    """The category, its parent, its grandparent... up to the top of the tree."""
    chain = [category]
    while chain[-1]["parent_id"] is not None:
        chain.append(rows.category(chain[-1]["parent_id"]))
    return chain


def nest(chain: list[dict[str, Any]]) -> dict[str, Any]:
    """{"slug": leaf, "parent": {"slug": parent, "parent": ...}}, ending with a null parent at the top."""
    return {"slug": chain[0]["slug"], "parent": None if len(chain) == 1 else nest(chain[1:])}


@pytest.mark.parametrize(("sort_key", "reverse"), [("ID", False), ("PRICE", False), ("BEST_RATED", True)])
async def test_category_products_page_both_ways(api: Api, rows: CatalogRows, sort_key: str, reverse: bool) -> None:
    department = max(
        (c for c in rows.categories if c["parent_id"] is None), key=lambda c: len(rows.products_under(c["id"]))
    )
    ids = sorted_products(rows, rows.products_under(department["id"]), sort_key, reverse)
    assert len(ids) > 6
    nodes = [{"id": gid("Product", pk)} for pk in ids]
    variables = {"slug": department["slug"], "sortKey": sort_key, "reverse": reverse}
    await assert_walks(api, CATEGORY_PRODUCTS, variables, lambda data: data["category"]["products"], nodes, 3)


def sorted_products(rows: CatalogRows, ids: list[int], sort_key: str, reverse: bool) -> list[int]:
    """Product ids in a sort key's order: (value, id), BEST_RATED descending, reverse flips."""
    products = [product for product in rows.visible if product["id"] in ids]
    value: dict[str, Callable[[dict[str, Any]], Any]] = {
        "ID": lambda product: 0,
        "PRICE": lambda product: min(variant["price"] for variant in rows.variants_of(product["id"])),
        "BEST_RATED": lambda product: product["rating_average"],
    }
    descending = (sort_key == "BEST_RATED") != reverse
    ordered = sorted(products, key=lambda product: (value[sort_key](product), product["id"]), reverse=descending)
    return [product["id"] for product in ordered]


async def test_category_products_with_a_filter(api: Api, rows: CatalogRows) -> None:
    department = next(c for c in rows.categories if c["parent_id"] is None)
    in_stock = [
        pk
        for pk in rows.products_under(department["id"])
        if any(variant["stock_quantity"] > 0 for variant in rows.variants_of(pk))
    ]
    variables = {"slug": department["slug"], "first": 100, "filter": {"availableForSale": True}}
    body = await api.query(CATEGORY_PRODUCTS, variables)
    page = body["data"]["category"]["products"]
    assert [page] == expected_pages([{"id": gid("Product", pk)} for pk in in_stock], 100, True, [page])
    assert 0 < len(in_stock) < len(rows.products_under(department["id"]))


async def test_category_products_refuses_a_category_filter(api: Api, rows: CatalogRows) -> None:
    variables = {"slug": rows.categories[0]["slug"], "first": 5, "filter": {"categorySlug": "apparel"}}
    body = await post(api, CATEGORY_PRODUCTS, variables)
    message = "`Category.products` is already limited to its category"
    expected_error = error(message, "BAD_USER_INPUT", "filter.category", CATEGORY_PRODUCTS, ["category", "products"])
    assert body == {"data": {"category": None}, "errors": [expected_error]}


async def test_category_listings_leave_out_hidden_products(api: Api, rows: CatalogRows) -> None:
    filed = [product for product in rows.hidden if product["category_id"] is not None]
    assert filed
    for product in filed:
        category = rows.category(product["category_id"])
        body = await api.query(CATEGORY_PRODUCTS, {"slug": category["slug"], "first": 100})
        ids = [edge["node"]["id"] for edge in body["data"]["category"]["products"]["edges"]]
        assert ids == [gid("Product", pk) for pk in rows.products_under(category["id"])]
        assert gid("Product", product["id"]) not in ids


# --- Edge cases found while writing these tests (fixed in ids.py, resolvers/ and schema/) --------------


@pytest.fixture
async def tie_api(empty_url: str) -> AsyncIterator[Api]:
    """A catalog of one product rated 5, 5, 5, 3, 3, 2, 1, 1: a mean of exactly 3.125."""
    created = datetime(2024, 1, 1, tzinfo=UTC)
    ratings = (5, 5, 5, 3, 3, 2, 1, 1)
    engine = create_async_engine(empty_url)
    try:
        async with engine.begin() as connection:
            customers = [
                {"id": n, "email": f"c{n}@example.com", "display_name": f"C{n}", "created_at": created}
                for n in range(1, len(ratings) + 1)
            ]
            await connection.execute(insert(Customer.__table__), customers)
            await connection.execute(insert(Product.__table__), [tie_product(created)])
            reviews = [
                {
                    "id": n,
                    "product_id": 1,
                    "customer_id": n,
                    "rating": rating,
                    "title": "",
                    "body": "",
                    "created_at": created + timedelta(hours=n),
                }
                for n, rating in enumerate(ratings, start=1)
            ]
            await connection.execute(insert(Review.__table__), reviews)
    finally:
        await engine.dispose()
    async with serve(conftest.settings_for(empty_url)) as running:
        yield running


def tie_product(created: datetime) -> dict[str, Any]:
    return {
        "id": 1,
        "slug": "tie",
        "title": "Tie",
        "description": "",
        "vendor": "Own",
        "category_id": None,
        "status": "ACTIVE",
        "tags": [],
        "min_price": Decimal("1.00"),
        "rating_average": Decimal("3.125"),
        "rating_count": 8,
        "created_at": created,
        "updated_at": created,
    }


async def test_rating_average_rounds_halves_up(tie_api: Api) -> None:
    # round(3.125, 2) is 3.12 (half to even); the average is rounded half up, like rating_average.
    body = await tie_api.query(RATING_BY_SLUG, {"slug": "tie"})
    assert body == {"data": {"product": {"rating": {"average": 3.13, "count": 8}}}}


async def test_an_id_beyond_the_integer_range_is_malformed(api: Api) -> None:
    # Primary keys are 32-bit: PostgreSQL's driver refused 2**31 (INTERNAL_SERVER_ERROR), SQLite said null.
    too_big = gid("Product", 2**31)
    body = await post(api, NODE, {"id": too_big})
    expected_error = error(f"Malformed global ID: {too_big!r}", "BAD_USER_INPUT", "id", NODE, ["node"])
    assert body == {"data": {"node": None}, "errors": [expected_error]}


@pytest.mark.parametrize("slug", ["tee\x00", "a" * 201], ids=["with NUL", "over-long"])
async def test_a_slug_no_row_can_have_is_null(api: Api, slug: str) -> None:
    # PostgreSQL refuses NUL in text; it used to reach the driver and come back as INTERNAL_SERVER_ERROR.
    # Such a slug is still a well-formed string: like any missing one it is null, not an error.
    assert await post(api, PRODUCT_LOOKUP, {"slug": slug}) == {"data": {"product": None}}
    assert await post(api, CATEGORY_BY_SLUG, {"slug": slug}) == {"data": {"category": None}}
