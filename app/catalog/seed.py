"""A deterministic, realistic and fast bulk seed of the catalog.

`build_catalog` generates every row in Python from one `random.Random(seed)` and a fixed epoch (never the
global random, never the clock), so the same seed and size always give the same rows. `seed_catalog` writes
them with SQLAlchemy Core bulk inserts in one transaction, with primary keys assigned in Python so no
RETURNING round trips are needed; the denormalised sort columns of products (min_price, rating_count,
rating_average) are computed while generating, so they agree with the variants and reviews by construction.

The words the rows are made of (the category tree and its product profiles, option values, vendors, names,
description and review texts) are data: `seed_vocabulary.toml` beside this module, read and checked once by
`seed_vocabulary`. The seed draws from its lists by position, so their order is part of the catalog a seed gives.
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from itertools import product as cartesian_product
from random import Random
from string import Formatter
from typing import Any, TypeVar, cast

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.accounts.models import Customer
from app.catalog.models import Category, Product, ProductImage, ProductVariant, Review
from app.catalog.slugs import slugify

__all__ = [
    "CATALOG_TABLES",
    "CatalogRows",
    "SeedError",
    "SeedReport",
    "SeedVocabulary",
    "build_catalog",
    "catalog_counts",
    "parse_vocabulary",
    "seed_catalog",
    "seed_vocabulary",
]

# Parents before children: the order rows are inserted in (and the reverse of the order they are deleted in).
CATALOG_TABLES = ("categories", "customers", "products", "product_variants", "product_images", "reviews")
CHUNK_SIZE = 5_000
MIN_CUSTOMERS = 20
PRODUCTS_PER_CUSTOMER = 5

EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
CATALOG_SPAN_SECONDS = 730 * 24 * 3600  # products and customers are created over about two years
MAX_UPDATE_DELAY_SECONDS = 120 * 24 * 3600
MIN_REVIEW_DELAY_SECONDS = 3600
MAX_REVIEW_DELAY_SECONDS = 240 * 24 * 3600

STATUS_WEIGHTS = {"ACTIVE": 90, "DRAFT": 6, "ARCHIVED": 4}
VARIANT_COUNTS = (3, 4, 5)
IMAGE_COUNT_WEIGHTS = {1: 10, 2: 15, 3: 25, 4: 25, 5: 15, 6: 10}
REVIEW_COUNT_WEIGHTS = {0: 25, 1: 14, 2: 13, 3: 12, 4: 10, 5: 9, 6: 7, 7: 5, 8: 5}
LIKED_RATING_WEIGHTS = {1: 3, 2: 4, 3: 10, 4: 33, 5: 50}
MIXED_RATING_WEIGHTS = {1: 15, 2: 17, 3: 25, 4: 25, 5: 18}
MIXED_PRODUCT_SHARE = 0.15
ON_SALE_SHARE = 0.30
SOLD_OUT_PRODUCT_SHARE = 0.05
OUT_OF_STOCK_VARIANT_SHARE = 0.105  # with the sold-out products, about 15% of variants have no stock
MAX_STOCK = 250
IMAGE_SIZES = ((1600, 1600), (1200, 1600))
PRICE_ENDINGS = (99, 95, 0)

MAX_DESCRIPTION_DETAILS = 2
MAX_REVIEW_SENTENCES = 3
RATINGS = (1, 2, 3, 4, 5)
RATING_PLACES = Decimal("0.001")
VOCABULARY_FILE = "seed_vocabulary.toml"


class SeedError(ValueError):
    """The catalog cannot be seeded as asked (it already has rows, or the arguments are invalid)."""


@dataclass(frozen=True)
class SeedReport:
    """How many rows of each kind a seed wrote, and how long it took."""

    categories: int
    customers: int
    products: int
    variants: int
    images: int
    reviews: int
    seconds: float


@dataclass
class CatalogRows:
    """Every row of a generated catalog, as dicts ready for Core bulk inserts, keyed like the tables."""

    categories: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    product_variants: list[dict[str, Any]] = field(default_factory=list)
    product_images: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)

    def rows_of(self, table_name: str) -> list[dict[str, Any]]:
        """The rows of the named table."""
        rows: list[dict[str, Any]] = getattr(self, table_name)
        return rows


# --- What the catalog looks like -------------------------------------------------------------------------
#
# The words live in seed_vocabulary.toml beside this module; these types are what the seed reads them into.


@dataclass(frozen=True)
class OptionSpec:
    """A variant option such as Size; each step along `values` raises the price by `price_step_percent`."""

    name: str
    values: tuple[str, ...]
    price_step_percent: int = 0


@dataclass(frozen=True)
class ProductProfile:
    """How products of a category are named, optioned and priced (whole dollars)."""

    nouns: tuple[str, ...]
    materials: tuple[str, ...]
    adjectives: tuple[str, ...]
    options: tuple[OptionSpec, ...]
    price_range: tuple[int, int]


@dataclass(frozen=True)
class CategorySpec:
    """A node of the category tree, with the profile its products use (its own or its parent's; None for a
    department, which holds no products of its own)."""

    name: str
    description: str
    profile: ProductProfile | None = None
    children: tuple[CategorySpec, ...] = ()


@dataclass(frozen=True)
class SeedVocabulary:
    """Every word the seed draws from, in the order of seed_vocabulary.toml (the order is part of the seed)."""

    categories: tuple[CategorySpec, ...]
    vendors: Mapping[str, tuple[str, ...]]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    description_openers: tuple[str, ...]
    description_details: tuple[str, ...]
    tags: tuple[str, ...]
    sale_tag: str
    new_arrival_tag: str
    image_views: tuple[str, ...]
    review_titles: Mapping[int, tuple[str, ...]]
    review_sentences: Mapping[int, tuple[str, ...]]


@cache
def seed_vocabulary() -> SeedVocabulary:
    """The seed's vocabulary, read once from the data file beside this module (also when installed)."""
    document = tomllib.loads(resources.files(__package__).joinpath(VOCABULARY_FILE).read_text(encoding="utf-8"))
    return parse_vocabulary(document)


