"""The accounts' GraphQL types, root fields and mutations; each field's logic lives in `resolvers.accounts`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from strawberry import Info
from strawberry.permission import BasePermission

from app.accounts.loaders import AddressByIdLoader, CustomerByIdLoader
from app.db.pagination import PageArgs
from app.errors import DomainError
from app.graphql.columns import reads
from resolvers import accounts, reviews
from resolvers import addresses as mailing
from resolvers.orders import customer_orders
from schema import payloads
from schema.catalog import Review
from schema.fields import relation
from schema.lazy import LazyFields, lazy_fields
from schema.payloads import error_fields
from schema.relay import Connection, Node, connection, connection_from, node_type
from schema.rows import row_readers, utc

if TYPE_CHECKING:
    from schema.orders import Order

__all__ = ["AccountError", "AccountsMutation", "AccountsQuery", "Customer", "MailingAddress", "payload_of"]

P = TypeVar("P")


class SelfOrStaff(BasePermission):
    """A private field of a customer: readable by that customer and by staff, null for anyone else."""

    message = "Only the customer and staff may read this field"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if source.__dict__.get("own", False):  # the account this request just created or signed in to
            return True
        return accounts.can_see_private_fields(info.context.viewer, source.row.id)


@node_type(AddressByIdLoader, visible=mailing.address_visible)
@lazy_fields
@strawberry.type(description="A postal address of a customer; only the customer and staff can fetch one.")
class MailingAddress(LazyFields, Node):
    READERS = row_readers("MailingAddress", *mailing.ADDRESS_COLUMNS, "is_default")
    row: strawberry.Private[Any]
    first_name: str = strawberry.field(description="The first name of the person at the address.")
    last_name: str = strawberry.field(description="The last name of the person at the address.")
    company: str = strawberry.field(description="The company, or an empty string.")
    address1: str = strawberry.field(description="The street address.")
    address2: str = strawberry.field(description="The apartment, suite or floor, or an empty string.")
    city: str = strawberry.field(description="The city.")
    province: str = strawberry.field(description="The province, state or region, or an empty string.")
    zip: str = strawberry.field(description="The postal code.")
    country: str = strawberry.field(description="The country, as an ISO 3166-1 alpha-2 code such as US.")
    phone: str = strawberry.field(description="A phone number for the delivery, or an empty string.")
    is_default: bool = strawberry.field(description="Whether this is the customer's default address.")

    @classmethod
    def from_row(cls, row: Any) -> MailingAddress:
        """The GraphQL view of an address row."""
        return cls.wrap(row=row)


def _maybe_address(row: Any) -> MailingAddress | None:
    return None if row is None else MailingAddress.from_row(row)


@node_type(CustomerByIdLoader)
@lazy_fields
@strawberry.type(
    description="A customer account. Anyone sees its public face (id, displayName); the rest is private to "
    "the customer and staff, and null with a FORBIDDEN error for anyone else."
)
class Customer(LazyFields, Node):
    READERS = row_readers(
        "Customer",
        "email",
        "display_name",
        created_at=reads("created_at")(lambda view: utc(view.row.created_at)),
    )
    row: strawberry.Private[Any]
    display_name: str = strawberry.field(description="The name the customer shows on reviews.")
    email: str | None = strawberry.field(
        description="The email the customer signs in with (private).", permission_classes=[SelfOrStaff]
    )
    created_at: datetime | None = strawberry.field(
        description="When the account was created, UTC (private).", permission_classes=[SelfOrStaff]
    )

    @classmethod
    def from_row(cls, row: Any) -> Customer:
        """The GraphQL view of a customer row."""
        return cls.wrap(row=row)

    @relation(
        mailing.default_addresses,
        columns=("id",),
        description="The address used unless another is chosen; null without addresses (private).",
        permission_classes=[SelfOrStaff],
    )
    def default_address(context: Any, row: Any) -> MailingAddress | None:
        return _maybe_address(row)

    @connection(
        columns=("id",),
        description="The customer's addresses, oldest first (private).",
        permission_classes=[SelfOrStaff],
    )
    async def addresses(self, info: Info, page: PageArgs) -> Connection[MailingAddress] | None:
        return connection_from(await mailing.customer_addresses(info.context, self.row, page), MailingAddress.from_row)

    @connection(
        columns=("id",), description="The customer's reviews, newest first (private).", permission_classes=[SelfOrStaff]
    )
    async def reviews(self, info: Info, page: PageArgs) -> Connection[Review] | None:
        return connection_from(await reviews.customer_reviews(info.context, self.row, page), Review.from_row)

    @connection(
        columns=("id",), description="The customer's orders, newest first (private).", permission_classes=[SelfOrStaff]
    )
    async def orders(
        self, info: Info, page: PageArgs
    ) -> Connection[Annotated[Order, strawberry.lazy("schema.orders")]] | None:
        from schema.orders import Order as OrderType

        return connection_from(await customer_orders(info.context, self.row, page), OrderType.from_row)

    @classmethod
    def own(cls, row: Any) -> Customer:
        """The view of the account a mutation of this request created or signed in to: its private fields
        are shown, as the client has just proved it owns them (before any token names it as the viewer)."""
        return cls.wrap(row=row, own=True)


@strawberry.enum(description="Why an account operation failed.")
class AccountErrorCode(Enum):
    INVALID = strawberry.enum_value("INVALID", description="A field of the input is not valid.")
    TAKEN = strawberry.enum_value("TAKEN", description="An account with this email already exists.")
    PASSWORD_TOO_WEAK = strawberry.enum_value(
        "PASSWORD_TOO_WEAK",
        description="The password is shorter than 10 characters, contains the email or is too common.",
    )
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS", description="The email or the password is not right."
    )
    INVALID_TOKEN = strawberry.enum_value(
        "INVALID_TOKEN", description="The refresh token is unknown, expired or signed out."
    )
    TOKEN_REUSED = strawberry.enum_value(
        "TOKEN_REUSED",
        description="The refresh token was already used: every token of its sign-in is now revoked.",
    )
    UNAUTHENTICATED = strawberry.enum_value("UNAUTHENTICATED", description="The operation needs a signed-in customer.")
    THROTTLED = strawberry.enum_value(
        "THROTTLED", description="Too many attempts for this email or from this address: wait `retryAfter` seconds."
    )
    NOT_FOUND = strawberry.enum_value("NOT_FOUND", description="No such object (of yours) exists.")
    FORBIDDEN = strawberry.enum_value("FORBIDDEN", description="Only staff may do this.")
    INSUFFICIENT_STOCK = strawberry.enum_value("INSUFFICIENT_STOCK", description="The stock cannot go below zero.")
    UNAVAILABLE = strawberry.enum_value(
        "UNAVAILABLE", description="The service cannot do this now (it has no way to send mail)."
    )


@strawberry.type(description="Why an account operation failed, and which input it is about.")
class AccountError:
    field: list[str] | None = strawberry.field(
        description='The path of the input at fault, e.g. ["input", "email"]; null when no one input is.'
    )
    message: str = strawberry.field(description="What went wrong, for people.")
    code: AccountErrorCode = strawberry.field(description="What went wrong, for programs.")
    retry_after: int | None = strawberry.field(
        default=None, description="With THROTTLED: the seconds to wait before trying again; else null."
    )

    @classmethod
    def from_failure(cls, failure: DomainError) -> AccountError:
        """The payload error of an expected failure."""
        fields = error_fields(failure, AccountErrorCode, AccountErrorCode.INVALID)
        return cls(**fields, retry_after=getattr(failure, "retry_after", None))


@strawberry.input(description="A new customer account.")
class CustomerCreateInput:
    email: str = strawberry.field(description="The email to sign in with; unique whatever its case.")
    password: str = strawberry.field(
        description="At least 10 characters, not containing the email's name, not a common password."
    )
    display_name: str = strawberry.field(description="The name to show on reviews, 1-120 characters.")


@strawberry.type(description="The result of `customerCreate`.")
class CustomerCreatePayload:
    customer: Customer | None = strawberry.field(default=None, description="The new account; null on failure.")
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


@strawberry.type(description="A signed-in session's tokens (null in cookie mode, where they are in the cookie).")
class CustomerAccessPayload:
    access_token: str | None = strawberry.field(
        default=None, description="A JWT for `Authorization: Bearer`, valid 15 minutes; null in cookie mode."
    )
    refresh_token: str | None = strawberry.field(
        default=None, description="Single-use, valid 30 days: trade it at `tokenRefresh`; null in cookie mode."
    )
    expires_at: datetime | None = strawberry.field(default=None, description="When the access token expires.")
    customer: Customer | None = strawberry.field(default=None, description="The signed-in customer.")
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


@strawberry.type(description="The result of `customerLogout`.")
class CustomerLogoutPayload:
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


@strawberry.input(description="Changes to the signed-in customer's account; leave out what stays.")
class CustomerUpdateInput:
    display_name: str | None = strawberry.field(default=None, description="A new display name, 1-120 characters.")
    email: str | None = strawberry.field(default=None, description="A new email; needs `currentPassword`.")
    password: str | None = strawberry.field(
        default=None, description="A new password; needs `currentPassword` and signs out every other session."
    )
    current_password: str | None = strawberry.field(
        default=None, description="The current password, to change the email or the password."
    )


@strawberry.type(description="The result of `customerUpdate`.")
class CustomerUpdatePayload:
    customer: Customer | None = strawberry.field(default=None, description="The account as it is now.")
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


@strawberry.type(description="The result of `customerRecover`: the same whether or not the email has an account.")
class CustomerRecoverPayload:
    errors: list[AccountError] = strawberry.field(
        default_factory=list, description="Only THROTTLED or UNAVAILABLE; never whether the account exists."
    )


@strawberry.type(description="The result of `customerResetPassword`.")
class CustomerResetPasswordPayload:
    customer: Customer | None = strawberry.field(
        default=None, description="The account whose password was reset; sign in with the new password."
    )
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


async def payload_of(
    payload: Callable[..., P], work: Awaitable[Any], present: Callable[[Any], Awaitable[dict[str, Any]]]
) -> P:
    """Run an account use case; its result as the payload's fields, or its failures as AccountErrors."""
    return await payloads.payload_of(payload, work, present, AccountError.from_failure, accounts.AccountFailure)


