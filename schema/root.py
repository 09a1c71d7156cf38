"""The schema's composition root: merges each domain's root types into one strawberry Schema."""

from __future__ import annotations

import strawberry
from strawberry.tools import merge_types

from schema.accounts import AccountsMutation, AccountsQuery
from schema.addresses import AddressesMutation
from schema.cart import CartMutation, CartQuery
from schema.catalog import CatalogQuery
from schema.live import LiveSubscription
from schema.orders import OrderChangesMutation, OrdersMutation, OrdersQuery
from schema.reviews import ReviewsMutation
from schema.staff import StaffMutation

__all__ = ["build_schema", "schema"]

Query = merge_types("Query", (CatalogQuery, AccountsQuery, CartQuery, OrdersQuery))
Query.__strawberry_definition__.description = "The entry points for reading the storefront."  # type: ignore[attr-defined]
Mutation = merge_types(
    "Mutation",
    (
        AccountsMutation,
        AddressesMutation,
        CartMutation,
        OrdersMutation,
        OrderChangesMutation,
        ReviewsMutation,
        StaffMutation,
    ),
)
Mutation.__strawberry_definition__.description = "The entry points for changing the storefront."  # type: ignore[attr-defined]


Subscription = merge_types("Subscription", (LiveSubscription,))
Subscription.__strawberry_definition__.description = "Live updates, over WebSocket or Server-Sent Events."  # type: ignore[attr-defined]


def build_schema() -> strawberry.Schema:
    """Build the GraphQL schema of Storefront BFF."""
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)


schema = build_schema()


def schema_sdl() -> str:
    """The schema in SDL, as committed in schema/schema.graphql."""
    return schema.as_str() + "\n"