def parse_vocabulary(document: dict[str, Any]) -> SeedVocabulary:
    """Check a parsed vocabulary document and build the seed's vocabulary from it.

    Raises SeedError naming the first entry that is missing, empty, of the wrong type or unknown, a reference
    to an option set, adjective set or profile that does not exist, or a list too short for what the seed
    draws from it (five distinct variants per product, six image views, two description details, three
    review sentences, texts for every rating).
    """
    _expect_keys(document, "", _SECTIONS)
    options = {
        key: _option(_toml_table(spec, f"options.{key}"), f"options.{key}")
        for key, spec in _entries(document, "options")
    }
    adjectives = {key: _strings(words, f"adjectives.{key}") for key, words in _entries(document, "adjectives")}
    profiles = {
        key: _profile(_toml_table(spec, f"profiles.{key}"), f"profiles.{key}", options, adjectives)
        for key, spec in _entries(document, "profiles")
    }
    categories = _categories(document.get("categories"), "categories", profiles, None)
    vendors = {key: _strings(names, f"vendors.{key}") for key, names in _entries(document, "vendors")}
    for department in categories:
        if department.name not in vendors:
            raise SeedError(f"{VOCABULARY_FILE}: vendors: no vendors for the department {department.name!r}")
    customers = _section(document, "customers", ("first_names", "last_names"))
    descriptions = _section(document, "descriptions", ("openers", "details"))
    tags = _section(document, "tags", ("general", "sale", "new_arrival"))
    images = _section(document, "images", ("views",))
    reviews = _section(document, "reviews", [str(rating) for rating in RATINGS])
    review_texts = {int(key): _toml_table(texts, f"reviews.{key}") for key, texts in reviews.items()}
    for rating, texts in review_texts.items():
        _expect_keys(texts, f"reviews.{rating}", ("titles", "sentences"))
    return SeedVocabulary(
        categories=categories,
        vendors=vendors,
        first_names=_strings(customers["first_names"], "customers.first_names"),
        last_names=_strings(customers["last_names"], "customers.last_names"),
        description_openers=_templates(
            descriptions["openers"], "descriptions.openers", {"title", "vendor", "material"}
        ),
        description_details=_strings(descriptions["details"], "descriptions.details", MAX_DESCRIPTION_DETAILS),
        tags=_strings(tags["general"], "tags.general"),
        sale_tag=_string(tags["sale"], "tags.sale"),
        new_arrival_tag=_string(tags["new_arrival"], "tags.new_arrival"),
        image_views=_strings(images["views"], "images.views", max(IMAGE_COUNT_WEIGHTS)),
        review_titles={
            rating: _strings(texts["titles"], f"reviews.{rating}.titles") for rating, texts in review_texts.items()
        },
        review_sentences={
            rating: _templates(texts["sentences"], f"reviews.{rating}.sentences", {"noun"}, MAX_REVIEW_SENTENCES)
            for rating, texts in review_texts.items()
        },
    )


