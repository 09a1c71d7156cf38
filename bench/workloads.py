"""The benchmark's workloads: one GraphQL request each, and the limit server endpoint that answers it.

W4 (a mutation: cartLinesAdd on a fresh cart per request) is still to come: the cart exists now, the
workload and its hand-written limit do not yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["WORKLOADS", "Workload", "pick_variables"]

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


@dataclass(frozen=True)
class Workload:
    """One request shape: its key (also the limit server's path), a title, and the GraphQL document."""

    key: str
    title: str
    query: str

    def body(self, variables: dict[str, Any] | None) -> bytes:
        """The JSON body POSTed to both servers (the limit server reads only the variables)."""
        payload: dict[str, Any] = {"query": self.query}
        if variables:
            payload["variables"] = variables
        return orjson.dumps(payload)


WORKLOADS = (
    Workload("w1", "W1 listing: 100 products with category and variants", LISTING),
    Workload("w2", "W2 product page: variants, images, reviews, rating, 8 of the category", PRODUCT_PAGE),
    Workload("w3", "W3 search: 2 words and a price range, by price, first 24", SEARCH),
)


async def pick_variables(url: str) -> dict[str, dict[str, Any] | None]:
    """Variables of each workload for the seeded catalog: the product page shows the visible product with
    the most reviews, then images, then the smallest id (deterministic for a seed)."""
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
    finally:
        await engine.dispose()
    return {"w1": None, "w2": {"slug": slug}, "w3": dict(SEARCH_VARIABLES)}
