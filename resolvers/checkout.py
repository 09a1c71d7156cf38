"""Checkout: a cart becomes an order in one transaction, never overselling, and exactly once per key.

The cart row is locked first, so two checkouts of one cart (a retried request) apply one after the other:
the second finds the order the first made under the same idempotency key and answers with it. Each line's
stock is taken by a conditional UPDATE that never goes below zero; if any line lacks stock, or the payment
is declined, the transaction rolls back and nothing changes. The order's idempotency key is unique in the
database, so the same key on two carts at once cannot make two orders.

A provider behind the network (`reserves_first`: stripe) is asked only after that transaction commits the
order as PAYMENT_PENDING with its stock taken, so no row stays locked while the gateway answers and a crash
between the two leaves an order the sweeper cancels at PAYMENT_TIMEOUT. If the provider cannot be reached,
the client retries with the same key and the provider is asked again under the order's idempotency key; if
it refuses the payment outright, the order is undone (stock returned, cart reopened).

The guest's access token is derived from the key (HMAC with SECRET_KEY), so every retry of one checkout
gets the same answer; only its digest is stored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.accounts.loaders import CustomerByIdLoader
from app.cart import sql as carts
from app.context import Context
from app.db.base import utcnow
from app.errors import DomainError, DomainErrors
from app.orders import sql
from app.orders.payments import PaymentConflict, PaymentProvider, PaymentResult, PaymentUnavailable
from resolvers import events
from resolvers.accounts import AccountFailures, normalise_email, valid_email
from resolvers.addresses import AddressFields, clean_address
from resolvers.cart import cart_token, line_id_of

__all__ = [
    "Checkout",
    "CheckoutFailure",
    "CheckoutFailures",
    "CheckoutRequest",
    "access_digest",
    "access_token",
    "checkout_complete",
]

MAX_KEY_LENGTH = 200
CENT = Decimal("0.01")


class CheckoutFailure(DomainError):
    """An expected failure of checkout, shown as a payload error."""

    def __init__(self, code: str, message: str, field: tuple[str, ...] | None = None) -> None:
        super().__init__(message, field=field, code=code)


class CheckoutFailures(DomainErrors):
    """Several expected failures at once."""


@dataclass(frozen=True)
class CheckoutRequest:
    """A checkout as the client sent it."""

    cart_id: str
    idempotency_key: str
    email: str | None
    shipping_address: AddressFields
    provider: str
    token: str


@dataclass(frozen=True)
class Checkout:
    """The order a checkout made (or found again), the guest's access token to it, and, for a provider the
    client confirms with, the payment's client secret."""

    order: Any
    access_token: str
    client_secret: str | None = None


def access_token(ctx: Context, idempotency_key: str, stored_digest: str | None = None) -> str:
    """The guest's access token of the order made under this key (the same for every retry). With the
    digest stored, the token of whichever key made it: the current one or, after a rotation, the previous."""
    settings = ctx.settings
    secrets = [settings.secret_key.reveal()]
    if settings.secret_key_previous is not None:
        secrets.append(settings.secret_key_previous.reveal())
    tokens = [
        hmac.new(s.encode(), f"order-access:{idempotency_key}".encode(), hashlib.sha256).hexdigest() for s in secrets
    ]
    if stored_digest is not None:
        for token in tokens:
            if hmac.compare_digest(access_digest(token), stored_digest):
                return token
    return tokens[0]


