"""Differential test: generated operations over the real schema and seeded data give exactly the same
response through the planned executor and through graphql-core's reference executor."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import (
    ExecutionResult,
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    execute,
    parse,
)
from graphql.execution.values import get_variable_values
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.accounts.models import Customer
from app.cart.models import Cart, CartLine
from app.catalog.models import Category, Product, ProductImage, ProductVariant, Review
from app.db.ids import encode_global_id
from app.graphql.executor import FastExecutor
from resolvers.cart import cart_id_of
from schema.root import schema
from tests.conftest import Api, serve, settings_for
from tests.guarded_schema import GUARDED
from tests.plain_schema import PLAIN

OPERATIONS = 120
SEED = 20261125
MAX_DEPTH = 4
SCHEMA = schema._schema

# the generator makes documents past the public limits on shape: the executors are compared, not the limits
UNLIMITED = {"max_aliases": 100_000, "max_query_depth": 1_000}


class Pools:
    """Real values from the seeded database, plus deliberately bad ones, to build arguments from."""

    def __init__(
        self, ids: list[str], slugs: list[str], category_slugs: list[str], vendors: list[str], carts: list[str]
    ) -> None:
        self.ids = ids
        self.slugs = slugs
        self.category_slugs = category_slugs
        self.vendors = vendors
        self.carts = carts


async def _pools(url: str) -> Pools:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:

            async def ids(model: Any, type_name: str) -> list[str]:
                rows = (await connection.execute(select(model.id).order_by(model.id).limit(15))).all()
                return [encode_global_id(type_name, row.id) for row in rows]

            all_ids = []
            for model, name in (
                (Product, "Product"),
                (Category, "Category"),
                (ProductVariant, "ProductVariant"),
                (ProductImage, "Image"),
                (Review, "Review"),
                (Customer, "Customer"),  # private fields: FORBIDDEN for the anonymous generated operations
            ):
                all_ids += await ids(model, name)
            slugs = list((await connection.execute(select(Product.slug).limit(20))).scalars())
            category_slugs = list((await connection.execute(select(Category.slug))).scalars())
            vendors = sorted(set((await connection.execute(select(Product.vendor))).scalars()))
    finally:
        await engine.dispose()
    return Pools(all_ids, slugs, category_slugs, vendors, await _guest_carts(url))


async def _guest_carts(url: str) -> list[str]:
    """The IDs of two guest carts of the first variants (made once; the catalog's tests never read carts)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            tokens = [f"differential-cart-{index}" for index in range(2)]
            existing = set((await connection.execute(select(Cart.token).where(Cart.token.in_(tokens)))).scalars())
            variant_ids = list(
                (await connection.execute(select(ProductVariant.id).order_by(ProductVariant.id).limit(3))).scalars()
            )
            for index, token in enumerate(tokens):
                if token in existing:
                    continue
                now = datetime.now(UTC)
                cart = (
                    await connection.execute(
                        insert(Cart)
                        .values(token=token, status="OPEN", created_at=now, updated_at=now)
                        .returning(Cart.id)
                    )
                ).scalar_one()
                for variant in variant_ids[: index + 2]:
                    await connection.execute(
                        insert(CartLine).values(cart_id=cart, variant_id=variant, quantity=index + 1, created_at=now)
                    )
    finally:
        await engine.dispose()
    return [cart_id_of(SimpleNamespace(token=token)) for token in tokens]


class Generator:
    """Builds random, valid GraphQL documents (and their variables) over the schema."""

    def __init__(self, rng: random.Random, pools: Pools, schema: GraphQLSchema = SCHEMA) -> None:
        self.rng = rng
        self.pools = pools
        self.schema = schema
        self.fragments: dict[str, str] = {}
        self.variables: dict[str, Any] = {}
        self.variable_definitions: list[str] = []
        self.aliases = 0

    def operation(self) -> tuple[str, dict[str, Any]]:
        self.fragments, self.variables, self.variable_definitions = {}, {}, []
        body = self.selection(self.schema.query_type, depth=0)
        definitions = f"({', '.join(self.variable_definitions)})" if self.variable_definitions else ""
        fragments = "\n".join(self.fragments.values())
        return f"query Generated{definitions} {body}\n{fragments}", self.variables

    def selection(self, parent: Any, depth: int, *, aliased: bool = False) -> str:
        if isinstance(parent, GraphQLInterfaceType | GraphQLUnionType):
            return self.abstract_selection(parent, depth)
        fields = list(parent.fields.items())
        chosen = self.rng.sample(fields, k=min(len(fields), self.rng.randint(1, 4)))
        parts = [self.field(parent, name, definition, depth, aliased=aliased) for name, definition in chosen]
        if self.rng.random() < 0.2:
            parts.append("__typename")
        if self.rng.random() < 0.15 and depth > 0:
            parts.append(self.named_fragment(parent, depth))
        return "{ " + " ".join(parts) + " }"

    def abstract_selection(self, abstract: Any, depth: int) -> str:
        parts = ["__typename", "id"] if "id" in getattr(abstract, "fields", {}) else ["__typename"]
        possible_types = self.schema.get_possible_types(abstract)
        for possible in self.rng.sample(possible_types, k=min(2, len(possible_types))):
            # Aliased: two types' fields of one name may differ in type (a private, nullable createdAt).
            parts.append(f"... on {possible.name} {self.selection(possible, depth, aliased=True)}")
        return "{ " + " ".join(parts) + " }"

    def named_fragment(self, parent: GraphQLObjectType, depth: int) -> str:
        name = f"F{len(self.fragments)}{parent.name}"
        self.fragments[name] = ""  # reserve the name before building nested fragments
        self.fragments[name] = f"fragment {name} on {parent.name} {self.selection(parent, depth + 1)}"
        return f"...{name}"

    def field(self, parent: Any, name: str, definition: Any, depth: int, *, aliased: bool = False) -> str:
        named = _named(definition.type)
        if not isinstance(named, GraphQLScalarType | GraphQLEnumType) and depth >= MAX_DEPTH:
            return "__typename"
        arguments = self.arguments(parent.name, name, definition)
        self.aliases += 1
        # Fields with arguments always get a unique alias, so fragments never merge conflicting ones.
        alias = f"a{self.aliases}: " if aliased or arguments or self.rng.random() < 0.25 else ""
        directive = self.directive()
        sub = ""
        if not isinstance(named, GraphQLScalarType | GraphQLEnumType):
            sub = " " + self.selection(named, depth + 1)
        return f"{alias}{name}{arguments}{directive}{sub}"

    def directive(self) -> str:
        if self.rng.random() > 0.1:
            return ""
        variable = f"flag{len(self.variables)}"
        self.variable_definitions.append(f"${variable}: Boolean!")
        self.variables[variable] = self.rng.random() < 0.5
        return f" @{self.rng.choice(['include', 'skip'])}(if: ${variable})"

    def arguments(self, parent: str, name: str, definition: Any) -> str:
        values = []
        for arg_name, arg in definition.args.items():
            value = self.argument(parent, name, arg_name, arg.type)
            if value is not None:
                values.append(f"{arg_name}: {value}")
        return f"({', '.join(values)})" if values else ""

    def argument(self, parent: str, field: str, name: str, type_: Any) -> str | None:
        required = isinstance(type_, GraphQLNonNull)
        rng = self.rng
        if field == "node" and name == "id":
            return _quote(rng.choice([*self.pools.ids, "bm90LWFuLWlk"]))
        if (field, name) == ("order", "id"):
            return _quote(rng.choice([*self.pools.ids, "bm9wZQ"]))
        if (field, name) == ("orderByToken", "token"):
            return _quote(rng.choice(["no-such-token", ""]))
        if (field, name) == ("cart", "id"):
            return _quote(rng.choice([*self.pools.carts, "bm9wZQ"]))
        if field == "nodes":
            return "[" + ", ".join(_quote(i) for i in rng.sample(self.pools.ids, k=rng.randint(1, 6))) + "]"
        if (field, name) == ("product", "slug"):
            return _quote(rng.choice([*self.pools.slugs, "no-such-product"])) if rng.random() < 0.8 else None
        if (field, name) == ("category", "slug"):
            return _quote(rng.choice(self.pools.category_slugs)) if rng.random() < 0.8 else None
        if name in ("id",) and not required:
            return None
        if name == "first" and rng.random() < 0.7:
            return str(rng.choice([1, 2, 3, 5, 5, 0, 101]))
        if name in ("width", "height") and rng.random() < 0.5:
            return str(rng.choice([100, 400, 0]))
        if name == "after" and rng.random() < 0.05:
            return _quote("garbage")
        if name == "sortKey" and rng.random() < 0.5:
            return rng.choice(list(_named(type_).values))
        if name == "reverse" and rng.random() < 0.3:
            return "true"
        if name == "topLevel" and rng.random() < 0.3:
            return "true"
        if name == "filter" and rng.random() < 0.4:
            return self.product_filter(parent)
        return None

    def product_filter(self, parent: str) -> str:
        rng = self.rng
        options = [
            f"query: {_quote(rng.choice(['steel', 'Cotton', 'a', '%', 'zzz']))}",
            f"price: {{ min: {_quote(str(rng.choice([0, 10, 50])))}, max: {_quote(str(rng.choice([40, 200, 5])))} }}",
            f"availableForSale: {rng.choice(['true', 'false'])}",
            f"vendor: {_quote(rng.choice(self.pools.vendors).upper())}",
        ]
        if parent == "Query":
            options.append(f"categorySlug: {_quote(rng.choice(self.pools.category_slugs))}")
        return "{ " + ", ".join(rng.sample(options, k=rng.randint(1, 2))) + " }"


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _normalised(body: dict[str, Any]) -> dict[str, Any]:
    # The specification leaves the order of errors open; everything else must match exactly.
    errors = sorted(body.get("errors", []), key=lambda e: (str(e.get("path")), e["message"]))
    return {**body, "errors": errors} if "errors" in body else body


def _assert_same(actual: dict[str, Any], expected: dict[str, Any], query: str) -> None:
    """The same data and the same errors, but for one freedom the specification gives executors.

    When an error nulls a subtree bigger than its own field, which other errors inside that subtree get
    reported depends on timing: the reference executor cancels the siblings still running in it (and
    reports what settled before), while the planned executor runs a whole level at once and stops at
    the end of the level. So errors at a position the response keeps (nulled exactly at their own path)
    must be the same, and errors swallowed by a bigger null must explain the same nulled positions.
    """
    assert actual.get("data") == expected.get("data"), query
    # the response keys' order is the selection's (equality of dicts would not see it)
    assert json.dumps(actual.get("data")) == json.dumps(expected.get("data")), query
    data = expected.get("data")
    ours, theirs = _split_errors(data, actual), _split_errors(data, expected)
    assert ours[0] == theirs[0], query
    assert ours[1] == theirs[1], query


def _split_errors(data: Any, body: dict[str, Any]) -> tuple[list[dict[str, Any]], set[tuple[Any, ...] | None]]:
    """(errors at a position of their own, sorted; the nulled positions explained by the other errors)."""
    exact, swallowed = [], set()
    for error in _normalised(body).get("errors", []):
        path = error.get("path")
        nulled = _nulled_at(data, path)
        if path is None or nulled == tuple(path):
            exact.append(error)
        else:
            swallowed.add(nulled)
    return exact, swallowed


def _nulled_at(data: Any, path: list[Any] | None) -> tuple[Any, ...] | None:
    """The shortest prefix of the error's path whose value in the response is null."""
    if path is None:
        return None
    value = data
    for length, key in enumerate(path):
        if value is None:
            return tuple(path[:length])
        value = value[key]
    return tuple(path)


@pytest.fixture(scope="module")
async def both(catalog_url: str) -> AsyncIterator[tuple[Api, Api]]:
    async with (
        serve(settings_for(catalog_url, fast_executor=True, **UNLIMITED)) as fast,
        serve(settings_for(catalog_url, fast_executor=False, **UNLIMITED)) as reference,
    ):
        yield fast, reference


async def test_generated_operations_match_the_reference_executor(both, catalog_url):
    # given
    fast, reference = both
    generator = Generator(random.Random(SEED), await _pools(catalog_url))
    with_errors = 0
    for _ in range(OPERATIONS):
        query, variables = generator.operation()
        # when
        expected = await reference.query(query, variables)
        assert "data" in expected, (query, expected)  # the generator makes valid documents only
        actual = await fast.query(query, variables)
        # then: the same answer, and every error an expected one (a field reading a column its loader did not
        # select, as declared in app.graphql.columns, would fail on both executors alike, as an internal error)
        _assert_same(actual, expected, query)
        codes = {error.get("extensions", {}).get("code") for error in expected.get("errors", [])}
        assert "INTERNAL_SERVER_ERROR" not in codes, (query, expected)
        with_errors += "errors" in expected
    # the generator exercised failures too, not only happy paths
    assert 0 < with_errors < OPERATIONS


@pytest.mark.parametrize(
    "query",
    [
        "{ products(first: 2) { nodes { images(first: 0) { altText } } } }",
        "{ products(first: 2) { nodes { title featuredImage { url(width: 0) } } } }",
        '{ node(id: "bad") { id } a: product(slug: "nope") { id } b: products(first: 1) { totalCount } }',
        "{ __schema { queryType { name } types { name kind } } }",
        '{ __type(name: "Product") { fields { name type { name kind ofType { name } } } } }',
        "query($s: Boolean!) { products(first: 3) { nodes { id @skip(if: $s) title @include(if: $s) } } }",
    ],
)
async def test_edge_cases_match(both, query):
    fast, reference = both
    variables = {"s": True} if "$s" in query else None
    _assert_same(await fast.query(query, variables), await reference.query(query, variables), query)


async def _execute_both(schema: GraphQLSchema, query: str, variables: dict[str, Any], context: Any) -> tuple[Any, Any]:
    document = parse(query)
    operation = document.definitions[0]
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)  # type: ignore[attr-defined]
    planned = await FastExecutor(schema).execute(document, operation, coerced, context)  # type: ignore[arg-type]
    reference = execute(schema, document, context_value=context, variable_values=variables)
    if not isinstance(reference, ExecutionResult):  # synchronous when every resolver of it was
        reference = await reference
    return planned.formatted, reference.formatted


