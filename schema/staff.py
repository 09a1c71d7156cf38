"""Staff mutations of the catalog; each one's logic lives in `resolvers.staff`."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import Info

from resolvers import staff
from resolvers.staff import ProductChanges, VariantChanges
from schema.accounts import AccountError, payload_of
from schema.catalog import Product, ProductVariant

__all__ = ["StaffMutation"]


@strawberry.enum(description="Whether a product is on sale.")
class ProductStatus(Enum):
    ACTIVE = strawberry.enum_value("ACTIVE", description="On sale: shown in the storefront.")
    DRAFT = strawberry.enum_value("DRAFT", description="Being prepared: not shown.")
    ARCHIVED = strawberry.enum_value("ARCHIVED", description="No longer sold: not shown.")


@strawberry.input(description="A product's fields; on update, leave out the fields that stay.")
class ProductInput:
    title: str | None = strawberry.field(default=None, description="The title (required on create).")
    description: str | None = strawberry.field(default=None, description="The description.")
    vendor: str | None = strawberry.field(default=None, description="The vendor (required on create).")
    category_id: strawberry.ID | None = strawberry.field(default=None, description="The category's ID.")
    tags: list[str] | None = strawberry.field(default=None, description="Labels, at most 30 (replaces them all).")
    status: ProductStatus | None = strawberry.field(default=None, description="DRAFT on create unless given.")
    slug: str | None = strawberry.field(default=None, description="The URL handle; made from the title if left out.")

    def changes(self) -> ProductChanges:
        """The fields given."""
        return ProductChanges(
            title=self.title,
            description=self.description,
            vendor=self.vendor,
            category_id=self.category_id,
            tags=self.tags,
            status=self.status.name if self.status is not None else None,
            slug=self.slug,
        )


@strawberry.input(description="One option a variant is chosen by, such as Size = M.")
class SelectedOptionInput:
    name: str = strawberry.field(description="The option's name, e.g. Size.")
    value: str = strawberry.field(description="The value, e.g. M.")


@strawberry.input(description="A variant's fields; on update, leave out the fields that stay.")
class VariantInput:
    sku: str | None = strawberry.field(default=None, description="The unique SKU (required on create).")
    title: str | None = strawberry.field(default=None, description="The title; made from the options if left out.")
    price: Decimal | None = strawberry.field(default=None, description="The price (required on create).")
    compare_at_price: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="The price before a discount; null removes it."
    )
    options: list[SelectedOptionInput] | None = strawberry.field(
        default=None, description="The options that make this variant (replaces them all)."
    )
    stock_quantity: int | None = strawberry.field(
        default=None, description="The stock to start with (create only; then use inventoryAdjust)."
    )

    def changes(self) -> VariantChanges:
        """The fields given."""
        compare_at = None if self.compare_at_price is strawberry.UNSET else self.compare_at_price
        return VariantChanges(
            sku=self.sku,
            title=self.title,
            price=self.price,
            compare_at_price=compare_at,
            clear_compare_at_price=self.compare_at_price is None,
            options=[(option.name, option.value) for option in self.options] if self.options is not None else None,
            stock_quantity=self.stock_quantity,
        )


@strawberry.type(description="The result of a product change.")
class ProductPayload:
    product: Product | None = strawberry.field(
        default=None, description="The product as it is now (its lists show what is on sale only)."
    )
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


@strawberry.type(description="The result of a variant change.")
class VariantPayload:
    variant: ProductVariant | None = strawberry.field(default=None, description="The variant as it is now.")
    errors: list[AccountError] = strawberry.field(default_factory=list, description="Why it failed; empty on success.")


async def _product(row: Any) -> dict[str, Any]:
    return {"product": Product.from_row(row)}


def _variant(info: Info) -> Any:
    async def present(row: Any) -> dict[str, Any]:
        return {"variant": ProductVariant.from_row(row, info.context.settings.currency_code)}

    return present


_PRODUCT_ID = Annotated[strawberry.ID, strawberry.argument(description="The product's ID.")]
_VARIANT_ID = Annotated[strawberry.ID, strawberry.argument(description="The variant's ID.")]


@strawberry.type
class StaffMutation:
    @strawberry.mutation(description="Staff only: add a product (DRAFT unless a status is given).")
    async def product_create(
        self, info: Info, input: Annotated[ProductInput, strawberry.argument(description="The product.")]
    ) -> ProductPayload:
        return await payload_of(ProductPayload, staff.product_create(info.context, input.changes()), _product)

    @strawberry.mutation(description="Staff only: change a product; status ARCHIVED takes it off sale.")
    async def product_update(
        self,
        info: Info,
        id: _PRODUCT_ID,
        input: Annotated[ProductInput, strawberry.argument(description="The fields to change.")],
    ) -> ProductPayload:
        return await payload_of(ProductPayload, staff.product_update(info.context, id, input.changes()), _product)

    @strawberry.mutation(description="Staff only: add a variant to a product, last in its order.")
    async def variant_create(
        self,
        info: Info,
        product_id: _PRODUCT_ID,
        input: Annotated[VariantInput, strawberry.argument(description="The variant.")],
    ) -> VariantPayload:
        work = staff.variant_create(info.context, product_id, input.changes())
        return await payload_of(VariantPayload, work, _variant(info))

    @strawberry.mutation(description="Staff only: change a variant's price, compare-at price, options, SKU or title.")
    async def variant_update(
        self,
        info: Info,
        id: _VARIANT_ID,
        input: Annotated[VariantInput, strawberry.argument(description="The fields to change.")],
    ) -> VariantPayload:
        return await payload_of(VariantPayload, staff.variant_update(info.context, id, input.changes()), _variant(info))

    @strawberry.mutation(description="Staff only: add to (or, negative, remove from) a variant's stock; never below 0.")
    async def inventory_adjust(
        self,
        info: Info,
        variant_id: _VARIANT_ID,
        delta: Annotated[int, strawberry.argument(description="How many to add; negative to remove.")],
    ) -> VariantPayload:
        return await payload_of(VariantPayload, staff.inventory_adjust(info.context, variant_id, delta), _variant(info))
