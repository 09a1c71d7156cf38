"""The catalog's GraphQL types and root fields; each field's logic lives in `resolvers.catalog`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from operator import attrgetter
from typing import Annotated, Any

import orjson
import strawberry
from strawberry import Info

from app.catalog.loaders import (
    CategoryByIdLoader,
    ImageByIdLoader,
    ProductByIdLoader,
    ReviewByIdLoader,
    VariantByIdLoader,
)
from app.db.pagination import PageArgs
from app.graphql.columns import COLUMNS_METADATA_KEY, reads
from app.graphql.executor import BATCH_METADATA_KEY, inline_object
from resolvers import catalog
from schema.fields import relation
from schema.lazy import LazyFields, lazy_fields
from schema.relay import Connection, Node, connection, connection_from, node_type, to_node
from schema.rows import row_readers, utc

__all__ = ["CatalogQuery", "Category", "Image", "Product", "ProductVariant", "Review"]


def _image_urls(context: Any, sources: list[Any], arguments: dict[str, Any]) -> list[str]:
    """`Image.url` for every image of a level: strawberry converts a resolver's arguments on every call,
    which cost more than the URL itself when a listing shows an image per product."""
    width, height = arguments.get("width"), arguments.get("height")
    return [catalog.image_url(context, source.row, width, height) for source in sources]


CENTS = Decimal("0.01")


@strawberry.type(description="An amount of money in one currency.")
class Money:
    amount: Decimal = strawberry.field(description='The amount as an exact decimal string, e.g. "19.99".')
    currency_code: str = strawberry.field(description="The ISO 4217 currency code, e.g. USD.")

    @classmethod
    def of(cls, amount: Any, currency_code: str) -> Money:
        """An amount in cents (rounded half-even, as Decimal does) in a currency."""
        return cls(amount=Decimal(amount).quantize(CENTS), currency_code=currency_code)


def _money_reader(column: str) -> Callable[[Any], Money | None]:
    """The reader of a Money field from a row column of a view with a `currency_code`: null without an
    amount. Declared inline, so compiled completion writes `{amount currencyCode}` from the view and makes
    no Money per row."""
    amount = attrgetter(f"row.{column}")

    @reads(column)
    def read(view: Any) -> Money | None:
        value = amount(view)
        return None if value is None else Money(amount=value, currency_code=view.currency_code)

    return inline_object(
        read,
        present=lambda view: amount(view) is not None,
        amount=amount,
        currency_code=attrgetter("currency_code"),
    )


@strawberry.type(description="One option a variant was chosen by, such as Size = M.")
class SelectedOption:
    name: str = strawberry.field(description="The option's name, e.g. Size.")
    value: str = strawberry.field(description="The chosen value, e.g. M.")


@strawberry.type(description="The lowest and highest price among a product's variants.")
class ProductPriceRange:
    min_variant_price: Money = strawberry.field(description="The lowest variant price.")
    max_variant_price: Money = strawberry.field(description="The highest variant price.")


@strawberry.type(description="The average rating of a product and how many reviews it rests on.")
class ProductRating:
    average: float | None = strawberry.field(
        description="The mean rating from 1 to 5, two decimals; null without reviews."
    )
    count: int = strawberry.field(description="The number of reviews.")


@strawberry.type(description="The public face of a review's author; no private customer data.")
class ReviewAuthor:
    display_name: str = strawberry.field(description='The name the author chose to show, e.g. "Ada L.".')


@strawberry.enum(description="The orders products can be listed in.")
class ProductSortKeys(Enum):
    ID = strawberry.enum_value("ID", description="By ID: the order products were added in.")
    TITLE = strawberry.enum_value("TITLE", description="By title, A to Z.")
    PRICE = strawberry.enum_value("PRICE", description="By lowest variant price, cheapest first.")
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="By creation time, oldest first.")
    BEST_RATED = strawberry.enum_value("BEST_RATED", description="By average rating, best first.")


@strawberry.input(description="A price range; either end may be left open.")
class PriceRangeFilter:
    min: Decimal | None = strawberry.field(default=None, description="The lowest price, inclusive.")
    max: Decimal | None = strawberry.field(default=None, description="The highest price, inclusive.")


@strawberry.input(description="Narrows a product listing; every field given must match.")
class ProductFilter:
    category: strawberry.ID | None = strawberry.field(
        default=None, description="A category's ID; its subcategories are included."
    )
    category_slug: str | None = strawberry.field(
        default=None, description="A category's slug; its subcategories are included."
    )
    query: str | None = strawberry.field(
        default=None, description="Words that must all appear in the title or description (any case)."
    )
    price: PriceRangeFilter | None = strawberry.field(
        default=None, description="Only products with a variant priced within this range."
    )
    available_for_sale: bool | None = strawberry.field(
        default=None, description="Only products with (true) or without (false) a variant in stock."
    )
    vendor: str | None = strawberry.field(default=None, description="Only this vendor's products (any case).")


@node_type(CategoryByIdLoader)
@lazy_fields
@strawberry.type(description="A category of the catalog tree, such as Apparel > T-Shirts.")
class Category(LazyFields, Node):
    READERS = row_readers("Category", "slug", "name", "description", "position")
    row: strawberry.Private[Any]
    slug: str = strawberry.field(description="The unique, URL-friendly handle, e.g. apparel-t-shirts.")
    name: str = strawberry.field(description="The display name.")
    description: str = strawberry.field(description="A longer description for the category page.")
    position: int = strawberry.field(description="The order among its siblings, smallest first.")

    @classmethod
    def from_row(cls, row: Any) -> Category:
        """The GraphQL view of a category row."""
        return cls.wrap(row=row)

    @relation(
        catalog.categories_parents,
        columns=("parent_id",),
        description="The parent category; null at the top of the tree.",
    )
    def parent(context: Any, row: Any) -> Category | None:
        return _maybe(Category, row)

    @relation(catalog.categories_children, columns=("id",), description="The direct subcategories, by position.")
    def children(context: Any, rows: list[Any]) -> list[Category]:
        return [Category.from_row(row) for row in rows]

    @connection(columns=("id",), description="Visible products in this category and all its subcategories.")
    async def products(
        self,
        info: Info,
        page: PageArgs,
        filter: Annotated[ProductFilter | None, strawberry.argument(description="Narrow the products.")] = None,
        sort_key: Annotated[ProductSortKeys, strawberry.argument(description="The order.")] = ProductSortKeys.ID,
        reverse: Annotated[bool, strawberry.argument(description="Reverse the order.")] = False,
    ) -> Connection[Product]:
        request = _product_query(page, filter, sort_key, reverse)
        result = await catalog.category_products(info.context, self.row, request)
        return connection_from(result, Product.from_row)


@node_type(ImageByIdLoader)
@lazy_fields
@strawberry.type(description="A product image; ask for the size you will draw with `url(width:, height:)`.")
class Image(LazyFields, Node):
    READERS = row_readers("Image", "alt_text", "width", "height")
    row: strawberry.Private[Any]
    alt_text: str = strawberry.field(description="Text describing the image for screen readers.")
    width: int = strawberry.field(description="The original width in pixels.")
    height: int = strawberry.field(description="The original height in pixels.")

    @classmethod
    def from_row(cls, row: Any) -> Image:
        """The GraphQL view of an image row."""
        return cls.wrap(row=row)

    @strawberry.field(
        description="The image URL, resized by the image CDN to fit the given box.",
        metadata={BATCH_METADATA_KEY: _image_urls, COLUMNS_METADATA_KEY: ("url",)},
    )
    def url(
        self,
        info: Info,
        width: Annotated[int | None, strawberry.argument(description="Largest width in pixels, 1-5000.")] = None,
        height: Annotated[int | None, strawberry.argument(description="Largest height in pixels, 1-5000.")] = None,
    ) -> str:
        return catalog.image_url(info.context, self.row, width, height)


@node_type(VariantByIdLoader, view=lambda context, row: ProductVariant.from_row(row, context.settings.currency_code))
@lazy_fields
@strawberry.type(description="A purchasable variant of a product, such as the medium red one.")
class ProductVariant(LazyFields, Node):
    READERS = row_readers(
        "ProductVariant",
        "sku",
        "title",
        selected_options=reads("selected_options")(lambda view: _options(orjson.loads(view.row.selected_options))),
        quantity_available=reads("stock_quantity")(lambda view: view.row.stock_quantity),
        available_for_sale=reads("stock_quantity")(lambda view: view.row.stock_quantity > 0),
        price=_money_reader("price"),
        compare_at_price=_money_reader("compare_at_price"),
    )
    row: strawberry.Private[Any]
    currency_code: strawberry.Private[str]
    sku: str = strawberry.field(description="The unique stock keeping unit.")
    title: str = strawberry.field(description='The variant\'s name, e.g. "M / Red".')
    selected_options: list[SelectedOption] = strawberry.field(description="The options that make this variant.")
    quantity_available: int = strawberry.field(description="Units in stock.")
    available_for_sale: bool = strawberry.field(description="Whether at least one unit is in stock.")
    price: Money = strawberry.field(description="The price of one unit.")
    compare_at_price: Money | None = strawberry.field(
        description="The former price shown struck through; null when not on sale."
    )

    @classmethod
    def from_row(cls, row: Any, currency_code: str) -> ProductVariant:
        """The GraphQL view of a variant row, its prices in the store's currency."""
        return cls.wrap(row=row, currency_code=currency_code)

    @relation(catalog.variants_products, columns=("product_id",), description="The product this variant belongs to.")
    def product(context: Any, row: Any) -> Product:
        return Product.from_row(row)


