"""Orders and checkout in GraphQL; each field's logic lives in `resolvers.checkout` and `resolvers.orders`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import orjson
import strawberry
from strawberry import Info

from app.db.pagination import PageArgs
from app.errors import DomainError
from app.graphql.columns import reads
from app.orders.loaders import OrderByIdLoader
from resolvers import checkout, orders
from resolvers.addresses import ADDRESS_COLUMNS
from schema.addresses import MailingAddressInput
from schema.catalog import Money, ProductVariant
from schema.fields import relation
from schema.lazy import LazyFields, Readers, lazy_fields
from schema.payloads import error_fields, payload_of
from schema.relay import Connection, Node, connection, connection_from, node_type
from schema.rows import row_readers, utc

__all__ = ["Order", "OrderChangesMutation", "OrdersMutation", "OrdersQuery"]


@strawberry.enum(description="Where an order is: paid, sent, delivered, or cancelled.")
class OrderStatus(Enum):
    PAYMENT_PENDING = strawberry.enum_value("PAYMENT_PENDING", description="Waiting for the payment to settle.")
    PAID = strawberry.enum_value("PAID", description="Paid; not yet sent.")
    FULFILLED = strawberry.enum_value("FULFILLED", description="Sent.")
    DELIVERED = strawberry.enum_value("DELIVERED", description="Delivered.")
    CANCELLED = strawberry.enum_value("CANCELLED", description="Cancelled; its stock was returned.")


@strawberry.type(description="The address an order is shipped to, as given at checkout.")
class OrderAddress:
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    company: str = strawberry.field(description="Company, or an empty string.")
    address1: str = strawberry.field(description="Street address.")
    address2: str = strawberry.field(description="Apartment, suite or floor, or an empty string.")
    city: str = strawberry.field(description="City.")
    province: str = strawberry.field(description="Province, state or region, or an empty string.")
    zip: str = strawberry.field(description="Postal code.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    phone: str = strawberry.field(description="Phone number, or an empty string.")


@strawberry.type(description="When an order entered a status.")
class OrderStatusChange:
    status: OrderStatus = strawberry.field(description="The status entered.")
    at: datetime = strawberry.field(description="When (UTC).")


@lazy_fields
@strawberry.type(description="A line of an order, as it was bought: its titles, SKU and prices are copies.")
class OrderLine(LazyFields):
    READERS = Readers(
        {
            "quantity": reads("quantity")(lambda view: view.row.quantity),
            "title": reads("title")(lambda view: view.row.title),
            "variant_title": reads("variant_title")(lambda view: view.row.variant_title),
            "sku": reads("sku")(lambda view: view.row.sku),
            "unit_price": reads("unit_price")(lambda view: Money.of(view.row.unit_price, view.currency_code)),
            "total_price": reads("total_price")(lambda view: Money.of(view.row.total_price, view.currency_code)),
        },
        {},
    )
    row: strawberry.Private[Any]
    currency_code: strawberry.Private[str]
    quantity: int = strawberry.field(description="How many were bought.")
    title: str = strawberry.field(description="The product's title at checkout.")
    variant_title: str = strawberry.field(description="The variant's title at checkout.")
    sku: str = strawberry.field(description="The variant's SKU at checkout.")
    unit_price: Money = strawberry.field(description="The price of one, at checkout.")
    total_price: Money = strawberry.field(description="The price of the line, at checkout.")

    @relation(orders.lines_variants, columns=("variant_id",), description="The variant now; null once off sale.")
    def variant(context: Any, row: Any) -> ProductVariant | None:
        return None if row is None else ProductVariant.from_row(row, context.settings.currency_code)


def _line_view(currency_code: str) -> Any:
    def convert(row: Any) -> OrderLine:
        return OrderLine.wrap(row=row, currency_code=currency_code)

    return convert


@node_type(OrderByIdLoader, visible=orders.order_visible)
@lazy_fields
@strawberry.type(
    description="An order: what a checkout bought. Its customer and staff read it by ID; a guest by token."
)
class Order(LazyFields, Node):
    READERS = row_readers(
        "Order",
        "email",
        number=reads("id")(lambda view: 1000 + view.row.id),
        status=reads("status")(lambda view: OrderStatus(view.row.status)),
        created_at=reads("created_at")(lambda view: utc(view.row.created_at)),
        processed_at=reads("processed_at")(
            lambda view: None if view.row.processed_at is None else utc(view.row.processed_at)
        ),
        subtotal_price=reads("subtotal", "currency_code")(
            lambda view: Money(amount=view.row.subtotal, currency_code=view.row.currency_code)
        ),
        total_price=reads("total", "currency_code")(
            lambda view: Money(amount=view.row.total, currency_code=view.row.currency_code)
        ),
        shipping_address=reads("shipping_address")(lambda view: OrderAddress(**_address(view.row.shipping_address))),
    )
    row: strawberry.Private[Any]
    number: int = strawberry.field(description="The order's number, for people (from 1001).")
    status: OrderStatus = strawberry.field(description="Where the order is.")
    email: str = strawberry.field(description="Where the order's mail goes.")
    created_at: datetime = strawberry.field(description="When the order was made (UTC).")
    processed_at: datetime | None = strawberry.field(description="When it was paid (UTC); null until then.")
    subtotal_price: Money = strawberry.field(description="The lines' total.")
    total_price: Money = strawberry.field(description="What was charged.")
    shipping_address: OrderAddress = strawberry.field(description="Where it is shipped.")

    @classmethod
    def from_row(cls, row: Any) -> Order:
        """The GraphQL view of an order row."""
        return cls.wrap(row=row)

    @connection(columns=("id", "currency_code"), description="The order's lines, in order.")
    async def lines(self, info: Info, page: PageArgs) -> Connection[OrderLine]:
        result = await orders.order_lines(info.context, self.row, page)
        return connection_from(result, _line_view(self.row.currency_code))

    @relation(orders.orders_history, columns=("id",), description="Every status the order entered, oldest first.")
    def status_history(context: Any, changes: Any) -> list[OrderStatusChange]:
        return [OrderStatusChange(status=OrderStatus(change.status), at=utc(change.at)) for change in changes]


def _address(value: Any) -> dict[str, str]:
    stored = orjson.loads(value) if isinstance(value, str | bytes) else dict(value)
    return {name: str(stored.get(name, "")) for name in ADDRESS_COLUMNS}


@strawberry.enum(description="Why checkout failed.")
class CheckoutErrorCode(Enum):
    INVALID = strawberry.enum_value("INVALID", description="A field of the input is not valid.")
    NOT_FOUND = strawberry.enum_value("NOT_FOUND", description="No open cart of yours has this ID.")
    EMPTY_CART = strawberry.enum_value("EMPTY_CART", description="The cart has no lines.")
    OUT_OF_STOCK = strawberry.enum_value(
        "OUT_OF_STOCK", description="Lines (their IDs in `field`) cannot be bought in their quantities now."
    )
    PAYMENT_DECLINED = strawberry.enum_value("PAYMENT_DECLINED", description="The payment was declined.")
    IDEMPOTENCY_KEY_REUSED = strawberry.enum_value(
        "IDEMPOTENCY_KEY_REUSED", description="The idempotency key was used for another cart."
    )
    PAYMENT_UNAVAILABLE = strawberry.enum_value(
        "PAYMENT_UNAVAILABLE",
        description="The payment provider could not be reached; nothing was charged. Retry with the same key.",
    )


@strawberry.type(description="Why checkout failed, and which input (or which cart lines) it is about.")
class CheckoutError:
    field: list[str] | None = strawberry.field(description="The input path at fault, or the IDs of the lines.")
    message: str = strawberry.field(description="What went wrong, for people.")
    code: CheckoutErrorCode = strawberry.field(description="What went wrong, for programs.")

    @classmethod
    def from_failure(cls, failure: DomainError) -> CheckoutError:
        """The payload error of an expected failure."""
        return cls(**error_fields(failure, CheckoutErrorCode, CheckoutErrorCode.INVALID))


@strawberry.input(description="How to pay.")
class PaymentInput:
    provider: str = strawberry.field(
        default="test", description='The payment provider: "test" (offline, not in production) or "stripe".'
    )
    token: str = strawberry.field(
        default="",
        description="The client's payment token: for test tok_visa, tok_declined or tok_async; for stripe "
        "optionally a PaymentMethod ID (pm_...) to attach, the client confirming with `clientSecret`.",
    )


@strawberry.input(description="A checkout of a cart.")
class CheckoutInput:
    cart_id: strawberry.ID = strawberry.field(description="The cart's ID.")
    idempotency_key: str = strawberry.field(
        description="A key the client makes once per checkout and sends again on every retry: one order per key."
    )
    email: str | None = strawberry.field(default=None, description="Where the order's mail goes (else the cart's).")
    shipping_address: MailingAddressInput = strawberry.field(description="Where to ship.")
    payment: PaymentInput = strawberry.field(description="How to pay.")


@strawberry.type(description="The result of `checkoutComplete`; a retry with the same key gets the same one.")
class CheckoutPayload:
    order: Order | None = strawberry.field(default=None, description="The order made.")
    access_token: str | None = strawberry.field(
        default=None, description="Keep it: a guest reads the order with orderByToken(token:)."
    )
    client_secret: str | None = strawberry.field(
        default=None,
        description="For stripe, while the order awaits payment: the PaymentIntent's client secret, with which "
        "the client confirms the payment (Stripe.js). Null for providers that need no confirmation.",
    )
    errors: list[CheckoutError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


@strawberry.type
class OrdersQuery:
    @strawberry.field(description="An order by ID, for its customer and staff only (null and FORBIDDEN otherwise).")
    async def order(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The order's ID.")]
    ) -> Order | None:
        row = await orders.order(info.context, id)
        return None if row is None else Order.from_row(row)

    @strawberry.field(description="A guest's order, by the access token its checkout returned; null when unknown.")
    async def order_by_token(
        self, info: Info, token: Annotated[str, strawberry.argument(description="The order's access token.")]
    ) -> Order | None:
        row = await orders.order_by_token(info.context, token)
        return None if row is None else Order.from_row(row)


@strawberry.type
class OrdersMutation:
    @strawberry.mutation(
        description="Turn a cart into an order in one transaction: stock taken (never below zero), prices copied, "
        "payment authorised, cart closed; or, if anything fails, nothing changes."
    )
    async def checkout_complete(
        self, info: Info, input: Annotated[CheckoutInput, strawberry.argument(description="The checkout.")]
    ) -> CheckoutPayload:
        request = checkout.CheckoutRequest(
            cart_id=str(input.cart_id),
            idempotency_key=input.idempotency_key,
            email=input.email,
            shipping_address=input.shipping_address.fields(),
            provider=input.payment.provider,
            token=input.payment.token,
        )
        work = checkout.checkout_complete(info.context, request)
        return await payload_of(
            CheckoutPayload, work, _checkout_fields, CheckoutError.from_failure, checkout.CheckoutFailure
        )


@strawberry.enum(description="Why an order change failed.")
class OrderErrorCode(Enum):
    NOT_FOUND = strawberry.enum_value("NOT_FOUND", description="No order has this ID.")
    FORBIDDEN = strawberry.enum_value("FORBIDDEN", description="The viewer may not change this order.")
    INVALID_TRANSITION = strawberry.enum_value(
        "INVALID_TRANSITION", description="The order cannot go from its status to the one asked."
    )


@strawberry.type(description="Why an order change failed.")
class OrderError:
    field: list[str] | None = strawberry.field(description="The input at fault, if one is.")
    message: str = strawberry.field(description="What went wrong, for people.")
    code: OrderErrorCode = strawberry.field(description="What went wrong, for programs.")

    @classmethod
    def from_failure(cls, failure: DomainError) -> OrderError:
        """The payload error of an expected failure."""
        return cls(**error_fields(failure, OrderErrorCode, OrderErrorCode.INVALID_TRANSITION))


@strawberry.type(description="The result of an order change.")
class OrderPayload:
    order: Order | None = strawberry.field(default=None, description="The order as it is now.")
    errors: list[OrderError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


async def _order_payload(work: Any) -> OrderPayload:
    return await payload_of(OrderPayload, work, _order_fields, OrderError.from_failure, orders.OrderFailure)


async def _order_fields(row: Any) -> dict[str, Any]:
    return {"order": Order.from_row(row)}


async def _checkout_fields(done: checkout.Checkout) -> dict[str, Any]:
    return {"order": Order.from_row(done.order), "access_token": done.access_token, "client_secret": done.client_secret}


@strawberry.type
class OrderChangesMutation:
    @strawberry.mutation(
        description="Staff only: move an order along PAYMENT_PENDING -> PAID -> FULFILLED -> DELIVERED, or to "
        "CANCELLED (its stock returned once); any other move is INVALID_TRANSITION."
    )
    async def order_update_status(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The order's ID.")],
        status: Annotated[OrderStatus, strawberry.argument(description="The status to move it to.")],
    ) -> OrderPayload:
        return await _order_payload(orders.order_update_status(info.context, id, status.name))

    @strawberry.mutation(
        description="Cancel an order: its customer while it is not yet fulfilled, staff until it is delivered. "
        "Its stock goes back exactly once."
    )
    async def order_cancel(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The order's ID.")]
    ) -> OrderPayload:
        return await _order_payload(orders.order_cancel(info.context, id))
