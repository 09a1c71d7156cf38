"""The cart's GraphQL types, root field and mutations; each field's logic lives in `resolvers.cart`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry import Info

from app.db.pagination import PageArgs
from app.errors import DomainError
from app.graphql.columns import reads
from resolvers import cart as carts
from schema.accounts import Customer
from schema.catalog import Money, ProductVariant
from schema.fields import relation
from schema.lazy import LazyFields, Readers, lazy_fields
from schema.payloads import error_fields, payload_of
from schema.relay import Connection, connection, connection_from
from schema.rows import utc

__all__ = ["CartMutation", "CartQuery"]

P = TypeVar("P")
ZERO = Decimal("0.00")


Merchandise = Annotated[ProductVariant, strawberry.union("Merchandise", description="What a cart line holds.")]


@strawberry.type(description="What a line costs now, at the catalog's current price.")
class CartLineCost:
    amount_per_quantity: Money = strawberry.field(description="The price of one.")
    total_amount: Money = strawberry.field(description="The price of the line's quantity.")


def _line_cost(view: Any) -> CartLineCost:
    price = Decimal(view.row.price)
    currency = view.currency_code
    return CartLineCost(
        amount_per_quantity=Money.of(price, currency),
        total_amount=Money.of(price * view.row.quantity, currency),
    )


@lazy_fields
@strawberry.type(description="A variant in a cart and how many of it.")
class CartLine(LazyFields):
    READERS = Readers(
        {
            "id": reads("id")(lambda view: carts.line_id_of(view.row)),
            "quantity": reads("quantity")(lambda view: view.row.quantity),
            "available": reads("available")(lambda view: bool(view.row.available)),
            "cost": reads("price", "quantity")(_line_cost),
        },
        {},
    )
    row: strawberry.Private[Any]
    currency_code: strawberry.Private[str]
    id: strawberry.ID = strawberry.field(description="The line's ID (for cartLinesUpdate and cartLinesRemove).")
    quantity: int = strawberry.field(description="How many, 1 to 99.")
    available: bool = strawberry.field(
        description="Whether the line can be bought now: its product is on sale and enough is in stock. A line "
        "never disappears on its own when this turns false."
    )
    cost: CartLineCost = strawberry.field(description="What the line costs now.")

    @relation(
        carts.lines_merchandise,
        columns=("variant_id",),
        description="The variant; null once its product is no longer on sale.",
    )
    def merchandise(context: Any, row: Any) -> Merchandise | None:
        return None if row is None else ProductVariant.from_row(row, context.settings.currency_code)


@strawberry.type(description="What a cart costs now: the lines that can be bought, at current prices.")
class CartCost:
    subtotal_amount: Money = strawberry.field(description="The lines that can be bought, before shipping and taxes.")
    total_amount: Money = strawberry.field(description="What checkout would charge now (no shipping or taxes yet).")


@strawberry.type(description="Who the cart is for.")
class CartBuyerIdentity:
    email: str | None = strawberry.field(description="The email orders will be confirmed to.")
    customer: Customer | None = strawberry.field(description="The signed-in customer the cart belongs to.")


def _line(context: Any) -> Callable[[Any], CartLine]:
    currency_code = context.settings.currency_code

    def convert(row: Any) -> CartLine:
        return CartLine.wrap(row=row, currency_code=currency_code)

    return convert


@lazy_fields
@strawberry.type(description="A shopper's cart. Its ID is a secret: whoever has it can read and change the cart.")
class Cart(LazyFields):
    READERS = Readers(
        {
            "id": reads("token")(lambda view: carts.cart_id_of(view.row)),
            "created_at": reads("created_at")(lambda view: utc(view.row.created_at)),
            "updated_at": reads("updated_at")(lambda view: utc(view.row.updated_at)),
        },
        {},
    )
    row: strawberry.Private[Any]
    id: strawberry.ID = strawberry.field(description="The cart's ID; keep it, as it is the only way back to the cart.")
    created_at: datetime = strawberry.field(description="When the cart was made (UTC).")
    updated_at: datetime = strawberry.field(description="When its lines last changed (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Cart:
        """The GraphQL view of a cart row."""
        return cls.wrap(row=row)

    @relation(carts.carts_totals, columns=("id",), description="How many items the cart holds, every line counted.")
    def total_quantity(context: Any, totals: Any) -> int:
        return 0 if totals is None else int(totals.total_quantity)

    @relation(carts.carts_totals, columns=("id",), description="What the cart costs now.")
    def cost(context: Any, totals: Any) -> CartCost:
        subtotal = Money.of(ZERO if totals is None else totals.subtotal or ZERO, context.settings.currency_code)
        return CartCost(subtotal_amount=subtotal, total_amount=subtotal)

    @connection(columns=("id",), description="The cart's lines, oldest first.")
    async def lines(self, info: Info, page: PageArgs) -> Connection[CartLine]:
        return connection_from(await carts.cart_lines(info.context, self.row, page), _line(info.context))

    @relation(carts.carts_buyers, columns=("customer_id", "email"), description="Who the cart is for.")
    def buyer_identity(context: Any, buyer: Any) -> CartBuyerIdentity:
        cart, customer = buyer
        if customer is None:
            return CartBuyerIdentity(email=cart.email, customer=None)
        return CartBuyerIdentity(email=cart.email or customer.email, customer=Customer.from_row(customer))


@strawberry.enum(description="Why a cart operation failed.")
class CartErrorCode(Enum):
    INVALID_QUANTITY = strawberry.enum_value("INVALID_QUANTITY", description="A quantity is not from 1 to 99.")
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="No open cart of yours, line of it, or variant on sale has this ID."
    )
    TOO_MANY_LINES = strawberry.enum_value("TOO_MANY_LINES", description="A cart holds at most 100 lines.")
    INVALID = strawberry.enum_value("INVALID", description="A field of the input is not valid.")


@strawberry.type(description="Why a cart operation failed, and which input it is about.")
class CartError:
    field: list[str] | None = strawberry.field(
        description='The path of the input at fault, e.g. ["input", "lines", "0", "quantity"].'
    )
    message: str = strawberry.field(description="What went wrong, for people.")
    code: CartErrorCode = strawberry.field(description="What went wrong, for programs.")

    @classmethod
    def from_failure(cls, failure: DomainError) -> CartError:
        """The payload error of an expected failure."""
        return cls(**error_fields(failure, CartErrorCode, CartErrorCode.INVALID))


@strawberry.input(description="A variant to put in a cart, and how many.")
class CartLineInput:
    merchandise_id: strawberry.ID = strawberry.field(description="The variant's ID.")
    quantity: int = strawberry.field(default=1, description="How many, 1 to 99.")


@strawberry.input(description="A line's new quantity.")
class CartLineUpdateInput:
    id: strawberry.ID = strawberry.field(description="The line's ID.")
    quantity: int = strawberry.field(description="How many, 1 to 99.")


@strawberry.input(description="Who a new cart is for (a signed-in customer's cart is theirs).")
class CartBuyerIdentityInput:
    email: str | None = strawberry.field(default=None, description="The email to confirm orders to.")


@strawberry.input(description="A new cart.")
class CartInput:
    lines: list[CartLineInput] = strawberry.field(default_factory=list, description="The lines to start with.")
    buyer_identity: CartBuyerIdentityInput | None = strawberry.field(default=None, description="Who it is for.")


@strawberry.type(description="The result of a cart change.")
class CartPayload:
    cart: Cart | None = strawberry.field(default=None, description="The cart as it is now.")
    errors: list[CartError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


def _lines(inputs: list[CartLineInput]) -> list[carts.LineInput]:
    return [carts.LineInput(str(line.merchandise_id), line.quantity) for line in inputs]


async def _cart_payload(work: Any) -> CartPayload:
    return await payload_of(CartPayload, work, _cart_fields, CartError.from_failure, carts.CartFailure)


async def _cart_fields(row: Any) -> dict[str, Any]:
    return {"cart": Cart.from_row(row)}


_CART_ID = Annotated[strawberry.ID, strawberry.argument(description="The cart's ID.")]


@strawberry.type
class CartQuery:
    @strawberry.field(description="A cart by its ID; null when unknown, closed, or another customer's.")
    async def cart(self, info: Info, id: _CART_ID) -> Cart | None:
        row = await carts.cart(info.context, id)
        return None if row is None else Cart.from_row(row)


@strawberry.type
class CartMutation:
    @strawberry.mutation(
        description="Make a cart (guests and customers alike). A signed-in customer has one open cart: if they "
        "have one, the lines are added to it."
    )
    async def cart_create(
        self, info: Info, input: Annotated[CartInput, strawberry.argument(description="The cart.")]
    ) -> CartPayload:
        email = input.buyer_identity.email if input.buyer_identity is not None else None
        return await _cart_payload(carts.cart_create(info.context, _lines(input.lines), email))

    @strawberry.mutation(description="Add lines; a variant already in the cart adds to its line (at most 99).")
    async def cart_lines_add(
        self,
        info: Info,
        cart_id: _CART_ID,
        lines: Annotated[list[CartLineInput], strawberry.argument(description="The lines to add.")],
    ) -> CartPayload:
        return await _cart_payload(carts.cart_lines_add(info.context, cart_id, _lines(lines)))

    @strawberry.mutation(description="Change the quantities of lines.")
    async def cart_lines_update(
        self,
        info: Info,
        cart_id: _CART_ID,
        lines: Annotated[list[CartLineUpdateInput], strawberry.argument(description="The lines' new quantities.")],
    ) -> CartPayload:
        updates = [(str(line.id), line.quantity) for line in lines]
        return await _cart_payload(carts.cart_lines_update(info.context, cart_id, updates))

    @strawberry.mutation(description="Remove lines.")
    async def cart_lines_remove(
        self,
        info: Info,
        cart_id: _CART_ID,
        line_ids: Annotated[list[strawberry.ID], strawberry.argument(description="The lines' IDs.")],
    ) -> CartPayload:
        return await _cart_payload(carts.cart_lines_remove(info.context, cart_id, [str(i) for i in line_ids]))