_SECTIONS = (
    "options", "adjectives", "profiles", "categories", "vendors", "customers", "descriptions", "tags", "images",
    "reviews",
)  # fmt: skip
_PROFILE_KEYS = ("nouns", "materials", "adjectives", "options", "price_range")


def _option(spec: dict[str, Any], where: str) -> OptionSpec:
    _expect_keys(spec, where, ("name", "values"), ("price_step_percent",))
    step = spec.get("price_step_percent", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise SeedError(f"{VOCABULARY_FILE}: {where}.price_step_percent: expected a whole number >= 0")
    return OptionSpec(_string(spec["name"], f"{where}.name"), _strings(spec["values"], f"{where}.values"), step)


def _profile(
    spec: dict[str, Any], where: str, options: dict[str, OptionSpec], adjectives: dict[str, tuple[str, ...]]
) -> ProductProfile:
    _expect_keys(spec, where, _PROFILE_KEYS)
    chosen = tuple(_known(key, options, f"{where}.options") for key in _strings(spec["options"], f"{where}.options"))
    combinations = math.prod(len(option.values) for option in chosen)
    if combinations < max(VARIANT_COUNTS):
        raise SeedError(
            f"{VOCABULARY_FILE}: {where}.options: {combinations} combinations of values, "
            f"fewer than the {max(VARIANT_COUNTS)} variants a product can have"
        )
    return ProductProfile(
        nouns=_strings(spec["nouns"], f"{where}.nouns"),
        materials=_strings(spec["materials"], f"{where}.materials"),
        adjectives=_known(_string(spec["adjectives"], f"{where}.adjectives"), adjectives, f"{where}.adjectives"),
        options=chosen,
        price_range=_price_range(spec["price_range"], f"{where}.price_range"),
    )


def _price_range(value: Any, where: str) -> tuple[int, int]:
    whole = isinstance(value, list) and all(isinstance(bound, int) and not isinstance(bound, bool) for bound in value)
    if not whole or len(value) != 2 or not 1 <= value[0] <= value[1]:
        raise SeedError(f"{VOCABULARY_FILE}: {where}: expected [lowest, highest] whole dollars, 1 <= lowest <= highest")
    return value[0], value[1]


def _categories(
    value: Any, where: str, profiles: dict[str, ProductProfile], inherited: ProductProfile | None
) -> tuple[CategorySpec, ...]:
    """The categories of one level: each names a profile or inherits `inherited`; `nouns` narrows it."""
    if not isinstance(value, list) or not value:
        raise SeedError(f"{VOCABULARY_FILE}: {where}: expected a non-empty array of tables")
    specs = []
    for position, entry in enumerate(value):
        at = f"{where}[{position}]"
        spec = _toml_table(entry, at)
        _expect_keys(spec, at, ("name", "description"), ("profile", "nouns", "children"))
        profile = (
            _known(_string(spec["profile"], f"{at}.profile"), profiles, f"{at}.profile")
            if "profile" in spec
            else inherited
        )
        if "nouns" in spec:
            if profile is None:
                raise SeedError(f"{VOCABULARY_FILE}: {at}.nouns: a category without a profile has no nouns to narrow")
            profile = replace(profile, nouns=_strings(spec["nouns"], f"{at}.nouns"))
        children = _categories(spec["children"], f"{at}.children", profiles, profile) if "children" in spec else ()
        specs.append(
            CategorySpec(
                _string(spec["name"], f"{at}.name"),
                _string(spec["description"], f"{at}.description"),
                profile,
                children,
            )
        )
    return tuple(specs)


def _entries(document: dict[str, Any], section: str) -> Iterator[tuple[str, Any]]:
    yield from _toml_table(document.get(section), section).items()


def _section(document: dict[str, Any], section: str, keys: Collection[str]) -> dict[str, Any]:
    table = _toml_table(document.get(section), section)
    _expect_keys(table, section, keys)
    return table


def _toml_table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise SeedError(f"{VOCABULARY_FILE}: {where}: expected a non-empty table")
    return value


def _expect_keys(table: dict[str, Any], where: str, required: Collection[str], optional: Collection[str] = ()) -> None:
    prefix = f"{where}." if where else ""
    missing = sorted(set(required) - table.keys())
    unknown = sorted(table.keys() - set(required) - set(optional))
    if missing:
        raise SeedError(f"{VOCABULARY_FILE}: {prefix}{missing[0]}: missing")
    if unknown:
        raise SeedError(f"{VOCABULARY_FILE}: {prefix}{unknown[0]}: unknown entry")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SeedError(f"{VOCABULARY_FILE}: {where}: expected a non-empty string")
    return value


def _strings(value: Any, where: str, at_least: int = 1) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) < at_least:
        raise SeedError(f"{VOCABULARY_FILE}: {where}: expected a list of at least {at_least} strings")
    return tuple(_string(item, f"{where}[{index}]") for index, item in enumerate(value))


