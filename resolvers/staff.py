"""Staff use cases: creating and changing products and variants, and adjusting stock.

Only a viewer whose token carries the STAFF role gets past `_staff`; anyone else is FORBIDDEN. Every bad
field is named at once; a product's derived columns (its lowest price) are recomputed with the product
row locked, and stock moves by one conditional UPDATE that never takes it below zero.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.catalog import writes
from app.catalog.slugs import SLUG_SHAPE, slugify
from app.context import Context
from app.db.ids import pk_of
from resolvers import events
from resolvers.accounts import AccountFailure, AccountFailures

__all__ = [
    "ProductChanges",
    "VariantChanges",
    "inventory_adjust",
    "product_create",
    "product_update",
    "variant_create",
    "variant_update",
]

MAX_TAGS = 30
MAX_TAG_LENGTH = 50
MAX_OPTIONS = 3
MAX_PRICE = Decimal("9999999999.99")
MAX_STOCK_DELTA = 1_000_000
SLUG_ATTEMPTS = 5
CONTROL = frozenset(chr(code) for code in (*range(32), 127))


@dataclass(frozen=True)
class ProductChanges:
    """A product's fields as the client sent them: None for a field left out."""

    title: str | None = None
    description: str | None = None
    vendor: str | None = None
    category_id: str | None = None
    tags: list[str] | None = None
    status: str | None = None
    slug: str | None = None


@dataclass(frozen=True)
class VariantChanges:
    """A variant's fields as the client sent them: None for a field left out."""

    sku: str | None = None
    title: str | None = None
    price: Decimal | None = None
    compare_at_price: Decimal | None = None
    clear_compare_at_price: bool = False
    options: list[tuple[str, str]] | None = None
    stock_quantity: int | None = None


def _staff(ctx: Context) -> None:
    viewer = ctx.viewer
    if viewer is None or not viewer.is_staff:
        raise AccountFailure("FORBIDDEN", "Only staff may change the catalog")


def _pk(id: str, type_name: str, field: tuple[str, ...], what: str) -> int:
    pk = pk_of(id, type_name)
    if pk is None:
        raise AccountFailure("NOT_FOUND", f"No {what} has this ID", field)
    return pk


class _Checks:
    """Collects the problems of an input, to report them all at once."""

    def __init__(self) -> None:
        self.failures: list[AccountFailure] = []

    def text(
        self,
        name: str,
        label: str,
        value: str | None,
        longest: int,
        *,
        required: bool,
        blank: bool = False,
        lines: bool = False,
    ) -> str | None:
        """A text field, trimmed: `required`, it must be given; `blank`, it may be empty when given."""
        if value is None:
            if required:
                self.fail(name, f"{label} is required")
            return None
        value = value.strip()
        allowed = {"\n", "\t", "\r"} if lines else set()
        if any(character in CONTROL and character not in allowed for character in value):
            self.fail(name, f"{label} must not contain control characters")
        elif not value and not blank:
            self.fail(name, f"{label} is required")
        elif len(value) > longest:
            self.fail(name, f"{label} must be at most {longest} characters long")
        return value

    def money(self, name: str, label: str, value: Decimal | None) -> Decimal | None:
        if value is None:
            return None
        if not value.is_finite() or value < 0 or value > MAX_PRICE or value != value.quantize(Decimal("0.01")):
            self.fail(name, f"{label} must be an amount from 0 to {MAX_PRICE} with at most two decimals")
        return value

    def fail(self, name: str, message: str) -> None:
        self.failures.append(AccountFailure("INVALID", message, ("input", name)))

    def done(self) -> None:
        if self.failures:
            raise AccountFailures(self.failures)


def _product_columns(changes: ProductChanges, *, creating: bool) -> tuple[dict[str, Any], int | None]:
    checks = _Checks()
    columns: dict[str, Any] = {}
    for name, column, label, longest, required, blank in (
        ("title", "title", "The title", 255, creating, False),
        ("description", "description", "The description", 20_000, False, True),
        ("vendor", "vendor", "The vendor", 120, creating, False),
    ):
        value = checks.text(name, label, getattr(changes, name), longest, required=required, blank=blank, lines=blank)
        if value is not None:
            columns[column] = value
    if changes.tags is not None:
        tags = [tag.strip() for tag in changes.tags]
        if len(tags) > MAX_TAGS or any(not tag or len(tag) > MAX_TAG_LENGTH or set(tag) & CONTROL for tag in tags):
            checks.fail("tags", f"Give at most {MAX_TAGS} tags of 1 to {MAX_TAG_LENGTH} characters each")
        columns["tags"] = list(dict.fromkeys(tags))
    if changes.status is not None:
        columns["status"] = changes.status
    if changes.slug is not None:
        slug = changes.slug.strip()
        if not SLUG_SHAPE.match(slug) or len(slug) > 200:
            checks.fail("slug", "The slug must be lower-case letters and digits joined by hyphens, up to 200")
        columns["slug"] = slug
    category = None
    if changes.category_id is not None:
        try:
            category = _pk(changes.category_id, "Category", ("input", "categoryId"), "category")
        except AccountFailure as failure:
            checks.failures.append(failure)
    checks.done()
    return columns, category