@node_type(ReviewByIdLoader)
@lazy_fields
@strawberry.type(description="A customer's review of a product.")
class Review(LazyFields, Node):
    READERS = row_readers(
        "Review",
        "rating",
        "title",
        "body",
        created_at=reads("created_at")(lambda view: utc(view.row.created_at)),
        author=reads("author_display_name")(lambda view: ReviewAuthor(display_name=view.row.author_display_name)),
    )
    row: strawberry.Private[Any]
    rating: int = strawberry.field(description="The rating from 1 to 5.")
    title: str = strawberry.field(description="The review's headline.")
    body: str = strawberry.field(description="The review's text.")
    created_at: datetime = strawberry.field(description="When the review was written (UTC).")
    author: ReviewAuthor = strawberry.field(description="Who wrote it; only public fields.")

    @classmethod
    def from_row(cls, row: Any) -> Review:
        """The GraphQL view of a review row joined with its author's display name."""
        return cls.wrap(row=row)

    @relation(
        catalog.reviews_products, columns=("product_id",), description="The product reviewed; null once it is off sale."
    )
    def product(context: Any, row: Any) -> Product | None:
        return _maybe(Product, row)


@node_type(ProductByIdLoader)
@lazy_fields
@strawberry.type(description="A product of the catalog; only products on sale (ACTIVE) are visible.")
class Product(LazyFields, Node):
    READERS = row_readers(
        "Product",
        "slug",
        "title",
        "description",
        "vendor",
        tags=reads("tags")(lambda view: orjson.loads(view.row.tags)),
        created_at=reads("created_at")(lambda view: utc(view.row.created_at)),
        updated_at=reads("updated_at")(lambda view: utc(view.row.updated_at)),
    )
    row: strawberry.Private[Any]
    slug: str = strawberry.field(description="The unique, URL-friendly handle, e.g. merino-crew-sweater.")
    title: str = strawberry.field(description="The product's name.")
    description: str = strawberry.field(description="The product's description as plain text.")
    vendor: str = strawberry.field(description="The brand or maker.")
    tags: list[str] = strawberry.field(description="Free-form labels for merchandising.")
    created_at: datetime = strawberry.field(description="When the product was created (UTC).")
    updated_at: datetime = strawberry.field(description="When the product last changed (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Product:
        """The GraphQL view of a product row."""
        return cls.wrap(row=row)

    @relation(
        catalog.products_categories,
        columns=("category_id",),
        description="The category the product is filed under; null when uncategorised.",
    )
    def category(context: Any, row: Any) -> Category | None:
        return _maybe(Category, row)

    @relation(catalog.products_variants, columns=("id",), description="Every variant, by position.")
    def variants(context: Any, rows: list[Any]) -> list[ProductVariant]:
        return _variants(context, rows)

    @relation(
        catalog.products_variant_summaries,
        columns=("id",),
        description="The lowest and highest variant price; null when there are no variants.",
    )
    def price_range(context: Any, summary: Any) -> ProductPriceRange | None:
        return _price_range(context, summary)

    @relation(catalog.products_variant_summaries, columns=("id",), description="Whether any variant is in stock.")
    def available_for_sale(context: Any, summary: Any) -> bool:
        return _in_stock(summary)

    @relation(
        catalog.products_featured_images,
        columns=("id",),
        description="The first image, for listings; null when there are none.",
    )
    def featured_image(context: Any, row: Any) -> Image | None:
        return _maybe(Image, row)

    @relation(catalog.products_images, columns=("id",), description="The first images, by position.")
    def images(
        context: Any,
        rows: list[Any],
        first: Annotated[int, strawberry.argument(description="How many images, 1-50.")] = 10,
    ) -> list[Image]:
        return [Image.from_row(row) for row in rows]

    @relation(catalog.products_ratings, columns=("id",), description="The average rating and the number of reviews.")
    def rating(context: Any, found: Any) -> ProductRating:
        return _rating(found)

    @connection(columns=("id",), description="The product's reviews, newest first.")
    async def reviews(self, info: Info, page: PageArgs) -> Connection[Review]:
        return connection_from(await catalog.product_reviews(info.context, self.row, page), Review.from_row)


def _product_query(
    page: PageArgs, product_filter: ProductFilter | None, sort_key: Any, reverse: bool
) -> catalog.ProductQuery:
    chosen = product_filter or ProductFilter()
    price = chosen.price or PriceRangeFilter()
    return catalog.ProductQuery(
        page=page,
        category_id=chosen.category,
        category_slug=chosen.category_slug,
        query=chosen.query,
        min_price=price.min,
        max_price=price.max,
        available_for_sale=chosen.available_for_sale,
        vendor=chosen.vendor,
        sort_key=sort_key.value,
        reverse=reverse,
    )


def _variants(ctx: Any, rows: list[Any]) -> list[ProductVariant]:
    currency = ctx.settings.currency_code
    return [ProductVariant.from_row(row, currency) for row in rows]


def _price_range(ctx: Any, summary: Any) -> ProductPriceRange | None:
    if summary is None:
        return None
    currency = ctx.settings.currency_code
    return ProductPriceRange(
        min_variant_price=Money(amount=summary.min_price, currency_code=currency),
        max_variant_price=Money(amount=summary.max_price, currency_code=currency),
    )


def _options(options: list[dict[str, str]]) -> list[SelectedOption]:
    return [SelectedOption(name=option["name"], value=option["value"]) for option in options]


def _in_stock(summary: Any) -> bool:
    return summary is not None and summary.in_stock > 0


def _rating(found: Any) -> ProductRating:
    if found is None:
        return ProductRating(average=None, count=0)
    return ProductRating(average=_two_places(found.average), count=found.count)


def _two_places(value: Any) -> float:
    # Half up, like the stored rating_average; round() on a float would round 3.125 down to 3.12.
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _maybe(type_: Any, row: Any) -> Any:
    return None if row is None else type_.from_row(row)


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Fetch any object by its global ID; null when it does not exist.")
    async def node(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]
    ) -> Node | None:
        return to_node(await catalog.node(info.context, id), info)

    @strawberry.field(description="Fetch up to 100 objects by global ID, in the order given.")
    async def nodes(
        self, info: Info, ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global IDs.")]
    ) -> list[Node | None]:
        return [to_node(found, info) for found in await catalog.nodes(info.context, list(ids))]

    @strawberry.field(
        description="One visible product by ID or slug (exactly one); null when it does not exist or is not visible."
    )
    async def product(
        self,
        info: Info,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="The product's ID.")] = None,
        slug: Annotated[str | None, strawberry.argument(description="The product's slug.")] = None,
    ) -> Product | None:
        return _maybe(Product, await catalog.product(info.context, id=id, slug=slug))

    @connection(columns=(), description="Visible products, filtered and sorted, with keyset cursors.")
    async def products(
        self,
        info: Info,
        page: PageArgs,
        filter: Annotated[ProductFilter | None, strawberry.argument(description="Narrow the products.")] = None,
        sort_key: Annotated[ProductSortKeys, strawberry.argument(description="The order.")] = ProductSortKeys.ID,
        reverse: Annotated[bool, strawberry.argument(description="Reverse the order.")] = False,
    ) -> Connection[Product]:
        request = _product_query(page, filter, sort_key, reverse)
        return connection_from(await catalog.products(info.context, request), Product.from_row)

    @strawberry.field(description="One category by ID or slug (exactly one); null when it does not exist.")
    async def category(
        self,
        info: Info,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="The category's ID.")] = None,
        slug: Annotated[str | None, strawberry.argument(description="The category's slug.")] = None,
    ) -> Category | None:
        return _maybe(Category, await catalog.category(info.context, id=id, slug=slug))

    @connection(columns=(), description="Categories by position; only the top of the tree with `topLevel: true`.")
    async def categories(
        self,
        info: Info,
        page: PageArgs,
        top_level: Annotated[bool, strawberry.argument(description="Only categories without a parent.")] = False,
    ) -> Connection[Category]:
        result = await catalog.categories(info.context, page, top_level)
        return connection_from(result, Category.from_row)
