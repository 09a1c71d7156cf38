"""Cart use cases: carts for guests and customers, their lines, and a guest cart merged at sign-in.

A cart's ID carries its random token, so only who was given the ID can reach a guest's cart; a customer's
cart is theirs (and staff's) alone. Every change locks the cart row first, so concurrent changes to one
cart apply one after another. Prices are never stored: the catalog is read whenever a cart is.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.accounts.loaders import CustomerByIdLoader
from app.accounts.tokens import new_secret
from app.cart import sql
from app.cart.loaders import CartByTokenLoader, CartLinePageByCartLoader, CartTotalsByCartLoader
from app.catalog.loaders import VariantByIdLoader
from app.context import Context
from app.db.base import utcnow
from app.db.database import RequestDatabase
from app.db.ids import pk_of
from app.db.pagination import PageArgs, PageOfRows, validate_window
from app.errors import DomainError, DomainErrors
from resolvers import events
from resolvers.emails import normalise_email, valid_email

__all__ = [
    "CartFailure",
    "CartFailures",
    "LineInput",
    "cart",
    "cart_create",
    "cart_id_of",
    "cart_lines",
    "cart_lines_add",
    "cart_lines_remove",
    "cart_lines_update",
    "cart_token",
    "carts_buyers",
    "carts_totals",
    "line_id_of",
    "lines_merchandise",
    "may_see_cart",
    "merge_guest_cart",
]


class CartFailure(DomainError):
    """An expected failure of a cart operation, shown as a payload error."""

    def __init__(self, code: str, message: str, field: tuple[str | int, ...] | None = None) -> None:
        super().__init__(message, field=tuple(str(part) for part in field) if field else None, code=code)


class CartFailures(DomainErrors):
    """Several expected failures at once (one per line at fault)."""


@dataclass(frozen=True)
class LineInput:
    """A variant and a quantity, as the client sent them."""

    merchandise_id: str
    quantity: int


# --------------------------------------------------------------------------- IDs


def _encode(kind: str, value: str | int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def _decode(kind: str, id: str) -> str | None:
    if not id or len(id) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(id + "=" * (-len(id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    found, _, value = raw.partition(":")
    # tokens are printable ASCII; anything else names no cart (and a NUL must not reach PostgreSQL)
    return value if found == kind and value and value.isascii() and value.isprintable() else None


def cart_id_of(row: Any) -> str:
    """The opaque ID of a cart: its token, which only who was given the ID knows."""
    return _encode("Cart", row.token)


def cart_token(id: str) -> str | None:
    """The token a cart ID carries, or None when it is not a cart ID."""
    return _decode("Cart", id)


def line_id_of(row: Any) -> str:
    """The opaque ID of a cart line."""
    return _encode("CartLine", row.id)


def _line_pk(id: str) -> int | None:
    value = _decode("CartLine", id)
    if value is None or not (value.isascii() and value.isdigit()) or len(value) >= 10:
        return None  # str.isdigit alone takes "²", which int() refuses
    return int(value)


# --------------------------------------------------------------------------- reading


def may_see_cart(ctx: Context, row: Any) -> bool:
    """Whether the viewer may read this cart: an open guest cart for whoever has its ID, a customer's for
    that customer and staff."""
    if row is None or row.status != "OPEN":
        return False
    if row.customer_id is None:
        return True
    viewer = ctx.viewer
    return viewer is not None and (viewer.is_staff or viewer.customer_id == row.customer_id)


async def cart(ctx: Context, id: str) -> Any:
    """The open cart of an ID, or None (unknown, closed, or a customer's cart asked for by someone else)."""
    token = _decode("Cart", id)
    if token is None:
        return None
    row = await ctx.loaders.get(CartByTokenLoader).load(token)
    return row if may_see_cart(ctx, row) else None


async def cart_lines(ctx: Context, row: Any, page: PageArgs) -> PageOfRows:
    """A page of a cart's lines, oldest first."""
    keyset = sql.LINE_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    result = await ctx.loaders.get(CartLinePageByCartLoader, window).load(row.id)

    async def count() -> int:
        totals = await ctx.loaders.get(CartTotalsByCartLoader).load(row.id)
        return 0 if totals is None else int(totals.line_count)

    return PageOfRows(result, keyset, count)


async def carts_totals(ctx: Context, rows: list[Any]) -> list[Any]:
    """Each cart's totals (quantity, subtotal of what can be bought now); None for an empty cart."""
    return list(await ctx.loaders.get(CartTotalsByCartLoader).load_many([row.id for row in rows]))


async def carts_buyers(ctx: Context, rows: list[Any]) -> list[tuple[Any, Any]]:
    """Each cart with its customer's row (None for a guest's cart), one statement for the level."""
    owned = [row.customer_id for row in rows if row.customer_id is not None]
    found = iter(await ctx.loaders.get(CustomerByIdLoader).load_many(owned))
    return [(row, next(found) if row.customer_id is not None else None) for row in rows]


async def lines_merchandise(ctx: Context, rows: list[Any]) -> list[Any]:
    """Each line's variant, or None once its product is off sale (the line stays, unavailable)."""
    loader = ctx.loaders.get(VariantByIdLoader, ctx.columns_of("ProductVariant"))
    return list(await loader.load_many([row.variant_id for row in rows]))


# --------------------------------------------------------------------------- changing


async def _wanted(db: RequestDatabase, lines: list[LineInput]) -> dict[int, int]:
    """Variant id -> quantity of the lines given (the same variant twice is one line); every line at fault
    named, in order: a quantity out of range, or an ID of no variant on sale."""
    failures: dict[int, CartFailure] = {}
    variants: dict[int, int] = {}
    for index, line in enumerate(lines):
        variant = pk_of(line.merchandise_id, "ProductVariant")
        if variant is None:
            failures[index] = _unknown_variant(index)
            continue
        variants[index] = variant
        if not 1 <= line.quantity <= sql.MAX_QUANTITY:
            failures[index] = _bad_quantity(("input", "lines", index, "quantity"))
    on_sale = await sql.visible_variants(db, sorted(set(variants.values())))
    for index, variant in variants.items():
        if variant not in on_sale:
            failures.setdefault(index, _unknown_variant(index))
    if failures:
        raise CartFailures([failures[index] for index in sorted(failures)])
    wanted: dict[int, int] = {}
    for index, line in enumerate(lines):
        wanted[variants[index]] = wanted.get(variants[index], 0) + line.quantity
    return wanted


def _unknown_variant(index: int) -> CartFailure:
    field = ("input", "lines", index, "merchandiseId")
    return CartFailure("NOT_FOUND", "No variant on sale has this ID", field)


def _bad_quantity(field: tuple[str | int, ...]) -> CartFailure:
    return CartFailure("INVALID_QUANTITY", f"A quantity must be from 1 to {sql.MAX_QUANTITY}", field)


async def _add(db: RequestDatabase, cart_id: int, wanted: dict[int, int], *, cap: bool) -> bool:
    """Merge quantities into a cart's lines. Without `cap`, a sum past 99 fails; with it, it stops at 99.
    False (nothing changed) when the lines would exceed the limit and `cap` is set."""
    current = {line.variant_id: line for line in await sql.lines_of(db, cart_id)}
    if len(set(current) | set(wanted)) > sql.MAX_LINES:
        if cap:
            return False
        raise CartFailure("TOO_MANY_LINES", f"A cart holds at most {sql.MAX_LINES} lines", ("input", "lines"))
    now = utcnow()
    for variant, quantity in wanted.items():
        line = current.get(variant)
        total = quantity + (line.quantity if line is not None else 0)
        if total > sql.MAX_QUANTITY:
            if not cap:
                raise _bad_quantity(("input", "lines"))
            total = sql.MAX_QUANTITY
        if line is None:
            await sql.insert_line(db, cart_id, variant, total, now)
        elif total != line.quantity:
            await sql.set_line_quantity(db, line.id, total)
    return True


async def _locked(ctx: Context, cart_id: str) -> Any:
    token = _decode("Cart", cart_id)
    row = await sql.lock_cart(ctx.db, token) if token is not None else None
    if not may_see_cart(ctx, row):
        raise CartFailure("NOT_FOUND", "No open cart of yours has this ID", ("cartId",))
    return row


async def _changed(ctx: Context, row: Any) -> None:
    """After a change: the cart's `updated_at` moves, and its subscribers hear of it."""
    await sql.set_cart(ctx.db, row.id, updated_at=utcnow())
    events.publish_cart(ctx.db, ctx.live, row.id, row.token)


def _forget(ctx: Context) -> None:
    for loader in (CartByTokenLoader, CartLinePageByCartLoader, CartTotalsByCartLoader):
        ctx.loaders.clear_all(loader)


async def _reloaded(ctx: Context, row: Any) -> Any:
    """The cart as it is now: the request's loaders forget what they read before the change."""
    _forget(ctx)
    return await ctx.loaders.get(CartByTokenLoader).load(row.token)


async def cart_create(ctx: Context, lines: list[LineInput], email: str | None = None) -> Any:
    """A cart with these lines. A signed-in customer has one open cart: theirs gets the lines if it exists."""
    if email is not None:
        email = normalise_email(email)
        if not valid_email(email):
            raise CartFailure("INVALID", "Enter a valid email address", ("input", "buyerIdentity", "email"))
    viewer = ctx.viewer
    async with ctx.db.transaction():
        wanted = await _wanted(ctx.db, lines)
        row = await _open_cart(ctx, viewer.customer_id if viewer is not None else None, email)
        await _add(ctx.db, row.id, wanted, cap=False)
        await _changed(ctx, row)
    return await _reloaded(ctx, row)


async def _open_cart(ctx: Context, customer_id: int | None, email: str | None) -> Any:
    if customer_id is not None:
        found = await sql.open_cart_of(ctx.db, customer_id)
        if found is not None:
            return found
    try:
        async with ctx.db.transaction():  # a savepoint: a concurrent first cart of the customer wins
            return await sql.insert_cart(ctx.db, new_secret(), customer_id, email, utcnow())
    except IntegrityError:
        assert customer_id is not None  # tokens are random: only the one-open-cart index can refuse
        return await sql.open_cart_of(ctx.db, customer_id)


async def cart_lines_add(ctx: Context, cart_id: str, lines: list[LineInput]) -> Any:
    """Add lines; a variant already in the cart adds to its line (at most 99)."""
    async with ctx.db.transaction():
        row = await _locked(ctx, cart_id)
        wanted = await _wanted(ctx.db, lines)
        await _add(ctx.db, row.id, wanted, cap=False)
        await _changed(ctx, row)
    return await _reloaded(ctx, row)


async def cart_lines_update(ctx: Context, cart_id: str, updates: list[tuple[str, int]]) -> Any:
    """Set the quantities of lines (1-99)."""
    failures: list[CartFailure] = []
    wanted: dict[int, int] = {}
    for index, (line_id, quantity) in enumerate(updates):
        pk = _line_pk(line_id)
        if pk is None:
            failures.append(CartFailure("NOT_FOUND", "No line of this cart has this ID", ("lines", index, "id")))
        elif not 1 <= quantity <= sql.MAX_QUANTITY:
            failures.append(_bad_quantity(("lines", index, "quantity")))
        else:
            wanted[pk] = quantity
    if failures:
        raise CartFailures(failures)
    async with ctx.db.transaction():
        row = await _locked(ctx, cart_id)
        existing = {line.id for line in await sql.lines_of(ctx.db, row.id)}
        missing = [index for index, (line_id, _) in enumerate(updates) if _line_pk(line_id) not in existing]
        if missing:
            raise CartFailures(
                [CartFailure("NOT_FOUND", "No line of this cart has this ID", ("lines", i, "id")) for i in missing]
            )
        for pk, quantity in wanted.items():
            await sql.set_line_quantity(ctx.db, pk, quantity)
        await _changed(ctx, row)
    return await _reloaded(ctx, row)


async def cart_lines_remove(ctx: Context, cart_id: str, line_ids: list[str]) -> Any:
    """Remove lines."""
    async with ctx.db.transaction():
        row = await _locked(ctx, cart_id)
        existing = {line.id for line in await sql.lines_of(ctx.db, row.id)}
        pks = [_line_pk(line_id) for line_id in line_ids]
        missing = [index for index, pk in enumerate(pks) if pk not in existing]
        if missing:
            raise CartFailures(
                [CartFailure("NOT_FOUND", "No line of this cart has this ID", ("lineIds", i)) for i in missing]
            )
        await sql.delete_lines(ctx.db, row.id, [pk for pk in pks if pk is not None])
        await _changed(ctx, row)
    return await _reloaded(ctx, row)


async def merge_guest_cart(ctx: Context, customer_id: int, cart_id: str) -> None:
    """At sign-in: a guest cart becomes the customer's, or its lines join the customer's open cart
    (quantities added, at most 99 each) and it is closed as MERGED. Anything else (unknown, closed,
    another customer's) is left alone; a merge that would pass 100 lines is not made."""
    token = _decode("Cart", cart_id)
    if token is None:
        return
    async with ctx.db.transaction():
        guest = await sql.lock_cart(ctx.db, token)
        if guest is None or guest.status != "OPEN" or guest.customer_id is not None:
            return
        mine = await sql.open_cart_of(ctx.db, customer_id)
        if mine is None:
            try:
                async with ctx.db.transaction():  # a savepoint: a first cart of the customer made meanwhile
                    await sql.set_cart(ctx.db, guest.id, customer_id=customer_id, updated_at=utcnow())
                    mine = None
            except IntegrityError:
                mine = await sql.open_cart_of(ctx.db, customer_id)
        if mine is not None:
            wanted = {line.variant_id: line.quantity for line in await sql.lines_of(ctx.db, guest.id)}
            if await _add(ctx.db, mine.id, wanted, cap=True):
                await sql.set_cart(ctx.db, guest.id, status="MERGED", updated_at=utcnow())
                await sql.set_cart(ctx.db, mine.id, updated_at=utcnow())
                events.publish_cart(ctx.db, ctx.live, mine.id, mine.token)
        events.publish_cart(ctx.db, ctx.live, guest.id, guest.token)
    _forget(ctx)
