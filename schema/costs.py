"""What the schema's dearer fields cost, on top of the objects they return (see app.graphql.cost for the
rest of the prices: objects 1, scalars 0, lists and connections by their size, mutations 10)."""

from __future__ import annotations

__all__ = ["COST_WEIGHTS", "LIST_SIZES"]

from resolvers.staff import MAX_OPTIONS

COST_WEIGHTS: dict[str, int] = {
    # an exact COUNT over the filtered rows, whatever the page size
    "*.totalCount": 10,
    # a text search scans titles and descriptions
    "Query.products(filter.query)": 10,
    "Category.products(filter.query)": 10,
}

# the most items of lists without a page size, where the data keeps a bound (others are assumed to hold 10)
LIST_SIZES: dict[str, int] = {
    "ProductVariant.selectedOptions": MAX_OPTIONS,  # a product has at most this many options
}
