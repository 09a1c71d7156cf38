"""Loaders select only the columns a query reads: what each field declares (`app.graphql.columns`)."""

from __future__ import annotations

import inspect
import re
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import parse

from app.catalog import sql
from app.db.registry import NODE_TYPES
from app.db.sql_counter import counting
from app.graphql.columns import READS_COLUMNS, ColumnNeeds
from schema.accounts import Customer, MailingAddress
from schema.catalog import Category, Image, Product, ProductVariant, Review
from schema.orders import Order
from schema.root import schema

NEEDS = ColumnNeeds(schema._schema)


def _needs(query: str) -> dict[str, Any]:
    return {name: None if columns is None else sorted(columns) for name, columns in NEEDS.of(parse(query)).items()}


def test_a_document_needs_the_columns_its_fields_declare_per_type():
    # given: fields of one type in several places, a relation, a fragment, an abstract type, a @skip branch
    query = """
    query Q($s: Boolean!) {
      products(first: 2) { nodes { title ...P variants { sku price { amount } } } }
      node(id: "x") { id ... on ProductVariant { quantityAvailable } }
      product(slug: "x") { vendor @skip(if: $s) category { name } }
    }
    fragment P on Product { id slug }
    """
    # when
    needs = _needs(query)
    # then: the union over the whole document; types that are not rows are asked of nobody
    assert needs["Product"] == ["category_id", "id", "slug", "title", "vendor"]
    assert needs["ProductVariant"] == ["id", "price", "sku", "stock_quantity"]
    assert needs["Category"] == ["id", "name"]  # `id` from `node`, which any node type may answer
    assert needs["Image"] == needs["Review"] == ["id"]


def test_a_field_without_a_declaration_makes_its_type_read_every_column():
    # given: Money's fields are plain dataclass attributes, which declare nothing
    assert _needs("{ products(first: 1) { nodes { variants { price { amount } } } } }")["Money"] is None


ROW_TYPES = [Category, Customer, Image, MailingAddress, Order, Product, ProductVariant, Review]


def test_the_row_types_are_every_node_type():
    assert sorted(cls.__name__ for cls in ROW_TYPES) == sorted(NODE_TYPES)


@pytest.mark.parametrize("cls", ROW_TYPES, ids=lambda cls: cls.__name__)
def test_every_plain_field_of_a_row_type_declares_the_columns_it_reads(cls):
    # given: a view over a row holding only the columns one field declares (and the view's own state)
    readers = cls.READERS
    for name in readers:
        descriptor = inspect.getattr_static(cls, name)
        columns = getattr(descriptor, READS_COLUMNS)
        assert columns, f"{cls.__name__}.{name} declares no columns"
        row = SimpleNamespace(**{column: _sample(column) for column in columns})
        view = cls.wrap(row=row, currency_code="USD")
        # when / then: the reader reads nothing else
        descriptor.read(view)


def _sample(column: str) -> Any:
    from datetime import UTC, datetime
    from decimal import Decimal

    samples = {
        "selected_options": '[{"name": "Size", "value": "M"}]',
        "tags": '["a"]',
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        "stock_quantity": 3,
        "price": Decimal("1.00"),
        "compare_at_price": None,
        "id": 7,
        "status": "PAID",
        "processed_at": None,
        "subtotal": Decimal("2.00"),
        "total": Decimal("2.00"),
        "currency_code": "USD",
        "shipping_address": {"first_name": "A", "city": "B"},
        "is_default": True,
    }
    return samples.get(column, "text")


async def test_a_listing_selects_only_the_columns_it_shows(api):
    # when
    with counting(api.engine) as counter:
        answer = await api.query("{ products(first: 2) { nodes { title variants { sku } category { name } } } }")
    # then: each statement selects what the query shows and what the loader keys on, nothing more
    assert "errors" not in answer
    products, variants, categories = counter.statements
    assert _selected(products, "products") == ["id", "title", "category_id"]
    assert _selected(variants, "product_variants") == ["id", "product_id", "sku"]
    assert set(_selected(categories, "categories")) == {"id", "name", "parent_id"}


async def test_rows_primed_by_a_listing_serve_a_relation_of_the_same_request(api):
    # when: variants' products are the listed products, which the listing primed
    with counting(api.engine) as counter:
        answer = await api.query("{ products(first: 3) { nodes { title variants { product { title } } } } }")
    # then: no statement for the variants' products
    nodes = answer["data"]["products"]["nodes"]
    assert all(variant["product"]["title"] == node["title"] for node in nodes for variant in node["variants"])
    assert len(counter.statements) == 2


def _selected(statement: str, table: str) -> list[str]:
    """The columns of `table` in the first SELECT list of a statement, in order."""
    head = re.split(r"\sFROM\s", statement, maxsplit=1)[0]
    return [part.strip().split(".", 1)[1].split(" ", 1)[0] for part in head.split(",") if f"{table}." in part]


def test_an_unprojected_statement_still_selects_every_column():
    # given / when: no columns asked for (None): every column, as before projection
    statement = sql.products_by("id", "postgresql", None)
    # then
    assert [column.key for column in statement.selected_columns] == [column.key for column in sql.PRODUCT_COLUMNS]


def test_needs_of_a_huge_document_are_not_kept():
    # given: a document bigger than the document cache keeps
    needs = ColumnNeeds(schema._schema)
    huge = parse("{ products(first: 1) { nodes { title } } }" + " " * 30_000)
    # when
    found = needs.of(huge)
    # then: worked out, and not held
    assert found["Product"] == frozenset({"title"})
    assert needs._documents == {}
    needs.of(parse("{ products(first: 1) { nodes { title } } }"))
    assert len(needs._documents) == 1