@pytest.mark.parametrize("viewer", ["ada", "bob", None])
async def test_generated_operations_on_a_guarded_schema_match(viewer):
    # given: a schema with permission classes and field extensions on fields with and without resolvers
    generator = Generator(random.Random(SEED), Pools([], [], [], [], []), schema=GUARDED)
    denied = 0
    for _ in range(OPERATIONS):
        query, variables = generator.operation()
        # when
        actual, expected = await _execute_both(GUARDED, query, variables, {"viewer": viewer})
        # then
        assert "data" in expected, (query, expected)
        _assert_same(actual, expected, query)
        denied += any(error["message"].startswith("Not allowed") for error in expected.get("errors", []))
    # the guards denied something, and not everything
    assert 0 < denied < OPERATIONS


async def test_generated_operations_on_plain_fields_match():
    # given: plain fields (compiled by the planned executor) whose values are sometimes wrong: nulls in
    # non-null positions, out-of-range or wrongly typed scalars, readers that raise, awaitables, objects of
    # the wrong class, and a source of a subclass
    generator = Generator(random.Random(SEED + 1), Pools([], [], [], [], []), schema=PLAIN)
    failed = 0
    for _ in range(OPERATIONS * 2):
        query, variables = generator.operation()
        # when
        actual, expected = await _execute_both(PLAIN, query, variables, None)
        # then
        _assert_same(actual, expected, query)
        failed += "errors" in expected
    # the troubles were met, and not everywhere
    assert 0 < failed < OPERATIONS * 2
