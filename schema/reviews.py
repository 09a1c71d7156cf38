"""The review mutation of a signed-in customer; its logic lives in `resolvers.reviews`."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry import Info

from resolvers import reviews
from schema.accounts import AccountError, payload_of
from schema.catalog import Review

__all__ = ["ReviewsMutation"]


@strawberry.input(description="A review of a product by the signed-in customer.")
class ReviewCreateInput:
    product_id: strawberry.ID = strawberry.field(description="The product's ID.")
    rating: int = strawberry.field(description="The rating, from 1 to 5.")
    title: str = strawberry.field(default="", description="A headline, up to 200 characters.")
    body: str = strawberry.field(default="", description="The review, up to 5,000 characters.")


@strawberry.type(description="The result of `reviewCreate`.")
class ReviewCreatePayload:
    review: Review | None = strawberry.field(default=None, description="The new review.")
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


async def _review(row: Any) -> dict[str, Any]:
    return {"review": Review.from_row(row)}


@strawberry.type
class ReviewsMutation:
    @strawberry.mutation(
        description="Review a product (signed-in customers only, once per product); its rating follows at once."
    )
    async def review_create(
        self, info: Info, input: Annotated[ReviewCreateInput, strawberry.argument(description="The review.")]
    ) -> ReviewCreatePayload:
        work = reviews.review_create(info.context, input.product_id, input.rating, input.title, input.body)
        return await payload_of(ReviewCreatePayload, work, _review)