async def _nothing(_result: Any) -> dict[str, Any]:
    return {}


async def _new_customer(row: Any) -> dict[str, Any]:
    return {"customer": Customer.own(row)}


async def _updated_customer(row: Any) -> dict[str, Any]:
    return {"customer": Customer.from_row(row)}


def _access(info: Info) -> Callable[[accounts.SignedIn], Awaitable[dict[str, Any]]]:
    async def present(signed_in: accounts.SignedIn) -> dict[str, Any]:
        return await _access_fields(info, signed_in)

    return present


async def _access_fields(info: Info, signed_in: accounts.SignedIn) -> dict[str, Any]:
    row = await accounts.customer(info.context, signed_in.customer_id)
    return {
        "access_token": signed_in.access_token,
        "refresh_token": signed_in.refresh_token,
        "expires_at": signed_in.expires_at,
        "customer": Customer.own(row),
    }


@strawberry.type
class AccountsQuery:
    @strawberry.field(description="The signed-in customer; null for an anonymous request.")
    async def viewer(self, info: Info) -> Customer | None:
        row = await accounts.viewer(info.context)
        return None if row is None else Customer.from_row(row)


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(description="Create a customer account (it does not sign in).")
    async def customer_create(
        self, info: Info, input: Annotated[CustomerCreateInput, strawberry.argument(description="The account.")]
    ) -> CustomerCreatePayload:
        work = accounts.customer_create(info.context, input.email, input.password, input.display_name)
        return await payload_of(CustomerCreatePayload, work, _new_customer)

    @strawberry.mutation(
        description="Sign in. Mobile apps get tokens; with `useCookie: true` (browser SPAs) the response sets the "
        "httpOnly `sf_session` cookie and the `sf_csrf` cookie instead, and returns no token."
    )
    async def customer_login(
        self,
        info: Info,
        email: Annotated[str, strawberry.argument(description="The account's email, any case.")],
        password: Annotated[str, strawberry.argument(description="The account's password.")],
        use_cookie: Annotated[
            bool, strawberry.argument(description="Keep the session in cookies rather than return tokens.")
        ] = False,
        cart_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="A guest cart to make the customer's (or merge into their open one)."),
        ] = None,
    ) -> CustomerAccessPayload:
        work = accounts.customer_login(info.context, email, password, use_cookie, cart_id)
        return await payload_of(CustomerAccessPayload, work, _access(info))

    @strawberry.mutation(
        description="Trade a refresh token for a new pair (the old one is used up). Without `refreshToken`, "
        "the session cookie's is traded and the cookie replaced. A token used twice revokes its whole sign-in."
    )
    async def token_refresh(
        self,
        info: Info,
        refresh_token: Annotated[
            str | None, strawberry.argument(description="The refresh token; omit it in cookie mode.")
        ] = None,
    ) -> CustomerAccessPayload:
        work = accounts.token_refresh(info.context, refresh_token)
        return await payload_of(CustomerAccessPayload, work, _access(info))

    @strawberry.mutation(
        description="Sign out: revoke the current session (bearer or cookie) and clear the cookies. A client "
        "whose access token expired passes its refresh token instead."
    )
    async def customer_logout(
        self,
        info: Info,
        refresh_token: Annotated[
            str | None, strawberry.argument(description="The session's refresh token, when the access token expired.")
        ] = None,
    ) -> CustomerLogoutPayload:
        work = accounts.customer_logout(info.context, refresh_token)
        return await payload_of(CustomerLogoutPayload, work, _nothing)

    @strawberry.mutation(
        description="Change the signed-in customer's display name, email or password. A new email or password "
        "needs `currentPassword`; a new password signs out every other session."
    )
    async def customer_update(
        self, info: Info, input: Annotated[CustomerUpdateInput, strawberry.argument(description="The changes.")]
    ) -> CustomerUpdatePayload:
        work = accounts.customer_update(
            info.context,
            display_name=input.display_name,
            email=input.email,
            password=input.password,
            current_password=input.current_password,
        )
        return await payload_of(CustomerUpdatePayload, work, _updated_customer)

    @strawberry.mutation(
        description="Email a password-reset link (valid one hour, single use) to the account of this email, if "
        "there is one. The answer is the same whether or not there is."
    )
    async def customer_recover(
        self, info: Info, email: Annotated[str, strawberry.argument(description="The account's email.")]
    ) -> CustomerRecoverPayload:
        return await payload_of(CustomerRecoverPayload, accounts.customer_recover(info.context, email), _nothing)

    @strawberry.mutation(description="Set a new password with the token of a reset link; signs out every session.")
    async def customer_reset_password(
        self,
        info: Info,
        token: Annotated[str, strawberry.argument(description="The token of the reset link.")],
        password: Annotated[str, strawberry.argument(description="The new password.")],
    ) -> CustomerResetPasswordPayload:
        work = accounts.customer_reset_password(info.context, token, password)
        return await payload_of(CustomerResetPasswordPayload, work, _new_customer)
