"""Query cost, Shopify style, on both executors: every executed response carries `extensions.cost` with the
requested cost (the most the operation can return) and the actual cost (what the response holds); an
operation over MAX_QUERY_COST is refused with MAX_COST_EXCEEDED before any SQL.

The prices (app.graphql.cost): an object 1, a scalar 0; a connection multiplies its `nodes`/`edges` by its
page (`first`/`last`, default 20, at most 100); another list by its `first`, its list argument's length, its
known bound (a variant's `selectedOptions`: 3) or 10; `totalCount` and a text search 10 more; a mutation 10.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.db.ids import encode_global_id
from bench.workloads import LISTING, PRODUCT_PAGE, SEARCH, SEARCH_VARIABLES
from tests.conftest import Api, serve, settings_for, take_cost

BOMB = """{ categories(first: 100) { nodes { products(first: 100) { nodes {
  reviews(first: 100) { nodes { title body author { displayName } } } } } } } }"""
README_EXAMPLE = """{
  products(first: 2, sortKey: PRICE, filter: { categorySlug: "apparel", availableForSale: true }) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      title
      priceRange { minVariantPrice { amount currencyCode } }
      featuredImage { url(width: 400) altText }
      rating { average count }
      variants { sku title selectedOptions { name value } quantityAvailable }
    }
  }
}"""


def _listings(count: int, size: int = 100) -> str:
    return "{ " + " ".join(f"a{i}: products(first: {size}) {{ nodes {{ id }} }}" for i in range(count)) + " }"


def _categorised(size: int) -> str:
    """1 for the connection, 2 a product (itself and its category): 1 + 2 * size."""
    return f"{{ products(first: {size}) {{ nodes {{ id category {{ id }} }} }} }}"


async def _cost(api: Api, query: str, variables: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict]:
    body = await api.query(query, variables)
    assert api.last_cost is not None, "every executed response carries extensions.cost"
    return body, api.last_cost


@pytest.mark.parametrize(
    ("query", "variables", "requested"),
    [
        # 1 + 100 products x (1 + category 1 + 10 variants x (1 + price 1))
        (LISTING, None, 2201),
        # 1 + priceRange 3 + rating 1 + 10 variants x (1 + 3 options + price 1 + compareAtPrice 1)
        # + 10 images + reviews (1 + 10 x (1 + author 1) + pageInfo 1)
        # + category (1 + products (1 + 8 x (1 + priceRange 2 + featuredImage 1)))
        (PRODUCT_PAGE, {"slug": "no-such-product"}, 131),
        # 1 + 24 x (1 + priceRange 3 + featuredImage 1 + rating 1) + 10 for the text search
        (SEARCH, SEARCH_VARIABLES, 155),
        # 1 + totalCount 10 + pageInfo 1 + 2 x (1 + priceRange 2 + featuredImage 1 + rating 1
        # + 10 variants x (1 + 3 options))
        (README_EXAMPLE, None, 102),
    ],
    ids=["listing", "product-page", "search", "readme"],
)
async def test_the_benchmark_and_readme_queries_cost_what_the_prices_say(
    api: Api, query: str, variables: dict | None, requested: int
) -> None:
    body, cost = await _cost(api, query, variables)
    assert "errors" not in body
    assert cost["requestedQueryCost"] == requested
    assert requested <= 10_000 // 4, "room to spare under the default maximum"


async def test_the_actual_cost_counts_what_the_response_holds(api: Api) -> None:
    body, cost = await _cost(api, _categorised(3))
    nodes = body["data"]["products"]["nodes"]
    categorised = sum(1 for node in nodes if node["category"] is not None)
    assert len(nodes) == 3 and categorised >= 1
    assert cost == {"requestedQueryCost": 7, "actualQueryCost": 1 + 3 + categorised}


async def test_an_empty_page_costs_only_its_connection(api: Api) -> None:
    query = '{ products(first: 50, filter: { vendor: "nobody at all" }) { nodes { id category { id } } } }'
    body, cost = await _cost(api, query)
    assert body == {"data": {"products": {"nodes": []}}}
    assert cost == {"requestedQueryCost": 101, "actualQueryCost": 1}


async def test_the_cost_bomb_is_refused_before_any_sql(api: Api) -> None:
    api.sql.reset()
    body = await api.query(BOMB)
    assert api.sql.count == 0
    # 1 + 100 categories x (1 + products (1 + 100 x (1 + reviews (1 + 100 x (1 + author 1)))))
    assert body == {
        "errors": [
            {
                "message": "The query costs 2020201 points; at most 10000 are allowed. Ask for smaller pages or "
                "fewer fields",
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 2020201, "maxCost": 10000},
            }
        ]
    }
    assert api.last_cost == {"requestedQueryCost": 2020201, "actualQueryCost": 0}


async def test_aliased_listings_are_refused_by_cost_when_aliases_and_fields_are_allowed(catalog_url: str) -> None:
    async with serve(settings_for(catalog_url, max_aliases=500, max_fields=1000)) as api:
        body, statements = await api.counted(_listings(200))
    assert statements == 0
    [error] = body["errors"]
    assert error["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 200 * 101, "maxCost": 10000}


@pytest.mark.parametrize(("size", "refused"), [(99, False), (100, False), (100, True)], ids=["under", "at", "over"])
async def test_the_maximum_at_under_and_over(catalog_url: str, size: int, refused: bool) -> None:
    # 1 + 2 x 100 = 201: the maximum is 201 ("at") or 200 ("over")
    async with serve(settings_for(catalog_url, max_query_cost=200 if refused else 201)) as api:
        body, statements = await api.counted(_categorised(size))
    if refused:
        assert statements == 0
        assert body["errors"][0]["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 201, "maxCost": 200}
    else:
        assert "errors" not in body and body["data"]["products"]["nodes"]
        assert api.last_cost is not None and api.last_cost["requestedQueryCost"] == 1 + 2 * size


@pytest.mark.parametrize(("first", "requested"), [(10, 21), (None, 41), (1000, 201)])
async def test_a_page_size_from_a_variable_is_priced(api: Api, first: int | None, requested: int) -> None:
    # no `first`: the default page of 20; past the maximum, priced at the maximum (and refused by the resolver)
    query = "query ($first: Int) { products(first: $first) { nodes { id category { id } } } }"
    _, cost = await _cost(api, query, {"first": first})
    assert cost["requestedQueryCost"] == requested


@pytest.mark.parametrize(("full", "requested"), [(False, 11), (True, 121)])
async def test_skipped_fields_cost_nothing(api: Api, full: bool, requested: int) -> None:
    query = """query ($full: Boolean!) {
      products(first: 10) { nodes { id reviews(first: 10) @include(if: $full) { nodes { id } } } }
    }"""
    _, cost = await _cost(api, query, {"full": full})
    assert cost["requestedQueryCost"] == requested


async def test_an_abstract_position_costs_its_dearest_type_and_returns_what_it_is(api: Api) -> None:
    # a Product would cost 10 variants, a Category 1 + 5 products: the requested cost takes the Product's
    query = """query ($id: ID!) { node(id: $id) {
      ... on Product { variants { id } }
      ... on Category { products(first: 5) { nodes { id } } }
    } }"""
    body, cost = await _cost(api, query, {"id": encode_global_id("Category", 1)})
    returned = len(body["data"]["node"]["products"]["nodes"])
    assert returned == 5
    assert cost == {"requestedQueryCost": 1 + 10, "actualQueryCost": 1 + 1 + returned}


async def test_total_count_and_text_search_cost_extra(api: Api) -> None:
    _, counted = await _cost(api, "{ products(first: 1) { totalCount } }")
    _, searched = await _cost(api, '{ products(first: 1, filter: { query: "cotton" }) { nodes { id } } }')
    _, unsearched = await _cost(api, "{ products(first: 1, filter: { query: null }) { nodes { id } } }")
    assert counted == {"requestedQueryCost": 11, "actualQueryCost": 11}
    assert searched["requestedQueryCost"] == 1 + 1 + 10
    assert unsearched["requestedQueryCost"] == 1 + 1


async def test_introspection_and_typename_are_free(api: Api) -> None:
    _, cost = await _cost(api, "{ __typename __schema { types { name fields { name type { name } } } } }")
    assert cost == {"requestedQueryCost": 0, "actualQueryCost": 0}


async def test_a_mutation_costs_ten_more(empty_url: str) -> None:
    query = "mutation { cartCreate(input: {}) { cart { id totalQuantity } errors { code } } }"
    async with serve(settings_for(empty_url)) as api:
        body = await api.query(query)
    assert body["data"]["cartCreate"]["errors"] == []
    # 10 + payload 1 + cart 1 + 10 errors x 1; actually returned: no error
    assert api.last_cost == {"requestedQueryCost": 22, "actualQueryCost": 12}


async def test_refused_documents_carry_no_cost(api: Api) -> None:
    for query in ("{ products(first: 1) { nodes { id }", "{ products { nope } }"):
        response = await api.client.post("/graphql", json={"query": query})
        body = response.json()
        assert take_cost(body) is None and "errors" in body


def test_fragments_spread_twice_at_every_level_are_priced_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphql import parse

    from app.graphql import cost
    from app.graphql.cost import CostAnalysis
    from schema.root import build_schema

    levels = 40  # expanded at every spread, 2^40 walks
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    document = parse(
        f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ products(first: 1) {{ nodes {{ id }} }} }}"
    )
    calls = []
    collect = cost._Compiler._collect
    monkeypatch.setattr(cost._Compiler, "_collect", lambda self, *args: calls.append(1) or collect(self, *args))
    plan = CostAnalysis(build_schema()._schema).plan(document, document.definitions[0])  # type: ignore[arg-type]
    assert plan.requested(None) == 2
    assert len(calls) < 4 * levels


async def test_an_alias_named_typename_does_not_choose_the_type(api: Api) -> None:
    query = """query ($id: ID!) { node(id: $id) {
      ... on Product { __typename: title variants { id } }
      ... on Category { __typename: name }
    } }"""
    body, cost = await _cost(api, query, {"id": encode_global_id("Product", 1)})
    assert "errors" not in body
    assert cost["actualQueryCost"] == 1 + len(body["data"]["node"]["variants"])