def _templates(value: Any, where: str, fields: set[str], at_least: int = 1) -> tuple[str, ...]:
    """Strings whose `{placeholders}` are all among `fields`."""
    templates = _strings(value, where, at_least)
    for index, template in enumerate(templates):
        try:
            used = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
        except ValueError as exc:
            raise SeedError(f"{VOCABULARY_FILE}: {where}[{index}]: {exc}") from None
        if used - fields:
            raise SeedError(
                f"{VOCABULARY_FILE}: {where}[{index}]: unknown placeholder {{{sorted(used - fields)[0]}}}; "
                f"use {', '.join(f'{{{name}}}' for name in sorted(fields))}"
            )
    return templates


_Known = TypeVar("_Known")


def _known(key: str, known: dict[str, _Known], where: str) -> _Known:
    if key not in known:
        raise SeedError(f"{VOCABULARY_FILE}: {where}: no entry named {key!r}")
    return known[key]


# --- Generation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CategoryChoice:
    """A category products can be placed in, with what it needs to name and price them."""

    id: int
    department: str
    vendors: tuple[str, ...]
    profile: ProductProfile


def build_catalog(products: int = 1000, seed: int = 1) -> CatalogRows:
    """Generate every row of the catalog in memory; the same arguments always give the same rows."""
    _check_product_count(products)
    rng = Random(seed)
    words = seed_vocabulary()
    catalog = CatalogRows()
    choices = _add_categories(catalog, words)
    customer_created = _add_customers(catalog, rng, words, _customer_count(products))
    slugs: dict[str, int] = {}
    for created_at, product_id in zip(_sorted_offsets(rng, products), range(1, products + 1), strict=True):
        _add_product(catalog, rng, words, product_id, rng.choice(choices), created_at, slugs, customer_created)
    return catalog


def _check_product_count(products: int) -> None:
    if isinstance(products, bool) or not isinstance(products, int) or products < 0:
        raise SeedError(f"products must be a whole number >= 0; got {products!r}")


def _customer_count(products: int) -> int:
    return max(MIN_CUSTOMERS, round(products / PRODUCTS_PER_CUSTOMER))


def _sorted_offsets(rng: Random, count: int) -> list[datetime]:
    """`count` moments over the catalog span in ascending order, so ids follow creation time."""
    offsets = sorted(rng.randint(0, CATALOG_SPAN_SECONDS) for _ in range(count))
    return [EPOCH + timedelta(seconds=offset) for offset in offsets]


def _add_categories(catalog: CatalogRows, words: SeedVocabulary) -> list[_CategoryChoice]:
    """Add the category tree breadth first (parents before children); return the non-root categories."""
    choices: list[_CategoryChoice] = []
    queue: list[tuple[CategorySpec, int | None, str, str, int]] = [
        (spec, None, "", spec.name, position) for position, spec in enumerate(words.categories)
    ]
    for spec, parent_id, parent_slug, department, position in queue:
        category_id = len(catalog.categories) + 1
        slug = f"{parent_slug}-{slugify(spec.name)}" if parent_slug else slugify(spec.name)
        catalog.categories.append(
            {
                "id": category_id,
                "slug": slug,
                "name": spec.name,
                "description": spec.description,
                "parent_id": parent_id,
                "position": position,
            }
        )
        if parent_id is not None and spec.profile is not None:
            choices.append(_CategoryChoice(category_id, department, words.vendors[department], spec.profile))
        queue.extend(
            (child, category_id, slug, department, child_position) for child_position, child in enumerate(spec.children)
        )
    return choices