async def _set_category(ctx: Context, columns: dict[str, Any], category: int | None) -> None:
    if category is None:
        return
    if not await writes.category_exists(ctx.db, category):
        raise AccountFailure("NOT_FOUND", "No category has this ID", ("input", "categoryId"))
    columns["category_id"] = category


async def _free_slug(ctx: Context, title: str, attempt: int) -> str:
    """The first free slug of the title; after collisions with concurrent creates, one with a random end."""
    base = slugify(title)[:180].rstrip("-") or "product"
    if attempt >= 2:
        return f"{base}-{secrets.token_hex(3)}"
    slug, suffix = base, 2
    while await writes.slug_taken(ctx.db, slug):
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


async def _insert_product(ctx: Context, columns: dict[str, Any], *, generated_slug: bool) -> int:
    """Insert in a savepoint: a concurrent product that took the slug since it was checked fails only the
    insert; a generated slug then tries the next free one, a given one is TAKEN."""
    for attempt in range(SLUG_ATTEMPTS):
        if generated_slug:
            columns["slug"] = await _free_slug(ctx, columns["title"], attempt)
        try:
            async with ctx.db.transaction():
                return await writes.insert_product(ctx.db, columns)
        except IntegrityError:
            if not generated_slug:
                break
    raise AccountFailure("TAKEN", "Another product has this slug", ("input", "slug"))


async def product_create(ctx: Context, changes: ProductChanges) -> Any:
    """A new product (DRAFT unless a status is given), its slug made from its title unless given."""
    _staff(ctx)
    columns, category = _product_columns(changes, creating=True)
    columns.setdefault("status", "DRAFT")
    columns.setdefault("description", "")
    columns.setdefault("tags", [])
    async with ctx.db.transaction():
        await _set_category(ctx, columns, category)
        generated = "slug" not in columns
        if not generated and await writes.slug_taken(ctx.db, columns["slug"]):
            raise AccountFailure("TAKEN", "Another product has this slug", ("input", "slug"))
        product_id = await _insert_product(ctx, columns, generated_slug=generated)
        row = await writes.product_row(ctx.db, product_id)
    ctx.loaders.clear_every_cache()
    return row


async def product_update(ctx: Context, id: str, changes: ProductChanges) -> Any:
    """Change a product's fields (status ARCHIVED takes it off sale)."""
    _staff(ctx)
    product_id = _pk(id, "Product", ("id",), "product")
    columns, category = _product_columns(changes, creating=False)
    async with ctx.db.transaction():
        if await writes.product_row(ctx.db, product_id, lock=True) is None:
            raise AccountFailure("NOT_FOUND", "No product has this ID", ("id",))
        await _set_category(ctx, columns, category)
        if "slug" in columns and await writes.slug_taken(ctx.db, columns["slug"], other_than=product_id):
            raise AccountFailure("TAKEN", "Another product has this slug", ("input", "slug"))
        if columns:
            try:
                async with ctx.db.transaction():  # a savepoint: a slug taken meanwhile fails only this
                    await writes.update_product(ctx.db, product_id, columns)
            except IntegrityError:
                raise AccountFailure("TAKEN", "Another product has this slug", ("input", "slug")) from None
        row = await writes.product_row(ctx.db, product_id)
    ctx.loaders.clear_every_cache()
    return row


