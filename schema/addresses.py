"""The address mutations of a signed-in customer; each one's logic lives in `resolvers.addresses`."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry import Info

from resolvers import addresses
from resolvers.addresses import AddressFields
from schema.accounts import AccountError, Customer, MailingAddress, payload_of

__all__ = ["AddressesMutation"]


@strawberry.input(description="A postal address; on update, leave out the fields that stay.")
class MailingAddressInput:
    first_name: str | None = strawberry.field(default=None, description="First name (required on create).")
    last_name: str | None = strawberry.field(default=None, description="Last name (required on create).")
    company: str | None = strawberry.field(default=None, description="Company.")
    address1: str | None = strawberry.field(default=None, description="Street address (required on create).")
    address2: str | None = strawberry.field(default=None, description="Apartment, suite or floor.")
    city: str | None = strawberry.field(default=None, description="City (required on create).")
    province: str | None = strawberry.field(default=None, description="Province, state or region.")
    zip: str | None = strawberry.field(default=None, description="Postal code (required on create).")
    country: str | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 country code, such as US (required on create)."
    )
    phone: str | None = strawberry.field(default=None, description="Phone number for the delivery.")

    def fields(self) -> AddressFields:
        """The values given, by input name."""
        return AddressFields(
            {
                "firstName": self.first_name,
                "lastName": self.last_name,
                "company": self.company,
                "address1": self.address1,
                "address2": self.address2,
                "city": self.city,
                "province": self.province,
                "zip": self.zip,
                "country": self.country,
                "phone": self.phone,
            }
        )


@strawberry.type(description="The result of an address change.")
class CustomerAddressPayload:
    address: MailingAddress | None = strawberry.field(default=None, description="The address as it is now.")
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


@strawberry.type(description="The result of `customerAddressDelete`.")
class CustomerAddressDeletePayload:
    deleted_address_id: strawberry.ID | None = strawberry.field(
        default=None, description="The ID of the address removed."
    )
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


@strawberry.type(description="The result of `customerDefaultAddressUpdate`.")
class CustomerDefaultAddressPayload:
    customer: Customer | None = strawberry.field(default=None, description="The customer, with the new default.")
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


async def _address(row: Any) -> dict[str, Any]:
    return {"address": MailingAddress.from_row(row)}


async def _deleted(id: str) -> dict[str, Any]:
    return {"deleted_address_id": strawberry.ID(id)}


async def _customer(row: Any) -> dict[str, Any]:
    return {"customer": Customer.from_row(row)}


_ID = Annotated[strawberry.ID, strawberry.argument(description="The address's ID.")]


@strawberry.type
class AddressesMutation:
    @strawberry.mutation(description="Add an address; the first one (or one with `default: true`) is the default.")
    async def customer_address_create(
        self,
        info: Info,
        input: Annotated[MailingAddressInput, strawberry.argument(description="The address.")],
        default: Annotated[bool, strawberry.argument(description="Make it the default address.")] = False,
    ) -> CustomerAddressPayload:
        work = addresses.customer_address_create(info.context, input.fields(), default)
        return await payload_of(CustomerAddressPayload, work, _address)

    @strawberry.mutation(description="Change some fields of one of your addresses.")
    async def customer_address_update(
        self,
        info: Info,
        id: _ID,
        input: Annotated[MailingAddressInput, strawberry.argument(description="The fields to change.")],
    ) -> CustomerAddressPayload:
        work = addresses.customer_address_update(info.context, id, input.fields())
        return await payload_of(CustomerAddressPayload, work, _address)

    @strawberry.mutation(description="Remove one of your addresses; if it was the default, the oldest left is.")
    async def customer_address_delete(self, info: Info, id: _ID) -> CustomerAddressDeletePayload:
        return await payload_of(
            CustomerAddressDeletePayload, addresses.customer_address_delete(info.context, id), _deleted
        )

    @strawberry.mutation(description="Make one of your addresses the default.")
    async def customer_default_address_update(self, info: Info, id: _ID) -> CustomerDefaultAddressPayload:
        work = addresses.customer_default_address_update(info.context, id)
        return await payload_of(CustomerDefaultAddressPayload, work, _customer)