def _add_customers(catalog: CatalogRows, rng: Random, words: SeedVocabulary, count: int) -> list[datetime]:
    """Add `count` customers with unique emails; return their creation times by index (id - 1)."""
    created = _sorted_offsets(rng, count)
    for index, created_at in enumerate(created):
        customer_id = index + 1
        first, last = rng.choice(words.first_names), rng.choice(words.last_names)
        catalog.customers.append(
            {
                "id": customer_id,
                "email": f"{first}.{last}{customer_id}@example.com".lower(),
                "display_name": f"{first} {last[0]}.",
                "created_at": created_at,
            }
        )
    return created


def _add_product(
    catalog: CatalogRows,
    rng: Random,
    words: SeedVocabulary,
    product_id: int,
    category: _CategoryChoice,
    created_at: datetime,
    slugs: dict[str, int],
    customer_created: Sequence[datetime],
) -> None:
    """Add one product with its variants, images and reviews, and the denormalised columns they imply."""
    profile = category.profile
    noun, material = rng.choice(profile.nouns), rng.choice(profile.materials)
    title = _product_title(rng, profile, material, noun)
    slug = _unique_slug(slugify(title), slugs)
    vendor = rng.choice(category.vendors)
    on_sale = rng.random() < ON_SALE_SHARE
    prices = _add_variants(catalog, rng, product_id, profile, on_sale)
    _add_images(catalog, rng, words, product_id, slug, title)
    ratings = _add_reviews(catalog, rng, words, product_id, noun, created_at, customer_created)
    catalog.products.append(
        {
            "id": product_id,
            "slug": slug,
            "title": title,
            "description": _product_description(rng, words, title, vendor, material),
            "vendor": vendor,
            "category_id": category.id,
            "status": _weighted(rng, STATUS_WEIGHTS),
            "tags": _product_tags(rng, words, category.department, material, on_sale, created_at),
            "min_price": min(prices),
            "rating_average": _rating_average(ratings),
            "rating_count": len(ratings),
            "created_at": created_at,
            "updated_at": created_at + timedelta(seconds=rng.randint(0, MAX_UPDATE_DELAY_SECONDS)),
        }
    )


def _product_title(rng: Random, profile: ProductProfile, material: str, noun: str) -> str:
    if rng.random() < 0.4:
        return f"{rng.choice(profile.adjectives)} {material} {noun}"
    return f"{material} {noun}"


def _unique_slug(base: str, slugs: dict[str, int]) -> str:
    """`base` the first time, then `base-2`, `base-3`..."""
    seen = slugs.get(base, 0) + 1
    slugs[base] = seen
    return base if seen == 1 else f"{base}-{seen}"


def _product_description(rng: Random, words: SeedVocabulary, title: str, vendor: str, material: str) -> str:
    opener = rng.choice(words.description_openers).format(title=title, vendor=vendor, material=material.lower())
    details = rng.sample(words.description_details, rng.randint(0, MAX_DESCRIPTION_DETAILS))
    return " ".join([opener, *details])


def _product_tags(
    rng: Random, words: SeedVocabulary, department: str, material: str, on_sale: bool, created_at: datetime
) -> list[str]:
    """1 to 4 tags: the department first, then a few that describe the product."""
    extras = [slugify(material), *words.tags]
    if on_sale:
        extras.append(words.sale_tag)
    if created_at > EPOCH + timedelta(seconds=CATALOG_SPAN_SECONDS - 90 * 24 * 3600):
        extras.append(words.new_arrival_tag)
    return [slugify(department), *rng.sample(extras, rng.randint(0, 3))]


def _add_variants(
    catalog: CatalogRows, rng: Random, product_id: int, profile: ProductProfile, on_sale: bool
) -> list[Decimal]:
    """Add 3 to 5 variants; return their prices."""
    combinations = _variant_combinations(rng, profile.options, rng.choice(VARIANT_COUNTS))
    base_cents = rng.randint(*profile.price_range) * 100
    ending = rng.choice(PRICE_ENDINGS)
    discount_percent = rng.randint(10, 40)
    sold_out = rng.random() < SOLD_OUT_PRODUCT_SHARE
    prices: list[Decimal] = []
    for position, value_indexes in enumerate(combinations):
        price_cents = _price_point(_scaled_cents(base_cents, profile.options, value_indexes), ending)
        values = [option.values[index] for option, index in zip(profile.options, value_indexes, strict=True)]
        catalog.product_variants.append(
            {
                "id": len(catalog.product_variants) + 1,
                "product_id": product_id,
                "sku": f"SKU-{product_id:06d}-{position + 1:02d}",
                "title": " / ".join(values),
                "selected_options": [
                    {"name": option.name, "value": value} for option, value in zip(profile.options, values, strict=True)
                ],
                "price": _money(price_cents),
                "compare_at_price": _money(_compare_at_cents(price_cents, discount_percent)) if on_sale else None,
                "stock_quantity": _stock_quantity(rng, sold_out),
                "position": position,
            }
        )
        prices.append(_money(price_cents))
    return prices