def access_digest(token: str) -> str:
    """What is stored of an access token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _checked(ctx: Context, request: CheckoutRequest) -> tuple[str, dict[str, str], PaymentProvider]:
    failures: list[CheckoutFailure] = []
    key = request.idempotency_key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        failures.append(
            CheckoutFailure(
                "INVALID", "The idempotency key must be 1 to 200 printable characters", ("input", "idempotencyKey")
            )
        )
    email = normalise_email(request.email) if request.email else ""
    if email and not valid_email(email):
        failures.append(CheckoutFailure("INVALID", "Enter a valid email address", ("input", "email")))
    address: dict[str, str] = {}
    try:
        address = clean_address(request.shipping_address, creating=True, at=("input", "shippingAddress"))
    except AccountFailures as problems:
        failures += [CheckoutFailure("INVALID", p.message, tuple(p.field or ())) for p in problems.failures]
    provider = ctx.payments.named(request.provider)
    if provider is None:
        failures.append(
            CheckoutFailure(
                "INVALID", f"No payment provider {request.provider!r} here", ("input", "payment", "provider")
            )
        )
    elif not provider.reserves_first and not request.token:
        failures.append(CheckoutFailure("INVALID", "Give the payment token", ("input", "payment", "token")))
    if failures:
        raise CheckoutFailures(failures)
    assert provider is not None
    return email, address, provider


async def checkout_complete(ctx: Context, request: CheckoutRequest) -> Checkout:
    """Make the order of a cart: stock taken, prices copied, payment authorised, cart closed; or nothing.
    With a provider behind the network, the order is committed first and the provider asked after."""
    email, address, provider = _checked(ctx, request)
    key = request.idempotency_key.strip()
    order = await _reserve(ctx, request, key, email, address, provider)
    done = Checkout(order, access_token(ctx, key, order.access_digest))
    reserved_with = ctx.payments.named(order.payment_provider)
    if order.status == "PAYMENT_PENDING" and reserved_with is not None and reserved_with.reserves_first:
        return await _pay_reserved(ctx, done, reserved_with, request.token)
    return done


async def _reserve(
    ctx: Context, request: CheckoutRequest, key: str, email: str, address: dict[str, str], provider: PaymentProvider
) -> Any:
    """The order of this key: made now in one transaction (the cart locked), or the one a retry made."""
    token = cart_token(request.cart_id)
    try:
        async with ctx.db.transaction():
            cart = await carts.lock_cart(ctx.db, token) if token is not None else None
            existing = await sql.order_by_key(ctx.db, key)
            if existing is not None:
                return _again(ctx, existing, cart, request.provider)
            if cart is None or not _may_check_out(ctx, cart):
                raise CheckoutFailure("NOT_FOUND", "No open cart of yours has this ID", ("input", "cartId"))
            order_id = await _order(
                ctx, cart, key, email or await _email_of(ctx, cart), address, provider, request.token
            )
    except IntegrityError:  # the same key on another cart, committed meanwhile
        existing = await sql.order_by_key(ctx.db, key)
        if existing is None:
            raise
        cart = await carts.cart_by_token(ctx.db, token) if token is not None else None
        return _again(ctx, existing, cart, request.provider)
    return await sql.order_row(ctx.db, order_id)


def _again(ctx: Context, existing: Any, cart: Any, provider: str) -> Any:
    """A retry: the order this key made, for who may reach that cart and that order."""
    viewer = ctx.viewer
    owner = existing.customer_id if existing.customer_id is not None else getattr(cart, "customer_id", None)
    if owner is not None and (viewer is None or viewer.customer_id != owner):
        raise CheckoutFailure("NOT_FOUND", "No open cart of yours has this ID", ("input", "cartId"))
    if cart is None or existing.cart_id != cart.id:
        raise CheckoutFailure(
            "IDEMPOTENCY_KEY_REUSED", "This idempotency key was used for another cart", ("input", "idempotencyKey")
        )
    if existing.payment_provider != provider:
        raise CheckoutFailure(
            "IDEMPOTENCY_KEY_REUSED",
            "This idempotency key was used with another payment provider",
            ("input", "payment", "provider"),
        )
    return existing


async def _pay_reserved(ctx: Context, done: Checkout, provider: PaymentProvider, token: str) -> Checkout:
    """Ask a network provider for the committed order's payment, holding no pooled connection while it
    answers. Its idempotency key is the order's (and the attempt's), so every retry of the checkout gets the
    same payment and client secret back. What the provider made is kept only if the order, locked, still
    waits for it; otherwise (cancelled or undone meanwhile) that payment is cancelled at the provider."""
    order = done.order
    await ctx.db.release_connection()
    result = await _authorize(ctx, provider, order, token)
    async with ctx.db.transaction():
        current = await sql.lock_order(ctx.db, order.id)
        kept = await _settle(ctx, current, result, utcnow())
    if result.outcome == "declined":
        raise CheckoutFailure("PAYMENT_DECLINED", "The payment was declined; nothing was charged", ("input", "payment"))
    if not kept:
        if result.reference and (current is None or current.payment_reference != result.reference):
            await provider.cancel(result.reference)
        if current is None or current.status == "PAYMENT_PENDING":  # another attempt's payment was kept
            raise _unavailable()
        return Checkout(current, done.access_token)
    return Checkout(await sql.order_row(ctx.db, order.id), done.access_token, result.client_secret)


async def _authorize(ctx: Context, provider: PaymentProvider, order: Any, token: str) -> PaymentResult:
    key = order.idempotency_key if order.payment_attempt == 0 else f"{order.idempotency_key}#{order.payment_attempt}"
    try:
        return await provider.authorize(order.total, order.currency_code, token, key)
    except PaymentConflict:
        raise CheckoutFailure(
            "IDEMPOTENCY_KEY_REUSED",
            "This idempotency key was used with other payment details",
            ("input", "payment", "token"),
        ) from None
    except PaymentUnavailable:
        async with ctx.db.transaction():  # the provider may keep its failed answer under that key
            await sql.next_payment_attempt(ctx.db, order.id, order.payment_attempt)
        raise _unavailable() from None


def _unavailable() -> CheckoutFailure:
    return CheckoutFailure(
        "PAYMENT_UNAVAILABLE",
        "The payment provider could not be reached and nothing was charged; retry with the same idempotency key",
        ("input", "payment"),
    )


async def _settle(ctx: Context, current: Any, result: PaymentResult, now: datetime) -> bool:
    """Record the provider's answer on the locked order if it still waits for this payment: its reference,
    and PAID if it succeeded; a refusal undoes an order nothing was ever made to pay. Whether it was kept."""
    if current is None or current.status != "PAYMENT_PENDING":
        return False
    if current.payment_reference not in (None, result.reference):
        return False
    if result.outcome == "declined":
        if current.payment_reference is None:
            await _forget(ctx, current, now)
        return False
    await sql.set_order(ctx.db, current.id, payment_reference=result.reference)
    if result.outcome == "succeeded" and await sql.move_status(ctx.db, current.id, ("PAYMENT_PENDING",), "PAID", now):
        await sql.set_order(ctx.db, current.id, processed_at=now)
        events.publish_order(ctx.db, ctx.live, current.id)
    return True


async def _forget(ctx: Context, order: Any, now: Any) -> None:
    """Undo a reserved order whose payment was refused outright, as if the checkout never happened: stock
    returned (once: only the move out of PAYMENT_PENDING that happens does it), order removed, cart open."""
    if not await sql.move_status(ctx.db, order.id, ("PAYMENT_PENDING",), "CANCELLED", now):
        return
    events.publish_stock_returned(ctx.db, ctx.live, await sql.return_stock(ctx.db, order.id))
    await sql.delete_order(ctx.db, order.id)
    try:
        async with ctx.db.transaction():  # a savepoint: the customer may have opened another cart meanwhile
            await carts.set_cart(ctx.db, order.cart_id, status="OPEN", updated_at=now)
    except IntegrityError:
        pass


def _may_check_out(ctx: Context, cart: Any) -> bool:
    if cart.status != "OPEN":
        return False
    viewer = ctx.viewer
    return cart.customer_id is None or (viewer is not None and viewer.customer_id == cart.customer_id)


async def _email_of(ctx: Context, cart: Any) -> str:
    """The order's email when the checkout gives none: the cart's, else its customer's."""
    if cart.email:
        return str(cart.email)
    if cart.customer_id is not None:
        customer = await ctx.loaders.get(CustomerByIdLoader).load(cart.customer_id)
        if customer is not None:
            return str(customer.email)
    raise CheckoutFailure("INVALID", "Give the email to confirm the order to", ("input", "email"))


