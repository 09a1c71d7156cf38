"""The benchmark's workloads: one GraphQL request each, and the limit server endpoint that answers it.

W4 is a mutation, `cartLinesAdd`, each request on a fresh empty cart (see `bench.carts`): its body names the
cart with `CART_ID_SLOT`, filled in per request, and its answers differ from cart to cart only by their IDs,
which `Workload.comparable` blanks before answers are compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.ids import encode_global_id

__all__ = [
    "BY_KEY",
    "CART_ID_SLOT",
    "WORKLOADS",
    "Workload",
    "mutation_cart_id",
    "payload_errors",
    "pick_variables",
    "with_cart",
]

LISTING = """query Listing {
  products(first: 100) {
    nodes { id title category { name } variants { sku price { amount currencyCode } quantityAvailable } }
  }
}"""

PRODUCT_PAGE = """query ProductPage($slug: String!) {
  product(slug: $slug) {
    id slug title description vendor tags availableForSale
    priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
    rating { average count }
    variants {
      id sku title selectedOptions { name value } price { amount currencyCode }
      compareAtPrice { amount currencyCode } quantityAvailable availableForSale
    }
    images(first: 10) { id url(width: 1200) altText width height }
    reviews(first: 10) { nodes { id rating title body createdAt author { displayName } } pageInfo { hasNextPage } }
    category {
      id name slug
      products(first: 8) {
        nodes {
          id slug title priceRange { minVariantPrice { amount currencyCode } } featuredImage { url(width: 400) altText }
        }
      }
    }
  }
}"""

SEARCH = """query Search($query: String!, $min: Decimal!, $max: Decimal!) {
  products(first: 24, sortKey: PRICE, filter: { query: $query, price: { min: $min, max: $max } }) {
    nodes {
      id slug title vendor
      priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
      featuredImage { url(width: 400) altText }
      rating { average count }
    }
  }
}"""

SEARCH_VARIABLES = {"query": "organic cotton", "min": "20.00", "max": "60.00"}

# The quantity is a variable, not a literal: the limit reads only the variables, and checks its bounds.
CART_LINES_ADD = """mutation CartLinesAdd($cartId: ID!, $variantId: ID!, $quantity: Int!) {
  cartLinesAdd(cartId: $cartId, lines: [{ merchandiseId: $variantId, quantity: $quantity }]) {
    cart {
      id totalQuantity
      lines(first: 10) {
        nodes {
          id quantity
          merchandise { ... on ProductVariant { sku price { amount currencyCode } } }
          cost { totalAmount { amount currencyCode } }
        }
      }
      cost { subtotalAmount { amount currencyCode } }
    }
    errors { field message code }
  }
}"""

# Stands for the cart's ID in a W4 body; bench/wrk_post.lua and the gate put a fresh cart's ID there.
CART_ID_SLOT = "@cart-id@"
_ID_FIELD = re.compile(rb'"id":"[^"]*"')  # the same pattern as wrk_post.lua's blank_ids
# the trailing `"extensions"` member of a response (orjson writes it last, with no space): wrk_post.lua's
# without_extensions; its object holds objects at most two deep
_EXTENSIONS = re.compile(rb',"extensions":\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\}\}$')


@dataclass(frozen=True)
class Workload:
    """One request shape: its key (also the limit server's path), a title, and the GraphQL document."""

    key: str
    title: str
    query: str
    fresh_cart: bool = False  # each request adds to a new empty cart, named by the `cartId` variable

    def body(self, variables: dict[str, Any] | None, cart_id: str = CART_ID_SLOT) -> bytes:
        """The JSON body POSTed to both servers (the limit server reads only the variables). A fresh-cart
        workload's body names `cart_id`, by default the slot each request fills in (`with_cart`)."""
        payload: dict[str, Any] = {"query": self.query}
        if self.fresh_cart:
            variables = {"cartId": cart_id, **(variables or {})}
        if variables:
            payload["variables"] = variables
        return orjson.dumps(payload)

    def comparable(self, answer: bytes) -> bytes:
        """An answer as the checks compare it: without its `extensions` (the cost report: what the client's
        bucket holds changes from request to request, and the limit server reports none), and on fresh
        carts with every `"id"` blanked (the cart's and its lines' IDs differ from request to request)."""
        answer = _EXTENSIONS.sub(b"}", answer)
        return _ID_FIELD.sub(b'"id":""', answer) if self.fresh_cart else answer


def with_cart(body: bytes, cart_id: str) -> bytes:
    """A fresh-cart body with its slot filled in."""
    return body.replace(CART_ID_SLOT.encode(), cart_id.encode())


def payload_errors(decoded: dict[str, Any]) -> list[Any]:
    """The `errors` of the mutation payloads in a GraphQL answer (an expected failure, answered with data)."""
    data = decoded.get("data") or {}
    return [error for field in data.values() if isinstance(field, dict) for error in field.get("errors") or []]


def mutation_cart_id(decoded: dict[str, Any]) -> str | None:
    """The ID of the cart a cart mutation's answer shows, None when it shows none."""
    for field in (decoded.get("data") or {}).values():
        if isinstance(field, dict) and isinstance(field.get("cart"), dict):
            return field["cart"].get("id")  # type: ignore[no-any-return]
    return None


WORKLOADS = (
    Workload("w1", "W1 listing: 100 products with category and variants", LISTING),
    Workload("w2", "W2 product page: variants, images, reviews, rating, 8 of the category", PRODUCT_PAGE),
    Workload("w3", "W3 search: 2 words and a price range, by price, first 24", SEARCH),
    Workload("w4", "W4 cart add: cartLinesAdd of 1 variant to a fresh empty cart per request", CART_LINES_ADD, True),
)
BY_KEY = {workload.key: workload for workload in WORKLOADS}


async def pick_variables(url: str) -> dict[str, dict[str, Any] | None]:
    """Variables of each workload for the seeded catalog: the product page shows the visible product with
    the most reviews, then images, then the smallest id (deterministic for a seed); the cart gets one of
    the first variant in stock of a visible product (its cart ID is added per request)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            slug = (
                await connection.execute(
                    text(
                        "SELECT p.slug FROM products p WHERE p.status = 'ACTIVE' AND p.category_id IS NOT NULL "
                        "ORDER BY (SELECT count(*) FROM reviews r WHERE r.product_id = p.id) DESC, "
                        "(SELECT count(*) FROM product_images i WHERE i.product_id = p.id) DESC, p.id LIMIT 1"
                    )
                )
            ).scalar_one()
            variant = (
                await connection.execute(
                    text(
                        "SELECT v.id FROM product_variants v JOIN products p ON p.id = v.product_id "
                        "WHERE p.status = 'ACTIVE' AND v.stock_quantity > 0 ORDER BY v.id LIMIT 1"
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return {
        "w1": None,
        "w2": {"slug": slug},
        "w3": dict(SEARCH_VARIABLES),
        "w4": {"variantId": encode_global_id("ProductVariant", variant), "quantity": 1},
    }