def _variant_combinations(rng: Random, options: Sequence[OptionSpec], count: int) -> list[tuple[int, ...]]:
    """`count` distinct combinations of option value indexes, in the natural order of the values."""
    every_combination = list(cartesian_product(*(range(len(option.values)) for option in options)))
    return sorted(rng.sample(every_combination, count))


def _scaled_cents(base_cents: int, options: Sequence[OptionSpec], value_indexes: Sequence[int]) -> int:
    percent = 100 + sum(option.price_step_percent * index for option, index in zip(options, value_indexes, strict=True))
    return base_cents * percent // 100


def _price_point(cents: int, ending: int) -> int:
    """Round to a shop-like price: whole dollars ending in .99, .95 or .00 (never below $1.00)."""
    dollars = max(cents // 100, 1)
    if ending == 0 or dollars == 1:
        return dollars * 100
    return (dollars - 1) * 100 + ending


def _compare_at_cents(price_cents: int, discount_percent: int) -> int:
    """The "was" price of a sale: about `discount_percent` above the price, always strictly higher."""
    raised = price_cents * (100 + discount_percent) // 100
    return max(_price_point(raised + 100, 99), price_cents + 100)


def _money(cents: int) -> Decimal:
    """Exact money with two places, built from integer cents (never from a float)."""
    return Decimal(cents).scaleb(-2)


def _stock_quantity(rng: Random, sold_out: bool) -> int:
    if sold_out or rng.random() < OUT_OF_STOCK_VARIANT_SHARE:
        return 0
    return min(MAX_STOCK, 1 + int(rng.expovariate(1 / 40)))


def _add_images(
    catalog: CatalogRows, rng: Random, words: SeedVocabulary, product_id: int, slug: str, title: str
) -> None:
    width, height = rng.choice(IMAGE_SIZES)
    for position in range(_weighted(rng, IMAGE_COUNT_WEIGHTS)):
        catalog.product_images.append(
            {
                "id": len(catalog.product_images) + 1,
                "product_id": product_id,
                "url": f"https://images.example.com/products/{slug}/{position + 1}.jpg",
                "alt_text": f"{title}, {words.image_views[position]}",
                "width": width,
                "height": height,
                "position": position,
            }
        )


def _add_reviews(
    catalog: CatalogRows,
    rng: Random,
    words: SeedVocabulary,
    product_id: int,
    noun: str,
    product_created: datetime,
    customer_created: Sequence[datetime],
) -> list[int]:
    """Add 0 to 8 reviews, each by a different customer, after the product and the customer exist."""
    weights = MIXED_RATING_WEIGHTS if rng.random() < MIXED_PRODUCT_SHARE else LIKED_RATING_WEIGHTS
    count = _weighted(rng, REVIEW_COUNT_WEIGHTS)
    noun_in_sentence = _in_sentence(noun)
    ratings: list[int] = []
    for customer_index in rng.sample(range(len(customer_created)), count):
        rating = _weighted(rng, weights)
        after = max(product_created, customer_created[customer_index])
        delay = rng.randint(MIN_REVIEW_DELAY_SECONDS, MAX_REVIEW_DELAY_SECONDS)
        catalog.reviews.append(
            {
                "id": len(catalog.reviews) + 1,
                "product_id": product_id,
                "customer_id": customer_index + 1,
                "rating": rating,
                "title": rng.choice(words.review_titles[rating]),
                "body": _review_body(rng, words, rating, noun_in_sentence),
                "created_at": after + timedelta(seconds=delay),
            }
        )
        ratings.append(rating)
    return ratings


def _review_body(rng: Random, words: SeedVocabulary, rating: int, noun: str) -> str:
    sentences = rng.sample(words.review_sentences[rating], rng.randint(1, MAX_REVIEW_SENTENCES))
    return " ".join(sentence.format(noun=noun) for sentence in sentences)


def _in_sentence(noun: str) -> str:
    """Lower-case a noun for use mid-sentence, except words with inner capitals (USB-C, NVMe, T-Shirt)."""
    return " ".join(word if any(c.isupper() for c in word[1:]) else word.lower() for word in noun.split())


def _rating_average(ratings: Sequence[int]) -> Decimal:
    """The mean rating rounded half-up to three places; 0.000 without ratings."""
    if not ratings:
        return Decimal(0).quantize(RATING_PLACES)
    return (Decimal(sum(ratings)) / Decimal(len(ratings))).quantize(RATING_PLACES, rounding=ROUND_HALF_UP)


def _weighted(rng: Random, weights: dict[Any, int]) -> Any:
    return rng.choices(tuple(weights), weights=tuple(weights.values()))[0]


# --- Writing ---------------------------------------------------------------------------------------------


async def seed_catalog(engine: AsyncEngine, *, products: int = 1000, seed: int = 1, reset: bool = False) -> SeedReport:
    """Fill the catalog with `products` generated products (and their categories, customers, variants,
    images and reviews) in one transaction.

    With `reset` the existing catalog rows are deleted first, in the same transaction; without it a
    catalog that already has rows raises SeedError and is left untouched. The schema must already exist
    (run the migrations first).
    """
    started = time.perf_counter()
    catalog = build_catalog(products, seed)
    async with engine.begin() as connection:
        if reset:
            await _delete_catalog(connection)
        else:
            await _refuse_existing_catalog(connection)
        for table_name in CATALOG_TABLES:
            await _insert_rows(connection, _table(table_name), catalog.rows_of(table_name))
        if connection.dialect.name == "postgresql":
            await _reset_sequences(connection)
    await _analyze(engine)
    return SeedReport(
        categories=len(catalog.categories),
        customers=len(catalog.customers),
        products=len(catalog.products),
        variants=len(catalog.product_variants),
        images=len(catalog.product_images),
        reviews=len(catalog.reviews),
        seconds=time.perf_counter() - started,
    )


async def _analyze(engine: AsyncEngine) -> None:
    # Fresh planner statistics: without them PostgreSQL picks sequential scans and sorts for the
    # keyset and IN-list queries after a bulk load (measured: 10 ms instead of 0.2 ms per listing).
    async with engine.begin() as connection:
        for table_name in CATALOG_TABLES:
            await connection.execute(text(f"ANALYZE {table_name}"))


async def catalog_counts(engine: AsyncEngine) -> dict[str, int]:
    """The number of rows of each catalog table, keyed by table name."""
    async with engine.connect() as connection:
        return {name: await _count(connection, name) for name in CATALOG_TABLES}


def _table(name: str) -> Table:
    return _TABLES[name]


_TABLES: dict[str, Table] = {
    model.__tablename__: cast(Table, model.__table__)
    for model in (Category, Customer, Product, ProductVariant, ProductImage, Review)
}


async def _count(connection: AsyncConnection, table_name: str) -> int:
    result = await connection.execute(select(func.count()).select_from(_table(table_name)))
    return int(result.scalar_one())


async def _refuse_existing_catalog(connection: AsyncConnection) -> None:
    existing_products = await _count(connection, "products")
    if existing_products:
        raise SeedError(f"the catalog already has {existing_products} products; pass --reset to replace it")
    for table_name in CATALOG_TABLES:
        existing = 0 if table_name == "products" else await _count(connection, table_name)
        if existing:
            raise SeedError(f"the catalog already has {existing} {table_name}; pass --reset to replace it")


async def _delete_catalog(connection: AsyncConnection) -> None:
    """Delete every catalog row, children first; categories are unlinked first (parent_id is RESTRICT)."""
    for table_name in reversed(CATALOG_TABLES):
        if table_name == "categories":
            await connection.execute(update(_table(table_name)).values(parent_id=None))
        await connection.execute(delete(_table(table_name)))


async def _insert_rows(connection: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, CHUNK_SIZE):
        await connection.execute(insert(table), chunk)


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def _reset_sequences(connection: AsyncConnection) -> None:
    """Move each id sequence past the ids inserted explicitly (to 1 again for an empty table)."""
    for table_name in CATALOG_TABLES:
        await connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table_name}"
            )
        )