async def _order(
    ctx: Context, cart: Any, key: str, email: str, address: dict[str, str], provider: PaymentProvider, token: str
) -> int:
    lines = await sql.checkout_lines(ctx.db, cart.id)
    if not lines:
        raise CheckoutFailure("EMPTY_CART", "The cart has no lines", ("input", "cartId"))
    now = utcnow()
    subtotal = sum((line.price * line.quantity for line in lines), Decimal("0")).quantize(CENT)
    customer_id = cart.customer_id
    if customer_id is None and ctx.viewer is not None:
        customer_id = ctx.viewer.customer_id
    order_id = await sql.insert_order(
        ctx.db,
        {
            "idempotency_key": key,
            "cart_id": cart.id,
            "customer_id": customer_id,
            "access_digest": access_digest(access_token(ctx, key)),
            "email": email,
            "status": "PAYMENT_PENDING",
            "currency_code": ctx.settings.currency_code,
            "subtotal": subtotal,
            "total": subtotal,
            "shipping_address": address,
            "payment_provider": provider.name,
            "created_at": now,
        },
    )
    await _take_stock(ctx, lines)
    await sql.insert_lines(ctx.db, [_line(order_id, line) for line in lines])
    await sql.add_status(ctx.db, order_id, "PAYMENT_PENDING", now)
    await carts.set_cart(ctx.db, cart.id, status="CLOSED", updated_at=now)
    events.publish_cart(ctx.db, ctx.live, cart.id, cart.token)
    if not provider.reserves_first:  # offline: its answer is part of the transaction
        result = await provider.authorize(subtotal, ctx.settings.currency_code, token, key)
        if result.outcome == "declined":
            raise CheckoutFailure(
                "PAYMENT_DECLINED", "The payment was declined; nothing was charged", ("input", "payment")
            )
        if result.outcome == "succeeded":
            await sql.set_order(ctx.db, order_id, status="PAID", processed_at=now, payment_reference=result.reference)
            await sql.add_status(ctx.db, order_id, "PAID", now)
        else:
            await sql.set_order(ctx.db, order_id, payment_reference=result.reference)
    return order_id


async def _take_stock(ctx: Context, lines: list[Any]) -> None:
    # In variant order, as every writer of stock does: two checkouts of the same variants in another
    # order would otherwise each hold a row the other waits for (a deadlock).
    short = [line for line in lines if line.product_status != "ACTIVE"]
    for line in sorted(lines, key=lambda line: line.variant_id):
        if line.product_status != "ACTIVE":
            continue
        left = await sql.decrement_stock(ctx.db, line.variant_id, line.quantity)
        if left is None:
            short.append(line)
        else:
            events.publish_stock(ctx.db, ctx.live, line.variant_id, left + line.quantity, left)
    if short:
        ids = [line_id_of(line) for line in sorted(short, key=lambda line: line.id)]
        raise CheckoutFailure("OUT_OF_STOCK", "These lines cannot be bought in these quantities now", tuple(ids))


def _line(order_id: int, line: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "variant_id": line.variant_id,
        "title": line.title,
        "variant_title": line.variant_title,
        "sku": line.sku,
        "quantity": line.quantity,
        "unit_price": line.price,
        "total_price": (line.price * line.quantity).quantize(CENT),
    }
