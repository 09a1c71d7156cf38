"""The root `products` connection: keyset pagination both ways, every sort order, filters and totalCount.

Every expectation is computed in Python from the rows read straight from the database with SQLAlchemy
Core (never through the API's own SQL), and whole response bodies are compared.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.catalog.models import Category, Product, ProductVariant
from app.db.ids import encode_global_id
from tests import conftest
from tests.conftest import Api, serve
from tests.helpers import b64, field_location, post, utc

PRODUCT_PAGE = """
query ProductPage(
  $first: Int, $after: String, $last: Int, $before: String, $filter: ProductFilter,
  $sortKey: ProductSortKeys! = ID, $reverse: Boolean! = false
) {
  products(
    first: $first, after: $after, last: $last, before: $before, filter: $filter,
    sortKey: $sortKey, reverse: $reverse
  ) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

PRODUCT_LIST = """
query ProductList($filter: ProductFilter, $sortKey: ProductSortKeys! = ID, $reverse: Boolean! = false) {
  products(first: 100, filter: $filter, sortKey: $sortKey, reverse: $reverse) {
    totalCount
    nodes { id }
  }
}
"""

FIRST_FIVE_IDS = "{ products(first: 5) { nodes { id } } }"
FIRST_FIVE_IDS_AND_COUNT = "{ products(first: 5) { totalCount nodes { id } } }"
DEFAULT_PAGE = "{ products { nodes { id } pageInfo { hasNextPage hasPreviousPage } } }"

SORT_KEYS = ("ID", "TITLE", "PRICE", "CREATED_AT", "BEST_RATED")
MAX_WALK_PAGES = 50


# --- Rows read straight from the database ----------------------------------------------------------------


@dataclass(frozen=True)
class CatalogRows:
    """Every category, product and variant row of the seeded catalog, as plain dicts."""

    categories: list[dict[str, Any]]
    products: list[dict[str, Any]]
    variants: list[dict[str, Any]]

    @property
    def visible(self) -> list[dict[str, Any]]:
        """The ACTIVE products, by id."""
        return [product for product in self.products if product["status"] == "ACTIVE"]

    def product(self, product_id: int) -> dict[str, Any]:
        return next(product for product in self.products if product["id"] == product_id)

    def variants_of(self, product_id: int) -> list[dict[str, Any]]:
        return [variant for variant in self.variants if variant["product_id"] == product_id]

    def subtree(self, category_id: int) -> set[int]:
        """The category and every category below it."""
        found = {category_id}
        while True:
            grown = found | {c["id"] for c in self.categories if c["parent_id"] in found}
            if grown == found:
                return found
            found = grown

    def category_by_slug(self, slug: str) -> dict[str, Any]:
        return next(category for category in self.categories if category["slug"] == slug)


@pytest.fixture(scope="session")
async def rows(catalog_url: str) -> CatalogRows:
    """The seeded catalog's rows, read once per backend with SQLAlchemy Core."""
    engine = create_async_engine(catalog_url)
    try:
        async with engine.connect() as connection:
            loaded = [
                [dict(row._mapping) for row in await connection.execute(select(table).order_by(table.c.id))]
                for table in (Category.__table__, Product.__table__, ProductVariant.__table__)
            ]
    finally:
        await engine.dispose()
    return CatalogRows(*loaded)


# --- Expectations ----------------------------------------------------------------------------------------


def gid(pk: int) -> str:
    return encode_global_id("Product", pk)


def sort_value(rows: CatalogRows, sort_key: str) -> Callable[[dict[str, Any]], Any]:
    """The value a sort key orders products by, computed from the rows (PRICE from the variants)."""
    return {
        "ID": lambda product: 0,
        "TITLE": lambda product: product["title"],
        "PRICE": lambda product: min(variant["price"] for variant in rows.variants_of(product["id"])),
        "CREATED_AT": lambda product: utc(product["created_at"]),
        "BEST_RATED": lambda product: product["rating_average"],
    }[sort_key]


def expected_order(rows: CatalogRows, sort_key: str, reverse: bool = False) -> list[int]:
    """Visible product ids in the keyset order: (value, id) ascending, BEST_RATED descending; reverse flips."""
    value = sort_value(rows, sort_key)
    descending = (sort_key == "BEST_RATED") != reverse
    ordered = sorted(rows.visible, key=lambda product: (value(product), product["id"]), reverse=descending)
    return [product["id"] for product in ordered]


def connection(ids: list[int], cursors: list[str], has_next: bool, has_previous: bool) -> dict[str, Any]:
    """The expected `products` page; cursors are opaque, so they come from the response being checked."""
    return {
        "edges": [{"cursor": cursor, "node": {"id": gid(pk)}} for pk, cursor in zip(ids, cursors, strict=True)],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def cursors_of(page: dict[str, Any]) -> list[str]:
    return [edge["cursor"] for edge in page["edges"]]


def ids_of(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in page["edges"]]


def listing(ids: list[int]) -> dict[str, Any]:
    return {"data": {"products": {"totalCount": len(ids), "nodes": [{"id": gid(pk)} for pk in ids]}}}


def bad_input(message: str, field: str, query: str = PRODUCT_PAGE) -> dict[str, Any]:
    """The whole body of a rejected `products` argument: `products` is non-null, so data is null."""
    return {
        "data": None,
        "errors": [
            {
                "message": message,
                "locations": [field_location(query, "products")],
                "path": ["products"],
                "extensions": {"code": "BAD_USER_INPUT", "field": field},
            }
        ],
    }


def forge_cursor(payload: Any) -> str:
    """A cursor as a client could forge it: base64url of any JSON."""
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


async def walk(api: Api, size: int, forward: bool, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """Follow the cursors until the API says no page is left; return every page in the order read."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < MAX_WALK_PAGES:
        window = {"first": size, "after": cursor} if forward else {"last": size, "before": cursor}
        body = await api.query(PRODUCT_PAGE, {**variables, **window})
        assert "errors" not in body, body
        page = body["data"]["products"]
        pages.append(page)
        info = page["pageInfo"]
        if not info["hasNextPage" if forward else "hasPreviousPage"]:
            return pages
        cursor = info["endCursor" if forward else "startCursor"]
    raise AssertionError(f"still more pages after {MAX_WALK_PAGES}")


def expected_walk(ids: list[int], size: int, forward: bool, pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pages a walk must read: chunks from the start (forward) or from the end (backward)."""
    if forward:
        chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
    else:
        chunks = [ids[max(0, end - size) : end] for end in range(len(ids), 0, -size)]
    got = [cursors_of(page) for page in pages] + [[]] * len(chunks)
    expected = []
    for number, chunk in enumerate(chunks):
        first, last = number == 0, number == len(chunks) - 1
        has_next, has_previous = (not last, not first) if forward else (not first, not last)
        cursors = got[number] if len(got[number]) == len(chunk) else ["?"] * len(chunk)
        expected.append(connection(chunk, cursors, has_next, has_previous))
    return expected


async def assert_walks(api: Api, ids: list[int], size: int, variables: dict[str, Any]) -> None:
    """Walk forward with `first`/`after` and backward with `last`/`before`: every id once, in order."""
    for forward in (True, False):
        pages = await walk(api, size, forward, variables)
        in_order = pages if forward else pages[::-1]
        read = [node_id for page in in_order for node_id in ids_of(page)]
        assert read == [gid(pk) for pk in ids]
        assert pages == expected_walk(ids, size, forward, pages)
        every_cursor = [cursor for page in pages for cursor in cursors_of(page)]
        assert len(set(every_cursor)) == len(every_cursor) == len(ids)


# --- Pagination ------------------------------------------------------------------------------------------


def exact_page_size(count: int) -> int:
    """The smallest page size from 5 up that divides the list, so the last page is full."""
    return next(size for size in range(5, count + 1) if count % size == 0)


@pytest.mark.parametrize("size", ["7", "exact", "100"])
async def test_walks_the_whole_list_both_ways(api: Api, rows: CatalogRows, size: str) -> None:
    # 7 leaves a short last page (checked below); "exact" ends on a full page; 100 fits all on one page.
    count = len(rows.visible)
    assert 7 < count < 100 and count % 7 != 0
    page_size = exact_page_size(count) if size == "exact" else int(size)
    await assert_walks(api, expected_order(rows, "ID"), page_size, {})


async def test_first_page_and_the_empty_page_after_the_last(api: Api, rows: CatalogRows) -> None:
    ids = expected_order(rows, "ID")
    first = await api.query(PRODUCT_PAGE, {"first": 7})
    cursors = cursors_of(first["data"]["products"])
    assert first == {"data": {"products": connection(ids[:7], cursors, True, False)}}

    last = await api.query(PRODUCT_PAGE, {"last": 1})
    end = last["data"]["products"]["pageInfo"]["endCursor"]
    assert last == {"data": {"products": connection(ids[-1:], [end], False, True)}}

    beyond = await api.query(PRODUCT_PAGE, {"first": 7, "after": end})
    assert beyond == {"data": {"products": connection([], [], False, True)}}
    before_first = await api.query(PRODUCT_PAGE, {"last": 7, "before": cursors[0]})
    assert before_first == {"data": {"products": connection([], [], True, False)}}


async def test_an_empty_result_has_no_edges_and_null_cursors(api: Api) -> None:
    body = await api.query(PRODUCT_PAGE, {"first": 10, "filter": {"vendor": "No Such Vendor"}})
    assert body == {"data": {"products": connection([], [], False, False)}}


async def test_default_page_size_is_twenty(api: Api, rows: CatalogRows) -> None:
    body = await api.query(DEFAULT_PAGE)
    nodes = [{"id": gid(pk)} for pk in expected_order(rows, "ID")[:20]]
    expected_info = {"hasNextPage": True, "hasPreviousPage": False}
    assert body == {"data": {"products": {"nodes": nodes, "pageInfo": expected_info}}}


CURSOR = forge_cursor(["ID", None, 3])


@pytest.mark.parametrize(
    ("window", "message", "field"),
    [
        ({"first": 101}, "`first` must be between 1 and 100; got 101", "first"),
        ({"first": 0}, "`first` must be between 1 and 100; got 0", "first"),
        ({"first": -1}, "`first` must be between 1 and 100; got -1", "first"),
        ({"last": 101}, "`last` must be between 1 and 100; got 101", "last"),
        ({"last": 0}, "`last` must be between 1 and 100; got 0", "last"),
        ({"first": 5, "last": 5}, "Pass either `first` or `last`, not both", "first"),
        ({"last": 5, "after": CURSOR}, "`after` goes with `first`; use `before` with `last`", "after"),
        ({"first": 5, "before": CURSOR}, "`before` goes with `last`; use `after` with `first`", "before"),
        (
            {"after": CURSOR, "before": CURSOR},
            "Pass either `after` or `before`, not both",
            "after",
        ),
    ],
)  # fmt: skip
async def test_bad_page_windows_are_rejected(api: Api, window: dict[str, Any], message: str, field: str) -> None:
    assert await post(api, PRODUCT_PAGE, window) == bad_input(message, field)


GARBAGE_CURSORS = {
    "not base64": "not a cursor!",
    "base64 of text": b64("hello world"),
    "base64 of broken JSON": b64('["ID", null, 3'),
    "JSON object": forge_cursor({"name": "ID", "id": 3}),
    "two items": forge_cursor(["ID", 3]),
    "negative id": forge_cursor(["ID", None, -3]),
    "zero id": forge_cursor(["ID", None, 0]),
    "text id": forge_cursor(["ID", None, "3"]),
    "boolean id": forge_cursor(["ID", None, True]),
    "id beyond the integer column": forge_cursor(["ID", None, 2**31]),
    "very long": "A" * 5000,
}


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS.values(), ids=GARBAGE_CURSORS.keys())
@pytest.mark.parametrize("direction", ["after", "before"])
async def test_garbage_cursors_are_invalid(api: Api, cursor: str, direction: str) -> None:
    window = {"first": 5, "after": cursor} if direction == "after" else {"last": 5, "before": cursor}
    body = await post(api, PRODUCT_PAGE, window)
    assert body == bad_input(f"Invalid cursor: {cursor[:100]!r}", direction)


FORGED_SORT_CURSORS = {
    "title not text": ("TITLE", forge_cursor(["TITLE", 12, 3])),
    "title with NUL": ("TITLE", forge_cursor(["TITLE", "a\x00b", 3])),
    "price not a number": ("PRICE", forge_cursor(["PRICE", "cheap", 3])),
    "price as a JSON number": ("PRICE", forge_cursor(["PRICE", 12.5, 3])),
    "price infinite": ("PRICE", forge_cursor(["PRICE", "Infinity", 3])),
    "price beyond NUMERIC(12, 2)": ("PRICE", forge_cursor(["PRICE", "1e400", 3])),
    "price with three places": ("PRICE", forge_cursor(["PRICE", "10.005", 3])),
    "rating beyond NUMERIC(4, 3)": ("BEST_RATED", forge_cursor(["BEST_RATED", "100", 3])),
    "timestamp not a date": ("CREATED_AT", forge_cursor(["CREATED_AT", "yesterday", 3])),
    "timestamp before year 1 in UTC": ("CREATED_AT", forge_cursor(["CREATED_AT", "0001-01-01T00:00:00+14:00", 3])),
    "timestamp after year 9999 in UTC": ("CREATED_AT", forge_cursor(["CREATED_AT", "9999-12-31T23:59:59-14:00", 3])),
}  # fmt: skip


@pytest.mark.parametrize(("sort_key", "cursor"), FORGED_SORT_CURSORS.values(), ids=FORGED_SORT_CURSORS.keys())
async def test_cursor_values_the_database_cannot_compare_are_invalid(api: Api, sort_key: str, cursor: str) -> None:
    # Each of these reached PostgreSQL and came back as an INTERNAL_SERVER_ERROR before the cursor checks.
    body = await post(api, PRODUCT_PAGE, {"first": 5, "after": cursor, "sortKey": sort_key})
    assert body == bad_input(f"Invalid cursor: {cursor!r}", "after")


@pytest.mark.parametrize(("made_for", "used_with"), [("ID", "PRICE"), ("PRICE", "TITLE"), ("BEST_RATED", "ID")])
async def test_a_cursor_from_another_sort_key_is_rejected(api: Api, made_for: str, used_with: str) -> None:
    page = await api.query(PRODUCT_PAGE, {"first": 3, "sortKey": made_for})
    cursor = page["data"]["products"]["pageInfo"]["endCursor"]
    body = await post(api, PRODUCT_PAGE, {"first": 3, "after": cursor, "sortKey": used_with})
    message = f"This cursor was made for sort key {made_for!r}, not {used_with!r}; start again without it"
    assert body == bad_input(message, "after")


async def test_a_cursor_from_the_same_key_reversed_continues_from_its_row(api: Api, rows: CatalogRows) -> None:
    # A cursor names a row of the order, so reading on with `reverse` flipped gives the rows on its other side.
    ids = expected_order(rows, "PRICE")
    page = await api.query(PRODUCT_PAGE, {"first": 10, "sortKey": "PRICE"})
    cursor = page["data"]["products"]["pageInfo"]["endCursor"]
    body = await api.query(PRODUCT_PAGE, {"first": 4, "after": cursor, "sortKey": "PRICE", "reverse": True})
    reversed_ids = ids[8::-1][:4]
    assert body == {"data": {"products": connection(reversed_ids, cursors_of(body["data"]["products"]), True, True)}}


# --- Sorting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("sort_key", SORT_KEYS)
async def test_each_sort_order_lists_every_product_in_order(
    api: Api, rows: CatalogRows, sort_key: str, reverse: bool
) -> None:
    body = await api.query(PRODUCT_LIST, {"sortKey": sort_key, "reverse": reverse})
    assert body == listing(expected_order(rows, sort_key, reverse))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("sort_key", SORT_KEYS)
async def test_each_sort_order_pages_both_ways(api: Api, rows: CatalogRows, sort_key: str, reverse: bool) -> None:
    await assert_walks(api, expected_order(rows, sort_key, reverse), 7, {"sortKey": sort_key, "reverse": reverse})


def test_best_rated_has_ties_to_page_through(rows: CatalogRows) -> None:
    # The tie-breaking walk above means something only if the seeded ratings tie across page boundaries.
    ratings = [product["rating_average"] for product in rows.visible]
    assert max(ratings.count(rating) for rating in set(ratings)) > 7


# --- Filters ---------------------------------------------------------------------------------------------


def in_stock(rows: CatalogRows, product: dict[str, Any]) -> bool:
    return any(variant["stock_quantity"] > 0 for variant in rows.variants_of(product["id"]))


def priced_within(rows: CatalogRows, product: dict[str, Any], low: str | None, high: str | None) -> bool:
    return any(
        (low is None or variant["price"] >= Decimal(low)) and (high is None or variant["price"] <= Decimal(high))
        for variant in rows.variants_of(product["id"])
    )


def has_words(product: dict[str, Any], words: str) -> bool:
    text = (product["title"].lower(), product["description"].lower())
    return all(any(word.lower() in field for field in text) for word in words.split())


def in_category(rows: CatalogRows, product: dict[str, Any], slug: str) -> bool:
    return product["category_id"] in rows.subtree(rows.category_by_slug(slug)["id"])


Predicate = Callable[[CatalogRows, dict[str, Any]], bool]
Variables = Callable[[CatalogRows], dict[str, Any]]


def a_variant_price(rows: CatalogRows) -> Decimal:
    """A real variant price: the lowest price of the median visible product."""
    prices = sorted(min(v["price"] for v in rows.variants_of(p["id"])) for p in rows.visible)
    return prices[len(prices) // 2]


def a_vendor_and_word(rows: CatalogRows) -> tuple[str, str]:
    """The vendor of the first visible product and the last word of its title."""
    product = rows.visible[0]
    return product["vendor"], product["title"].split()[-1]


def fixed(variables: dict[str, Any]) -> Variables:
    return lambda rows: variables


FILTERS: dict[str, tuple[Variables, Predicate]] = {
    "category slug, a department": (fixed({"categorySlug": "apparel"}), lambda r, p: in_category(r, p, "apparel")),
    "category slug, a middle node": (
        fixed({"categorySlug": "footwear-boots"}),
        lambda r, p: in_category(r, p, "footwear-boots"),
    ),
    "category slug, a leaf": (
        fixed({"categorySlug": "home-kitchen-cookware"}),
        lambda r, p: in_category(r, p, "home-kitchen-cookware"),
    ),
    "category slug, unknown": (fixed({"categorySlug": "no-such-category"}), lambda r, p: False),
    "two words, any case": (fixed({"query": "recycled POLYESTER"}), lambda r, p: has_words(p, "recycled POLYESTER")),
    "one word, padded": (fixed({"query": "  tee  "}), lambda r, p: has_words(p, "tee")),
    "title word and vendor word": (
        lambda r: {"query": f"{a_vendor_and_word(r)[1]} {a_vendor_and_word(r)[0].split()[0].upper()}"},
        lambda r, p: has_words(p, f"{a_vendor_and_word(r)[1]} {a_vendor_and_word(r)[0].split()[0]}"),
    ),
    "percent is literal": (fixed({"query": "sleeping%bag"}), lambda r, p: has_words(p, "sleeping%bag")),
    "underscore is literal": (fixed({"query": "sleeping_bag"}), lambda r, p: has_words(p, "sleeping_bag")),
    "a lone percent": (fixed({"query": "%"}), lambda r, p: has_words(p, "%")),
    "a lone underscore": (fixed({"query": "_"}), lambda r, p: has_words(p, "_")),
    "text with NUL": (fixed({"query": "tee\x00"}), lambda r, p: False),
    "price range": (fixed({"price": {"min": "50", "max": "100"}}), lambda r, p: priced_within(r, p, "50", "100")),
    "price minimum": (fixed({"price": {"min": "250.00"}}), lambda r, p: priced_within(r, p, "250.00", None)),
    "price maximum": (fixed({"price": {"max": "30"}}), lambda r, p: priced_within(r, p, None, "30")),
    "price exactly a variant's": (
        lambda r: {"price": {"min": str(a_variant_price(r)), "max": str(a_variant_price(r))}},
        lambda r, p: priced_within(r, p, str(a_variant_price(r)), str(a_variant_price(r))),
    ),
    "price maximum half a cent below a variant's": (
        # At the column's NUMERIC(12, 2), PostgreSQL rounded the bound up to the variant's price.
        lambda r: {"price": {"max": str(a_variant_price(r) - Decimal("0.005"))}},
        lambda r, p: priced_within(r, p, None, str(a_variant_price(r) - Decimal("0.005"))),
    ),
    "price minimum beyond NUMERIC(12, 2)": (fixed({"price": {"min": "1e20"}}), lambda r, p: False),
    "available for sale": (fixed({"availableForSale": True}), in_stock),
    "sold out": (fixed({"availableForSale": False}), lambda r, p: not in_stock(r, p)),
    "vendor, lower case": (fixed({"vendor": "fieldnote"}), lambda r, p: p["vendor"] == "Fieldnote"),
    "vendor, upper case": (fixed({"vendor": "MARLOW & CO."}), lambda r, p: p["vendor"] == "Marlow & Co."),
    "vendor, unknown": (fixed({"vendor": "Field"}), lambda r, p: False),
    "vendor with NUL": (fixed({"vendor": "Fieldnote\x00"}), lambda r, p: False),
    "category, price and stock": (
        fixed({"categorySlug": "apparel", "price": {"max": "100"}, "availableForSale": True}),
        lambda r, p: in_category(r, p, "apparel") and priced_within(r, p, None, "100") and in_stock(r, p),
    ),
    "title word and vendor": (
        lambda r: {"query": a_vendor_and_word(r)[1], "vendor": a_vendor_and_word(r)[0].lower()},
        lambda r, p: has_words(p, a_vendor_and_word(r)[1]) and p["vendor"] == a_vendor_and_word(r)[0],
    ),
}


@pytest.mark.parametrize(("product_filter", "matches"), FILTERS.values(), ids=FILTERS.keys())
@pytest.mark.parametrize("sort_key", ["ID", "PRICE"])
async def test_filters_and_total_count(
    api: Api, rows: CatalogRows, product_filter: Variables, matches: Predicate, sort_key: str
) -> None:
    expected = [pk for pk in expected_order(rows, sort_key) if matches(rows, rows.product(pk))]
    body = await api.query(PRODUCT_LIST, {"filter": product_filter(rows), "sortKey": sort_key})
    assert body == listing(expected)


EMPTY_BY_DESIGN = {
    "category slug, unknown",
    "percent is literal",
    "underscore is literal",
    "a lone percent",
    "a lone underscore",
    "text with NUL",
    "price minimum beyond NUMERIC(12, 2)",
    "vendor, unknown",
    "vendor with NUL",
}


def test_filter_cases_narrow_the_catalog(rows: CatalogRows) -> None:
    # Every case but the deliberately empty ones matches some products and not all, so it tests a filter.
    counts = {name: sum(matches(rows, product) for product in rows.visible) for name, (_, matches) in FILTERS.items()}
    assert {name for name, count in counts.items() if count == 0} == EMPTY_BY_DESIGN
    assert max(counts.values()) < len(rows.visible)


def test_wildcard_cases_would_match_if_percent_and_underscore_were_wildcards(rows: CatalogRows) -> None:
    assert any(has_words(product, "sleeping bag") for product in rows.visible)


async def test_category_filter_by_id_includes_subcategories(api: Api, rows: CatalogRows) -> None:
    footwear = rows.category_by_slug("footwear")
    tree = rows.subtree(footwear["id"])
    assert len(tree) > 1
    expected = [product["id"] for product in rows.visible if product["category_id"] in tree]
    category = encode_global_id("Category", footwear["id"])
    assert await api.query(PRODUCT_LIST, {"filter": {"category": category}}) == listing(expected)


async def test_category_filter_pages_both_ways(api: Api, rows: CatalogRows) -> None:
    ids = [pk for pk in expected_order(rows, "TITLE", reverse=True) if in_category(rows, rows.product(pk), "home")]
    assert len(ids) > 3
    await assert_walks(api, ids, 3, {"filter": {"categorySlug": "home"}, "sortKey": "TITLE", "reverse": True})


FILTER_ERRORS = {
    "min above max": ({"price": {"min": "20", "max": "10"}}, "`price.min` must not exceed `price.max`", "filter.price"),
    "negative min": ({"price": {"min": "-1"}}, "`price.min` must be a non-negative amount", "filter.price.min"),
    "negative max": ({"price": {"max": "-0.01"}}, "`price.max` must be a non-negative amount", "filter.price.max"),
    "NaN min": ({"price": {"min": "NaN"}}, "`price.min` must be a non-negative amount", "filter.price.min"),
    "category and slug": (
        {"category": encode_global_id("Category", 1), "categorySlug": "apparel"},
        "Filter by `category` or by `categorySlug`, not both",
        "filter.category",
    ),
    "category with a product ID": (
        {"category": encode_global_id("Product", 1)},
        f"Expected a Category ID, got a Product ID: {encode_global_id('Product', 1)!r}",
        "filter.category",
    ),
    "malformed category ID": ({"category": "nope"}, "Malformed global ID: 'nope'", "filter.category"),
    "eleven words": ({"query": " ".join(["tee"] * 11)}, "A search takes at most 10 words", "filter.query"),
    "a long word": ({"query": "t" * 101}, "Search words are at most 100 characters", "filter.query"),
}  # fmt: skip


@pytest.mark.parametrize(("product_filter", "message", "field"), FILTER_ERRORS.values(), ids=FILTER_ERRORS.keys())
async def test_bad_filters_are_rejected(api: Api, product_filter: dict[str, Any], message: str, field: str) -> None:
    body = await post(api, PRODUCT_LIST, {"filter": product_filter})
    assert body == bad_input(message, field, PRODUCT_LIST)


async def test_total_count_costs_a_statement_only_when_asked(api: Api, rows: CatalogRows) -> None:
    nodes = [{"id": gid(pk)} for pk in expected_order(rows, "ID")[:5]]
    assert await api.counted(FIRST_FIVE_IDS) == ({"data": {"products": {"nodes": nodes}}}, 1)
    with_count = {"data": {"products": {"totalCount": len(rows.visible), "nodes": nodes}}}
    assert await api.counted(FIRST_FIVE_IDS_AND_COUNT) == (with_count, 2)


# --- A catalog of its own: price ties, literal wildcards, long titles -------------------------------------

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
TIED_PRICES = (Decimal("10.00"), Decimal("25.50"), Decimal("10.00"), Decimal("99.99"), Decimal("25.50"))
OWN_TITLES = ("100% Cotton Tee", "100 Percent Linen Tee", "snake_case Mug", "snakeXcase Mug", "Ω" * 255)


def own_product(pk: int, title: str, price: Decimal) -> dict[str, Any]:
    return {
        "id": pk,
        "slug": f"own-{pk}",
        "title": title,
        "description": "",
        "vendor": "Own",
        "category_id": None,
        "status": "ACTIVE",
        "tags": [],
        "min_price": price,
        "rating_average": Decimal("0"),
        "rating_count": 0,
        "created_at": EPOCH + timedelta(days=pk),
        "updated_at": EPOCH + timedelta(days=pk),
    }


def own_variant(pk: int, price: Decimal) -> dict[str, Any]:
    return {
        "id": pk,
        "product_id": pk,
        "sku": f"OWN-{pk}",
        "title": "Default",
        "selected_options": [],
        "price": price,
        "compare_at_price": None,
        "stock_quantity": 1,
        "position": 0,
    }


def own_title(pk: int) -> str:
    return OWN_TITLES[pk - 1] if pk <= len(OWN_TITLES) else f"Plain Product {pk}"


OWN_PRODUCTS = [own_product(pk, own_title(pk), TIED_PRICES[pk % len(TIED_PRICES)]) for pk in range(1, 16)]


@pytest.fixture
async def own_api(empty_url: str) -> AsyncIterator[Api]:
    """A client on a catalog of 15 products with three prices, wildcard characters and a 255-character title."""
    engine = create_async_engine(empty_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(Product.__table__), OWN_PRODUCTS)
            variants = [own_variant(product["id"], product["min_price"]) for product in OWN_PRODUCTS]
            await connection.execute(insert(ProductVariant.__table__), variants)
    finally:
        await engine.dispose()
    async with serve(conftest.settings_for(empty_url)) as running:
        yield running


@pytest.mark.parametrize("reverse", [False, True])
async def test_price_ties_page_each_product_exactly_once(own_api: Api, reverse: bool) -> None:
    ordered = sorted(OWN_PRODUCTS, key=lambda product: (product["min_price"], product["id"]), reverse=reverse)
    ids = [product["id"] for product in ordered]
    assert len({product["min_price"] for product in OWN_PRODUCTS}) == 3
    await assert_walks(own_api, ids, 2, {"sortKey": "PRICE", "reverse": reverse})


@pytest.mark.parametrize(
    ("words", "titles"),
    [
        ("100%", ["100% Cotton Tee"]),
        ("%", ["100% Cotton Tee"]),
        ("snake_case", ["snake_case Mug"]),
        ("_", ["snake_case Mug"]),
        ("100 tee", ["100% Cotton Tee", "100 Percent Linen Tee"]),
    ],
)
async def test_percent_and_underscore_match_only_themselves(own_api: Api, words: str, titles: list[str]) -> None:
    ids = [OWN_TITLES.index(title) + 1 for title in titles]
    assert await own_api.query(PRODUCT_LIST, {"filter": {"query": words}}) == listing(ids)


async def test_a_cursor_on_the_longest_title_is_accepted(own_api: Api) -> None:
    # The TITLE cursor of a 255-character non-ASCII title is about 1,000 characters long.
    ids = [product["id"] for product in sorted(OWN_PRODUCTS, key=lambda product: (product["title"], product["id"]))]
    assert ids[-1] == OWN_TITLES.index("Ω" * 255) + 1
    last = await own_api.query(PRODUCT_PAGE, {"last": 1, "sortKey": "TITLE"})
    cursor = last["data"]["products"]["pageInfo"]["startCursor"]
    assert len(cursor) > 500
    body = await own_api.query(PRODUCT_PAGE, {"last": 2, "before": cursor, "sortKey": "TITLE"})
    page = body["data"]["products"]
    assert body == {"data": {"products": connection(ids[-3:-1], cursors_of(page), True, True)}}
