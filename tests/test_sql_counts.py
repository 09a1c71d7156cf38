"""No N+1: every list query takes the same, exact number of SQL statements for 1 and for 50 parents."""

from __future__ import annotations

import pytest

from app.db.ids import encode_global_id

LISTING = """
query Listing($n: Int!) {
  products(first: $n) {
    nodes {
      title
      category { name parent { name } }
      variants { sku price { amount } }
      featuredImage { url(width: 400) }
      images(first: 3) { url }
      rating { average count }
      reviews(first: 3) { nodes { rating author { displayName } } }
    }
  }
}
"""

PRODUCT_PAGE_FIELDS = """
query Fields($n: Int!) {
  products(first: $n) {
    totalCount
    edges { cursor node { id slug priceRange { minVariantPrice { amount } maxVariantPrice { amount } }
      availableForSale variants { sku product { title } } reviews(first: 2) { totalCount pageInfo { hasNextPage } } } }
  }
}
"""

CATEGORIES = """
query Categories($n: Int!) {
  categories(first: $n) {
    nodes {
      name
      children { name }
      products(first: 3, sortKey: PRICE) { totalCount nodes { title variants { sku } } }
    }
  }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on Product { title category { name } variants { sku } rating { count } }
  }
}
"""

CATEGORY_PRODUCTS = """
query CategoryProducts($slug: String!, $n: Int!) {
  category(slug: $slug) {
    products(first: $n) { nodes { title featuredImage { altText } reviews(first: 1) { nodes { title } } } }
  }
}
"""

# (query, expected statements, what each one is)
CASES = {
    "listing": (LISTING, 6, "products, categories+ancestors, variants, images, rating, reviews+authors"),
    "product fields": (PRODUCT_PAGE_FIELDS, 6, "products, count, variant summary, variants, reviews, rating"),
    "categories": (CATEGORIES, 5, "categories, children, products page, products count, variants"),
}


async def _count(api, query, variables):
    result, statements = await api.counted(query, variables)
    assert "errors" not in result, result
    return result, statements


@pytest.mark.parametrize("case", list(CASES))
async def test_list_query_statement_count_does_not_grow_with_parents(api, case):
    # given
    query, expected, _what = CASES[case]
    # when
    _, for_one = await _count(api, query, {"n": 1})
    fifty, for_fifty = await _count(api, query, {"n": 50})
    # then
    root = next(iter(fifty["data"].values()))
    assert len(root["nodes"] if "nodes" in root else root["edges"]) >= 40
    assert (for_one, for_fifty) == (expected, expected), api.sql.statements


@pytest.mark.parametrize("case", list(CASES))
async def test_postgresql_runs_the_same_statements_for_any_number_of_parents(api, backend, case):
    # asyncpg prepares each SQL text once per connection: batches of 1 and of 50 keys must share texts
    if backend != "postgresql":
        pytest.skip("SQLite has no array parameters; its IN lists grow with the keys")
    # given
    query, _expected, _what = CASES[case]
    # when
    await _count(api, query, {"n": 1})
    for_one = sorted(api.sql.statements)
    await _count(api, query, {"n": 50})
    for_fifty = sorted(api.sql.statements)
    # then
    assert for_one == for_fifty


async def test_nodes_batch_by_type(api):
    # given: 1 and 50 product IDs
    one = [encode_global_id("Product", 1)]
    many = [encode_global_id("Product", pk) for pk in range(1, 51)]
    # when
    _, for_one = await _count(api, NODES, {"ids": one})
    result, for_fifty = await _count(api, NODES, {"ids": many})
    # then: products, categories, variants, rating
    assert (for_one, for_fifty) == (4, 4)
    assert len(result["data"]["nodes"]) == 50


async def test_category_products_page(api):
    # given: the department with the most products
    categories = await api.query(
        "{ categories(first: 100, topLevel: true) { nodes { slug products { totalCount } } } }"
    )
    slug = max(categories["data"]["categories"]["nodes"], key=lambda c: c["products"]["totalCount"])["slug"]
    # when
    _, for_one = await _count(api, CATEGORY_PRODUCTS, {"slug": slug, "n": 1})
    result, for_many = await _count(api, CATEGORY_PRODUCTS, {"slug": slug, "n": 50})
    # then: category by slug, its products page, images, reviews
    assert len(result["data"]["category"]["products"]["nodes"]) > 1
    assert (for_one, for_many) == (4, 4)


PRODUCT_LOOKUP = "query ($id: ID, $slug: String) { product(id: $id, slug: $slug) { id } }"
CATEGORY_LOOKUP = "query ($id: ID, $slug: String) { category(id: $id, slug: $slug) { id } }"

# (query, variables, field, expected statements): a slug no row can have is answered without SQL
MISSING_LOOKUPS = {
    "product by slug": (PRODUCT_LOOKUP, {"slug": "no-such-product"}, "product", 1),
    "product by ID": (PRODUCT_LOOKUP, {"id": encode_global_id("Product", 2**31 - 1)}, "product", 1),
    "product by an over-long slug": (PRODUCT_LOOKUP, {"slug": "a" * 201}, "product", 0),
    "product by a slug with NUL": (PRODUCT_LOOKUP, {"slug": "tee\x00"}, "product", 0),
    "category by slug": (CATEGORY_LOOKUP, {"slug": "no-such-category"}, "category", 1),
    "category by ID": (CATEGORY_LOOKUP, {"id": encode_global_id("Category", 2**31 - 1)}, "category", 1),
}


@pytest.mark.parametrize("case", list(MISSING_LOOKUPS))
async def test_a_missing_lookup_is_null_and_costs_at_most_one_statement(api, case):
    # given
    query, variables, field, expected = MISSING_LOOKUPS[case]
    # when
    result, statements = await api.counted(query, variables)
    # then
    assert (result, statements) == ({"data": {field: None}}, expected), api.sql.statements
