"""The node registry: a type registers its global-ID name, loader and GraphQL type once, and global IDs and
`node`/`nodes` follow it, on both executors."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType, execute, get_operation_ast, parse, validate
from graphql.execution.values import get_variable_values
from strawberry.tools import merge_types

from app.db import registry
from app.db.ids import decode_global_id, encode_global_id
from app.errors import UserInputError
from app.graphql.executor import FastExecutor
from schema.catalog import CatalogQuery
from schema.relay import Node, node_type
from schema.root import schema


def test_every_node_type_of_the_schema_is_registered_under_its_name_with_a_loader():
    implementors = {
        name
        for name, type_ in schema._schema.type_map.items()
        if isinstance(type_, GraphQLObjectType) and any(interface.name == "Node" for interface in type_.interfaces)
    }
    assert implementors == {
        "Category",
        "Customer",
        "Image",
        "MailingAddress",
        "Order",
        "Product",
        "ProductVariant",
        "Review",
    }
    assert set(registry.NODE_TYPES) == implementors
    assert {name: found.name for name, found in registry.NODE_TYPES.items()} == {name: name for name in implementors}
    assert all(hasattr(found.loader, "load") for found in registry.NODE_TYPES.values())


@pytest.mark.parametrize("type_name", ["Category", "Customer", "Image", "Product", "ProductVariant", "Review"])
def test_an_id_of_a_registered_type_decodes(type_name: str):
    assert decode_global_id(encode_global_id(type_name, 42)) == (type_name, 42)


@pytest.mark.parametrize("type_name", ["Widget", "category", "customer", "Query", "Node"])
def test_an_id_of_an_unregistered_type_is_malformed(type_name: str):
    value = encode_global_id(type_name, 1)
    with pytest.raises(UserInputError, match="Malformed global ID") as raised:
        decode_global_id(value)
    assert raised.value.field == "id"


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="'Product' is already registered"):
        registry.register_node(registry.NodeType("Product", object, lambda _context, row: row))


def test_decoding_before_any_registration_says_what_is_missing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(registry, "NODE_TYPES", {})
    with pytest.raises(RuntimeError, match="import the schema"):
        decode_global_id(encode_global_id("Product", 1))


# -- a new node type, registered here alone, is fetched by `node` and `nodes` ---------------------------

WIDGETS = {1: {"id": 1, "name": "Sprocket"}, 2: {"id": 2, "name": "Flange"}}


class WidgetById:
    """A loader of widgets by primary key, from a dict (the registry needs only `load`)."""

    async def load(self, pk: int) -> Any:
        return WIDGETS.get(pk)


class _Loaders:
    def get(self, loader_class: type[Any]) -> Any:
        return loader_class()


@pytest.fixture
def own_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A copy of the registry for one test, so what it registers is gone afterwards."""
    monkeypatch.setattr(registry, "NODE_TYPES", dict(registry.NODE_TYPES))
    yield


def _widget_schema() -> Any:
    @node_type(WidgetById)
    @strawberry.type(description="A throwaway node type, registered by this test only.")
    class Widget(Node):
        name: str = strawberry.field(description="Its name.")

        @classmethod
        def from_row(cls, row: Any) -> Any:
            return cls(id=strawberry.ID(encode_global_id("Widget", row["id"])), name=row["name"])

    query = merge_types("Query", (CatalogQuery,))
    return strawberry.Schema(query=query, types=[Widget])._schema


WIDGET_QUERY = """
query ($id: ID!, $missing: ID!, $ids: [ID!]!) {
  node(id: $id) { __typename id ... on Widget { name } }
  missing: node(id: $missing) { id }
  nodes(ids: $ids) { id ... on Widget { name } }
}
"""


@pytest.mark.parametrize("executor", ["fast", "reference"])
async def test_a_newly_registered_node_type_is_fetched_without_editing_another_module(own_registry, executor: str):
    graphql_schema = _widget_schema()
    one, two, gone = (encode_global_id("Widget", pk) for pk in (1, 2, 99))
    document = parse(WIDGET_QUERY)
    assert validate(graphql_schema, document) == []
    variables = {"id": one, "missing": gone, "ids": [two, gone, one]}
    context = SimpleNamespace(loaders=_Loaders())
    if executor == "fast":
        operation = get_operation_ast(document)
        assert operation is not None
        coerced = get_variable_values(graphql_schema, operation.variable_definitions or [], variables)
        result = await FastExecutor(graphql_schema).execute(document, operation, coerced, context)
    else:
        result = await execute(graphql_schema, document, variable_values=variables, context_value=context)  # type: ignore[misc]
    assert result.formatted == {
        "data": {
            "node": {"__typename": "Widget", "id": one, "name": "Sprocket"},
            "missing": None,
            "nodes": [{"id": two, "name": "Flange"}, None, {"id": one, "name": "Sprocket"}],
        }
    }
