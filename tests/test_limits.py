"""Limits on a document's shape, checked before any SQL on both executors: depth (MAX_QUERY_DEPTH, 15) and
aliases (MAX_ALIASES, 30; fragments counted each time they are spread), at, just under and just over."""

from __future__ import annotations

import pytest

from app.db.ids import encode_global_id
from tests.conftest import Api, serve, settings_for


def _nested_parents(depth: int) -> str:
    """A query `depth` levels deep: node, then parent after parent, then id."""
    parents = depth - 2
    category = encode_global_id("Category", 1)
    return f'{{ node(id: "{category}") {{ ... on Category {{ {"parent { " * parents}id{" }" * parents} }} }} }}'


def _aliased_listings(count: int) -> str:
    return "{ " + " ".join(f"a{i}: products(first: 1) {{ nodes {{ id }} }}" for i in range(count)) + " }"


async def _refusal(api: Api, query: str) -> dict | None:
    """The one error a refused query gets (it ran no SQL), or None when the query ran without errors."""
    body, statements = await api.counted(query)
    if "data" not in body:
        assert statements == 0, "refused before any SQL"
        [error] = body["errors"]
        return error
    assert "errors" not in body, body
    return None


@pytest.mark.parametrize(("depth", "refused"), [(14, False), (15, False), (16, True), (40, True)])
async def test_depth_is_limited(api: Api, depth: int, refused: bool) -> None:
    error = await _refusal(api, _nested_parents(depth))
    if not refused:
        assert error is None
        return
    assert error is not None
    assert error["extensions"] == {"code": "MAX_DEPTH_EXCEEDED", "depth": depth, "maxDepth": 15}
    assert error["message"] == f"The query is nested {depth} levels deep; at most 15 are allowed"


async def test_depth_counts_through_fragments(api: Api) -> None:
    inner = "fragment Deep on Category { " + "parent { " * 14 + "id" + " }" * 14 + " }"
    query = f'{{ node(id: "{encode_global_id("Category", 1)}") {{ ...Deep }} }} {inner}'
    error = await _refusal(api, query)
    assert error is not None and error["extensions"]["depth"] == 16


async def test_introspection_is_not_counted(api: Api) -> None:
    query = "{ __schema { types { fields { type { " + "ofType { " * 14 + "name" + " }" * 18 + " }"
    assert await _refusal(api, query) is None


@pytest.mark.parametrize(("aliases", "refused"), [(29, False), (30, False), (31, True)])
async def test_aliases_are_limited(api: Api, aliases: int, refused: bool) -> None:
    error = await _refusal(api, _aliased_listings(aliases))
    assert (error is not None) == refused
    if error is not None:
        assert error["extensions"] == {"code": "MAX_ALIASES_EXCEEDED", "aliases": aliases, "maxAliases": 30}


async def test_fragments_cannot_multiply_aliases_past_the_limit(api: Api) -> None:
    # 8 aliases in a fragment spread under 4 aliased fields: 4 + 4 x 8 = 36 aliased fields to resolve
    fragment = "fragment Eight on Product { " + " ".join(f"t{i}: title" for i in range(8)) + " }"
    query = "{ " + " ".join(f"p{i}: products(first: 1) {{ nodes {{ ...Eight }} }}" for i in range(4)) + " } " + fragment
    error = await _refusal(api, query)
    assert error is not None and error["extensions"]["aliases"] == 36


def _fields(count: int) -> str:
    """`count` fields: products, nodes, then `count - 2` ids (repeated fields are each parsed and merged)."""
    return "{ products(first: 1) { nodes { " + "id " * (count - 2) + "} } }"


@pytest.mark.parametrize(("fields", "refused"), [(249, False), (250, False), (251, True)])
async def test_fields_are_limited(api: Api, fields: int, refused: bool) -> None:
    error = await _refusal(api, _fields(fields))
    assert (error is not None) == refused
    if error is not None:
        assert error == {
            "message": f"The query selects {fields} fields; at most 250 are allowed",
            "locations": [{"line": 1, "column": 1}],
            "extensions": {"code": "MAX_FIELDS_EXCEEDED", "fields": fields, "maxFields": 250},
        }


async def test_fragments_cannot_multiply_fields_past_the_limit(api: Api) -> None:
    # 30 fields in a fragment spread under 9 aliased listings: 9 x (2 + 30) = 288
    fragment = "fragment Thirty on Product { " + "id " * 30 + "}"
    query = (
        "{ " + " ".join(f"p{i}: products(first: 1) {{ nodes {{ ...Thirty }} }}" for i in range(9)) + " } " + fragment
    )
    error = await _refusal(api, query)
    assert error is not None and error["extensions"]["fields"] == 288


def _spread_directives(count: int) -> str:
    """`count` directives, on spreads of one fragment (graphql-core refuses one repeated on a field)."""
    return "{ products(first: 1) { nodes { " + "...F @include(if: true) " * count + "} } } fragment F on Product { id }"


@pytest.mark.parametrize(("directives", "refused"), [(49, False), (50, False), (51, True)])
async def test_directives_are_limited(api: Api, directives: int, refused: bool) -> None:
    error = await _refusal(api, _spread_directives(directives))
    assert (error is not None) == refused
    if error is not None:
        assert error["extensions"] == {"code": "MAX_DIRECTIVES_EXCEEDED", "directives": 51, "maxDirectives": 50}


@pytest.mark.parametrize(("tokens", "refused"), [(4_999, False), (5_000, False), (5_001, True)])
async def test_tokens_are_limited(api: Api, tokens: int, refused: bool) -> None:
    # `{ nodes(ids: [ ... ]) { id } }` is 12 tokens and one per ID (commas are insignificant)
    query = "{ nodes(ids: [" + '"a", ' * (tokens - 12) + "]) { id } }"
    body, statements = await api.counted(query)
    if not refused:
        assert "data" in body  # parsed and executed (more than 100 IDs are the resolver's to refuse)
        return
    assert statements == 0
    [error] = body["errors"]
    assert error.pop("locations")[0]["line"] == 1  # where the parser stopped
    assert error == {
        "message": "The document has more than 5000 tokens; at most 5000 are allowed",
        "extensions": {"code": "MAX_TOKENS_EXCEEDED", "maxTokens": 5000},
    }


async def test_a_document_over_a_limit_skips_the_other_rules(catalog_url: str) -> None:
    # 2,000 repeated fields would take graphql-core's overlap check a while: the field limit answers first,
    # alone (no other rule's error beside it)
    async with serve(settings_for(catalog_url)) as api:
        body, statements = await api.counted(_fields(2_000) + " { nope }")
    assert statements == 0
    assert [error["extensions"]["code"] for error in body["errors"]] == ["MAX_FIELDS_EXCEEDED"]
