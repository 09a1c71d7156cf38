"""Relations and connections are declared once: every relation field resolves a whole level at once on the
planned executor, and every connection field takes the same Relay arguments."""

from __future__ import annotations

from graphql import GraphQLObjectType

from app.graphql.executor import BATCH_METADATA_KEY
from schema.root import schema

STRAWBERRY_DEFINITION = "strawberry-definition"
# Fields with a resolver of their own that take no per-level batch: each connection reads one page per parent
# through a per-parent page loader (batched by the loader), and its total count is asked for lazily.
# A private field (a permission class) runs per object too, on both executors: its loader batches the level.
PER_OBJECT = {
    "Category.products",
    "Product.reviews",
    "Customer.addresses",
    "Customer.defaultAddress",
    "Customer.reviews",
    "Cart.lines",
    "Customer.orders",
    "Order.lines",
}
RELATIONS = {
    "Category.parent",
    "Category.children",
    "Image.url",
    "Product.availableForSale",
    "Product.category",
    "Product.featuredImage",
    "Product.images",
    "Product.priceRange",
    "Product.rating",
    "Product.variants",
    "ProductVariant.product",
    "Review.product",
    "Cart.buyerIdentity",
    "Cart.cost",
    "Cart.totalQuantity",
    "CartLine.merchandise",
    "Order.statusHistory",
    "OrderLine.variant",
}


def _fields_with_resolvers() -> dict[str, object]:
    found = {}
    for type_name, type_ in schema._schema.type_map.items():
        roots = ("Query", "Mutation", "Subscription")
        if not isinstance(type_, GraphQLObjectType) or type_name in roots or type_name.startswith("__"):
            continue
        if type_name.endswith("Connection"):
            continue  # totalCount: counted only when asked for
        for field_name, field in type_.fields.items():
            definition = (field.extensions or {}).get(STRAWBERRY_DEFINITION)
            if definition is not None and definition.base_resolver is not None:
                found[f"{type_name}.{field_name}"] = definition
    return found


def test_every_relation_field_has_a_per_level_batch_the_planned_executor_takes():
    fields = _fields_with_resolvers()
    assert set(fields) == RELATIONS | PER_OBJECT
    without_batch = sorted(
        name
        for name, definition in fields.items()
        if BATCH_METADATA_KEY not in (definition.metadata or {}) or definition.extensions  # type: ignore[attr-defined]
    )
    assert without_batch == sorted(PER_OBJECT)


def test_every_connection_field_takes_the_same_relay_arguments_first():
    relay = ("first", "after", "last", "before")
    connections = {}
    for type_name, type_ in schema._schema.type_map.items():
        if isinstance(type_, GraphQLObjectType) and not type_name.startswith("__"):
            for field_name, field in type_.fields.items():
                if str(field.type).rstrip("!").endswith("Connection"):
                    arguments = list(field.args.items())[: len(relay)]
                    connections[f"{type_name}.{field_name}"] = [
                        (name, str(arg.type), arg.default_value, arg.description) for name, arg in arguments
                    ]
    assert set(connections) == {
        "Query.products",
        "Query.categories",
        "Category.products",
        "Product.reviews",
        "Customer.addresses",
        "Customer.reviews",
        "Cart.lines",
        "Customer.orders",
        "Order.lines",
    }
    expected = [
        ("first", "Int", None, "Page size from the start, 1-100."),
        ("after", "String", None, "Start after this cursor."),
        ("last", "Int", None, "Page size from the end, 1-100."),
        ("before", "String", None, "End before this cursor."),
    ]
    assert connections == dict.fromkeys(connections, expected)
