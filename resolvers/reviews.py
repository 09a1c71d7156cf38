"""Review use cases: a signed-in customer reviews a product once; a customer's reviews, page by page."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from app.catalog import sql, writes
from app.catalog.loaders import (
    RatingByProductLoader,
    ReviewByIdLoader,
    ReviewCountByCustomerLoader,
    ReviewPageByCustomerLoader,
    ReviewPageByProductLoader,
)
from app.context import Context
from app.db.base import utcnow
from app.db.ids import pk_of
from app.db.pagination import PageArgs, PageOfRows, validate_window
from resolvers.accounts import AccountFailure, AccountFailures, signed_in_viewer

__all__ = ["customer_reviews", "review_create"]

MAX_TITLE_LENGTH = 200
MAX_BODY_LENGTH = 5000


def _product_id(id: str) -> int:
    pk = pk_of(id, "Product")
    if pk is None:
        raise AccountFailure("NOT_FOUND", "No product has this ID", ("input", "productId"))
    return pk


def _text_problem(label: str, value: str, longest: int, *, lines: bool) -> str | None:
    allowed = "\n\t\r" if lines else ""
    if any((ord(character) < 32 and character not in allowed) or ord(character) == 127 for character in value):
        return f"{label} must not contain control characters"
    if len(value) > longest:
        return f"{label} must be at most {longest} characters long"
    return None


def _checked(rating: int, title: str, body: str) -> tuple[str, str]:
    failures = []
    if not 1 <= rating <= 5:
        failures.append(AccountFailure("INVALID", "The rating must be from 1 to 5", ("input", "rating")))
    title, body = title.strip(), body.strip()
    for name, label, value, longest, lines in (
        ("title", "The title", title, MAX_TITLE_LENGTH, False),
        ("body", "The review", body, MAX_BODY_LENGTH, True),
    ):
        problem = _text_problem(label, value, longest, lines=lines)
        if problem is not None:
            failures.append(AccountFailure("INVALID", problem, ("input", name)))
    if failures:
        raise AccountFailures(failures)
    return title, body


async def review_create(ctx: Context, product_id: str, rating: int, title: str, body: str) -> Any:
    """The viewer's review of a visible product (one per product); the product's rating follows at once."""
    viewer = signed_in_viewer(ctx)
    product = _product_id(product_id)
    title, body = _checked(rating, title, body)
    async with ctx.db.transaction():
        if await writes.lock_visible_product(ctx.db, product) is None:
            raise AccountFailure("NOT_FOUND", "No product has this ID", ("input", "productId"))
        values = {
            "product_id": product,
            "customer_id": viewer.customer_id,
            "rating": rating,
            "title": title,
            "body": body,
            "created_at": utcnow(),
        }
        try:
            async with ctx.db.transaction():  # a savepoint: the customer's earlier review fails only this
                review_id = await writes.insert_review(ctx.db, values)
        except IntegrityError:
            raise AccountFailure("TAKEN", "You have already reviewed this product", ("input", "productId")) from None
        await writes.refresh_product_rating(ctx.db, product)
    for loader in (
        RatingByProductLoader,
        ReviewPageByProductLoader,
        ReviewPageByCustomerLoader,
        ReviewCountByCustomerLoader,
    ):
        ctx.loaders.clear_all(loader)
    return await ctx.loaders.get(ReviewByIdLoader).load(review_id)


async def customer_reviews(ctx: Context, row: Any, page: PageArgs) -> PageOfRows:
    """A page of a customer's reviews of visible products, newest first."""
    keyset = sql.REVIEW_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    result = await ctx.loaders.get(ReviewPageByCustomerLoader, window).load(row.id)

    async def count() -> int:
        return int(await ctx.loaders.get(ReviewCountByCustomerLoader).load(row.id))

    return PageOfRows(result, keyset, count)