def _variant_columns(changes: VariantChanges, *, creating: bool) -> dict[str, Any]:
    checks = _Checks()
    columns: dict[str, Any] = {}
    sku = checks.text("sku", "The SKU", changes.sku, 64, required=creating)
    if sku is not None:
        columns["sku"] = sku
    # an empty title on create is made from the options; on update it is refused
    title = checks.text("title", "The title", changes.title, 255, required=False, blank=creating)
    if title:
        columns["title"] = title
    price = checks.money("price", "The price", changes.price)
    if price is not None:
        columns["price"] = price
    elif creating:
        checks.fail("price", "The price is required")
    compare_at = checks.money("compareAtPrice", "The compare-at price", changes.compare_at_price)
    if compare_at is not None:
        columns["compare_at_price"] = compare_at
    elif changes.clear_compare_at_price:
        columns["compare_at_price"] = None
    if changes.options is not None:
        options = [(name.strip(), value.strip()) for name, value in changes.options]
        names = [name for name, _ in options]
        bad = any(
            not name or not value or len(name) > 50 or len(value) > 100 or (set(name) | set(value)) & CONTROL
            for name, value in options
        )
        if len(options) > MAX_OPTIONS or bad or len(set(names)) != len(names):
            checks.fail("options", f"Give at most {MAX_OPTIONS} options with distinct names and non-empty values")
        columns["selected_options"] = [{"name": name, "value": value} for name, value in options]
    if changes.stock_quantity is not None:
        if not creating:
            checks.fail("stockQuantity", "Change stock with inventoryAdjust")
        elif not 0 <= changes.stock_quantity <= MAX_STOCK_DELTA:
            checks.fail("stockQuantity", f"The stock must be from 0 to {MAX_STOCK_DELTA}")
        columns["stock_quantity"] = changes.stock_quantity
    checks.done()
    return columns


def _title_of(columns: dict[str, Any]) -> str:
    options = columns.get("selected_options") or []
    return " / ".join(option["value"] for option in options) or "Default"


async def variant_create(ctx: Context, product_id: str, changes: VariantChanges) -> Any:
    """A new variant of a product, last in its order; the product's lowest price follows."""
    _staff(ctx)
    product = _pk(product_id, "Product", ("productId",), "product")
    columns = _variant_columns(changes, creating=True)
    columns.setdefault("title", _title_of(columns))
    columns.setdefault("selected_options", [])
    columns.setdefault("stock_quantity", 0)
    async with ctx.db.transaction():
        if await writes.product_row(ctx.db, product, lock=True) is None:
            raise AccountFailure("NOT_FOUND", "No product has this ID", ("productId",))
        columns["position"] = await writes.next_variant_position(ctx.db, product)
        try:
            async with ctx.db.transaction():  # a savepoint: a taken SKU fails only the insert
                variant_id = await writes.insert_variant(ctx.db, {"product_id": product, **columns})
        except IntegrityError:
            raise AccountFailure("TAKEN", "Another variant has this SKU", ("input", "sku")) from None
        await writes.refresh_min_price(ctx.db, product)
        row = await writes.variant_row(ctx.db, variant_id)
    ctx.loaders.clear_every_cache()
    return row


async def variant_update(ctx: Context, id: str, changes: VariantChanges) -> Any:
    """Change a variant's price, compare-at price, options, SKU or title; the product's lowest price follows."""
    _staff(ctx)
    variant_id = _pk(id, "ProductVariant", ("id",), "variant")
    columns = _variant_columns(changes, creating=False)
    async with ctx.db.transaction():
        found = await writes.variant_row(ctx.db, variant_id)
        if found is None:
            raise AccountFailure("NOT_FOUND", "No variant has this ID", ("id",))
        await writes.product_row(ctx.db, found.product_id, lock=True)  # its lowest price is recomputed
        if columns:
            try:
                async with ctx.db.transaction():
                    await writes.update_variant(ctx.db, variant_id, columns)
            except IntegrityError:
                raise AccountFailure("TAKEN", "Another variant has this SKU", ("input", "sku")) from None
            await writes.refresh_min_price(ctx.db, found.product_id)
        row = await writes.variant_row(ctx.db, variant_id)
        if row.price != found.price:
            events.publish_price(ctx.db, ctx.live, variant_id)
    ctx.loaders.clear_every_cache()
    return row


async def inventory_adjust(ctx: Context, variant_id: str, delta: int) -> Any:
    """Add `delta` to a variant's stock (negative to remove); never below zero (INSUFFICIENT_STOCK)."""
    _staff(ctx)
    pk = _pk(variant_id, "ProductVariant", ("variantId",), "variant")
    if not -MAX_STOCK_DELTA <= delta <= MAX_STOCK_DELTA:
        raise AccountFailure("INVALID", f"The change must be from -{MAX_STOCK_DELTA} to {MAX_STOCK_DELTA}", ("delta",))
    async with ctx.db.transaction():
        if not await writes.adjust_stock(ctx.db, pk, delta):
            if await writes.variant_row(ctx.db, pk) is None:
                raise AccountFailure("NOT_FOUND", "No variant has this ID", ("variantId",))
            raise AccountFailure("INSUFFICIENT_STOCK", "The stock cannot go below zero", ("delta",))
        row = await writes.variant_row(ctx.db, pk)
        events.publish_stock(ctx.db, ctx.live, pk, row.stock_quantity - delta, row.stock_quantity)
    ctx.loaders.clear_every_cache()
    return row
