"""The catalog seed on SQLite and PostgreSQL: sizes, determinism, reset, consistency and constraints.

Every test runs against fresh databases migrated by Alembic: a temp file for SQLite, and a throwaway
`seedtest_<hex>` database on the local PostgreSQL, dropped afterwards.
"""

from __future__ import annotations

import ast
import copy
import re
import tomllib
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.catalog import seed
from app.catalog.models import PRODUCT_STATUSES
from app.catalog.seed import (
    CATALOG_TABLES,
    SeedError,
    SeedReport,
    build_catalog,
    catalog_counts,
    parse_vocabulary,
    seed_catalog,
    seed_vocabulary,
)
from app.db.base import Base
from app.db.database import create_engine
from app.db.migrate import upgrade
from app.settings import Settings

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
PG_ADMIN_URL = f"{PG_SERVER}/test"
SMALL_CATALOG = 300
LARGE_CATALOG = 10_000
CATALOG_START = datetime(2023, 1, 1, tzinfo=UTC)
CATALOG_END = datetime(2025, 1, 2, tzinfo=UTC)
EMAIL = re.compile(r"^[a-z]+\.[a-z]+\d+@example\.com$")
DISPLAY_NAME = re.compile(r"^[A-Z][a-z]+ [A-Z]\.$")
SKU = re.compile(r"^SKU-\d{6}-\d{2}$")

NewEngine = Callable[[], Awaitable[AsyncEngine]]


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


PRODUCTS = _table("products")
VARIANTS = _table("product_variants")
IMAGES = _table("product_images")
REVIEWS = _table("reviews")
CUSTOMERS = _table("customers")
CATEGORIES = _table("categories")


# --- Fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def seed_backend(backend: str) -> str:
    """The database backend under test (from the suite's --backends option)."""
    return backend


@pytest.fixture
async def seed_new_engine(seed_backend: str, tmp_path: Path) -> AsyncIterator[NewEngine]:
    """A factory of engines on fresh, migrated databases; disposes them and drops the databases after."""
    engines: list[AsyncEngine] = []
    pg_databases: list[str] = []
    admin: AsyncEngine | None = None

    async def new_engine() -> AsyncEngine:
        nonlocal admin
        if seed_backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / f'seed{len(engines)}.db'}"
        else:
            admin = admin or await _pg_admin_engine()
            name = f"seedtest_{uuid.uuid4().hex}"
            async with admin.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            pg_databases.append(name)
            url = f"{PG_SERVER}/{name}"
        upgrade(url)
        engine = create_engine(Settings(database_url=url, environment="test"))
        engines.append(engine)
        return engine

    try:
        yield new_engine
    finally:
        for engine in engines:
            await engine.dispose()
        if admin is not None:
            async with admin.connect() as connection:
                for name in pg_databases:
                    await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


async def _pg_admin_engine() -> AsyncEngine:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect():
            pass
    except OSError as exc:
        await admin.dispose()
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc} (run with --backends sqlite to skip it)")
    return admin


@pytest.fixture
async def seed_small_catalog(seed_new_engine: NewEngine) -> tuple[AsyncEngine, SeedReport]:
    """A fresh database holding a seeded catalog of SMALL_CATALOG products, and the seed's report."""
    engine = await seed_new_engine()
    report = await seed_catalog(engine, products=SMALL_CATALOG, seed=7)
    return engine, report


# --- Helpers ---------------------------------------------------------------------------------------------


async def _rows(engine: AsyncEngine, table: Table) -> list[Row[Any]]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(table).order_by(table.c.id))).all())


async def _all_rows(engine: AsyncEngine) -> dict[str, list[Row[Any]]]:
    return {name: await _rows(engine, _table(name)) for name in CATALOG_TABLES}


def _report_counts(report: SeedReport) -> dict[str, int]:
    return {
        "categories": report.categories,
        "customers": report.customers,
        "products": report.products,
        "product_variants": report.variants,
        "product_images": report.images,
        "reviews": report.reviews,
    }


def _utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive (they were written in UTC); PostgreSQL hands them back aware."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _has_two_places(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.as_tuple().exponent == -2


# --- Sizes -----------------------------------------------------------------------------------------------


async def test_report_matches_the_rows_and_sizes_are_in_range(
    seed_small_catalog: tuple[AsyncEngine, SeedReport],
) -> None:
    engine, report = seed_small_catalog
    counts = await catalog_counts(engine)

    assert counts == _report_counts(report)
    assert report.products == SMALL_CATALOG
    assert report.customers == SMALL_CATALOG // 5
    assert 6 + 6 * 3 <= report.categories <= 6 + 6 * 5 + 6 * 5 * 4
    assert 3 * SMALL_CATALOG <= report.variants <= 5 * SMALL_CATALOG
    assert SMALL_CATALOG <= report.images <= 6 * SMALL_CATALOG
    assert 0 < report.reviews <= 8 * SMALL_CATALOG
    assert report.seconds > 0


async def test_a_tiny_catalog_still_has_twenty_customers(seed_new_engine: NewEngine) -> None:
    engine = await seed_new_engine()

    report = await seed_catalog(engine, products=10)

    assert report.products == 10
    assert report.customers == 20
    assert (await catalog_counts(engine))["customers"] == 20


async def test_every_product_has_three_to_five_variants_and_one_to_six_images(
    seed_small_catalog: tuple[AsyncEngine, SeedReport],
) -> None:
    engine, _ = seed_small_catalog
    async with engine.connect() as connection:
        variant_counts = dict(
            (
                await connection.execute(select(VARIANTS.c.product_id, func.count()).group_by(VARIANTS.c.product_id))
            ).all()
        )
        image_counts = dict(
            (await connection.execute(select(IMAGES.c.product_id, func.count()).group_by(IMAGES.c.product_id))).all()
        )
        product_ids = set((await connection.execute(select(PRODUCTS.c.id))).scalars())

    assert set(variant_counts) == product_ids
    assert set(image_counts) == product_ids
    assert all(3 <= count <= 5 for count in variant_counts.values()), Counter(variant_counts.values())
    assert all(1 <= count <= 6 for count in image_counts.values()), Counter(image_counts.values())
    assert set(variant_counts.values()) == {3, 4, 5}
    assert set(image_counts.values()) == {1, 2, 3, 4, 5, 6}


async def test_variants_and_images_are_well_formed(
    seed_small_catalog: tuple[AsyncEngine, SeedReport],
) -> None:
    engine, _ = seed_small_catalog
    variants = await _rows(engine, VARIANTS)
    images = await _rows(engine, IMAGES)
    slugs = {row.id: row.slug for row in await _rows(engine, PRODUCTS)}

    assert len({variant.sku for variant in variants}) == len(variants)
    assert all(SKU.match(variant.sku) for variant in variants)
    positions: dict[int, list[int]] = defaultdict(list)
    for variant in variants:
        positions[variant.product_id].append(variant.position)
        options = variant.selected_options
        assert isinstance(options, list) and options, variant
        assert all(set(option) == {"name", "value"} for option in options), variant
        assert variant.title == " / ".join(option["value"] for option in options)
    assert all(sorted(found) == list(range(len(found))) for found in positions.values())

    image_positions: dict[int, list[int]] = defaultdict(list)
    for image in images:
        image_positions[image.product_id].append(image.position)
        assert image.url == f"https://images.example.com/products/{slugs[image.product_id]}/{image.position + 1}.jpg"
        assert (image.width, image.height) in {(1600, 1600), (1200, 1600)}
        assert image.alt_text
    assert all(sorted(found) == list(range(len(found))) for found in image_positions.values())


# --- Consistency and constraints -------------------------------------------------------------------------


async def test_denormalised_columns_equal_the_aggregates(
    seed_small_catalog: tuple[AsyncEngine, SeedReport],
) -> None:
    engine, _ = seed_small_catalog
    of_product = VARIANTS.c.product_id == PRODUCTS.c.id
    reviewed = REVIEWS.c.product_id == PRODUCTS.c.id
    query = select(
        PRODUCTS.c.id,
        PRODUCTS.c.min_price,
        PRODUCTS.c.rating_count,
        PRODUCTS.c.rating_average,
        select(func.min(VARIANTS.c.price)).where(of_product).scalar_subquery().label("variant_min"),
        select(func.count()).select_from(REVIEWS).where(reviewed).scalar_subquery().label("review_count"),
        select(func.coalesce(func.sum(REVIEWS.c.rating), 0)).where(reviewed).scalar_subquery().label("rating_sum"),
        select(func.avg(REVIEWS.c.rating)).where(reviewed).scalar_subquery().label("rating_avg"),
    ).order_by(PRODUCTS.c.id)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()

    assert len(rows) == SMALL_CATALOG
    for row in rows:
        assert row.min_price == row.variant_min, row
        assert row.rating_count == row.review_count, row
        if row.review_count == 0:
            assert row.rating_average == 0, row
            continue
        expected = (Decimal(row.rating_sum) / row.review_count).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
        assert row.rating_average == expected, row
        assert abs(row.rating_average - Decimal(str(row.rating_avg))) <= Decimal("0.0005"), row
    unreviewed = sum(row.review_count == 0 for row in rows) / len(rows)
    assert 0.12 <= unreviewed <= 0.40, unreviewed


async def test_prices_are_decimals_with_two_places(
    seed_small_catalog: tuple[AsyncEngine, SeedReport],
) -> None:
    engine, _ = seed_small_catalog
    variants = await _rows(engine, VARIANTS)
    products = await _rows(engine, PRODUCTS)

    assert all(_has_two_places(variant.price) and variant.price > 0 for variant in variants)
    assert all(_has_two_places(product.min_price) for product in products)
    on_sale = [variant for variant in variants if variant.compare_at_price is not None]
    assert all(_has_two_places(variant.compare_at_price) for variant in on_sale)
    assert all(variant.compare_at_price > variant.price for variant in on_sale)
    assert 0.15 <= len(on_sale) / len(variants) <= 0.45


def test_generated_money_is_built_as_two_place_decimals() -> None:
    """The databases normalise the scale on read, so check the values the seed hands to the driver."""
    catalog = build_catalog(products=SMALL_CATALOG, seed=5)

    money = [row["price"] for row in catalog.product_variants]
    money += [row["compare_at_price"] for row in catalog.product_variants if row["compare_at_price"] is not None]
    money += [row["min_price"] for row in catalog.products]
    assert all(_has_two_places(value) for value in money)
    assert all(
        isinstance(row["rating_average"], Decimal) and row["rating_average"].as_tuple().exponent == -3
        for row in catalog.products
    )
    timestamped = ("customers", "products", "reviews")
    moments = [row["created_at"] for name in timestamped for row in catalog.rows_of(name)]
    moments += [row["updated_at"] for row in catalog.products]
    assert all(moment.tzinfo is UTC for moment in moments)


async def test_stock_ratings_emails_and_dates_respect_the_rules(
    seed_small_catalog: tuple[AsyncEngine, SeedReport],
) -> None:
    engine, _ = seed_small_catalog
    variants = await _rows(engine, VARIANTS)
    reviews = await _rows(engine, REVIEWS)
    customers = await _rows(engine, CUSTOMERS)
    products = {product.id: product for product in await _rows(engine, PRODUCTS)}

    assert all(variant.stock_quantity >= 0 for variant in variants)
    assert 0.07 <= sum(variant.stock_quantity == 0 for variant in variants) / len(variants) <= 0.25

    ratings = Counter(review.rating for review in reviews)
    assert set(ratings) <= {1, 2, 3, 4, 5}
    assert (ratings[4] + ratings[5]) / len(reviews) > 0.6
    assert len({(review.product_id, review.customer_id) for review in reviews}) == len(reviews)
    assert all(_utc(review.created_at) > _utc(products[review.product_id].created_at) for review in reviews)

    emails = [customer.email for customer in customers]
    assert len({email.lower() for email in emails}) == len(emails)
    assert all(EMAIL.match(email) for email in emails), emails[:5]
    assert all(DISPLAY_NAME.match(customer.display_name) for customer in customers)

    statuses = Counter(product.status for product in products.values())
    assert set(statuses) <= set(PRODUCT_STATUSES)
    assert 0.8 <= statuses["ACTIVE"] / len(products) <= 0.97
    for product in products.values():
        assert CATALOG_START <= _utc(product.created_at) <= CATALOG_END
        assert product.updated_at >= product.created_at
        assert isinstance(product.tags, list) and 1 <= len(product.tags) <= 4
        assert all(isinstance(tag, str) and tag for tag in product.tags)
    created = [product.created_at for product in products.values()]
    assert (max(created) - min(created)).days > 600


async def test_timestamps_are_stored_in_utc(seed_small_catalog: tuple[AsyncEngine, SeedReport]) -> None:
    engine, _ = seed_small_catalog
    first = (await _rows(engine, PRODUCTS))[0]

    if engine.dialect.name == "postgresql":
        assert first.created_at.utcoffset() is not None
        assert first.created_at.utcoffset().total_seconds() == 0
    assert CATALOG_START <= _utc(first.created_at) <= CATALOG_END


# --- Category tree ---------------------------------------------------------------------------------------


async def test_category_tree_is_three_levels_deep_without_cycles(
    seed_small_catalog: tuple[AsyncEngine, SeedReport],
) -> None:
    engine, _ = seed_small_catalog
    categories = {category.id: category for category in await _rows(engine, CATEGORIES)}
    products = await _rows(engine, PRODUCTS)

    depths = {category_id: _depth(categories, category_id) for category_id in categories}
    assert max(depths.values()) == 3
    children: dict[int | None, list[Any]] = defaultdict(list)
    for category in categories.values():
        children[category.parent_id].append(category)
    roots = children[None]
    assert 5 <= len(roots) <= 8
    assert all(3 <= len(children[root.id]) <= 5 for root in roots)
    grandchild_counts = [len(children[child.id]) for root in roots for child in children[root.id]]
    assert all(count == 0 or 2 <= count <= 4 for count in grandchild_counts)
    assert any(count > 0 for count in grandchild_counts)
    for siblings in children.values():
        assert sorted(category.position for category in siblings) == list(range(len(siblings)))
    assert len({category.slug for category in categories.values()}) == len(categories)
    for category in categories.values():
        assert category.description
        if category.parent_id is not None:
            assert category.slug.startswith(categories[category.parent_id].slug + "-")
            assert category.parent_id < category.id, "parents are inserted before their children"

    assert all(product.category_id in categories for product in products)
    assert all(depths[product.category_id] in (2, 3) for product in products)


def _depth(categories: dict[int, Any], category_id: int) -> int:
    """1 for a root; fails on a cycle or a dangling parent."""
    seen: set[int] = set()
    current: int | None = category_id
    while current is not None:
        assert current not in seen, f"cycle through category {current}"
        assert current in categories, f"dangling parent {current}"
        seen.add(current)
        current = categories[current].parent_id
    return len(seen)


# --- Determinism -----------------------------------------------------------------------------------------


async def test_the_same_seed_gives_identical_rows_and_another_seed_does_not(
    seed_new_engine: NewEngine,
) -> None:
    first, second, other = await seed_new_engine(), await seed_new_engine(), await seed_new_engine()

    await seed_catalog(first, products=SMALL_CATALOG, seed=42)
    await seed_catalog(second, products=SMALL_CATALOG, seed=42)
    await seed_catalog(other, products=SMALL_CATALOG, seed=43)

    first_rows = await _all_rows(first)
    assert first_rows == await _all_rows(second)
    assert all(first_rows[name] for name in CATALOG_TABLES)
    other_rows = await _all_rows(other)
    assert [row.title for row in first_rows["products"]] != [row.title for row in other_rows["products"]]
    assert [row.price for row in first_rows["product_variants"]] != [
        row.price for row in other_rows["product_variants"]
    ]


# --- Reset -----------------------------------------------------------------------------------------------


async def test_seeding_a_catalog_with_products_fails_and_keeps_the_data(
    seed_small_catalog: tuple[AsyncEngine, SeedReport],
) -> None:
    engine, _ = seed_small_catalog
    before = await _all_rows(engine)

    with pytest.raises(SeedError, match=rf"already has {SMALL_CATALOG} products; pass --reset to replace it"):
        await seed_catalog(engine, products=50, seed=8)

    assert await _all_rows(engine) == before


async def test_seeding_refuses_leftover_rows_even_without_products(seed_new_engine: NewEngine) -> None:
    engine = await seed_new_engine()
    async with engine.begin() as connection:
        await connection.execute(
            insert(CUSTOMERS),
            [{"id": 1, "email": "a.b1@example.com", "display_name": "A B.", "created_at": CATALOG_START}],
        )

    with pytest.raises(SeedError, match="already has 1 customers; pass --reset"):
        await seed_catalog(engine, products=20)

    assert await catalog_counts(engine) == dict.fromkeys(CATALOG_TABLES, 0) | {"customers": 1}


async def test_reset_replaces_the_catalog_with_what_a_fresh_seed_writes(seed_new_engine: NewEngine) -> None:
    reused, fresh = await seed_new_engine(), await seed_new_engine()
    await seed_catalog(reused, products=SMALL_CATALOG, seed=1)

    report = await seed_catalog(reused, products=120, seed=2, reset=True)
    await seed_catalog(fresh, products=120, seed=2)

    assert await catalog_counts(reused) == await catalog_counts(fresh) == _report_counts(report)
    assert await _all_rows(reused) == await _all_rows(fresh)


async def test_ids_continue_after_the_seeded_rows(seed_new_engine: NewEngine) -> None:
    """On PostgreSQL the sequences must be moved past the explicit ids, or the next insert collides."""
    engine = await seed_new_engine()
    report = await seed_catalog(engine, products=40, seed=3, reset=True)

    async with engine.begin() as connection:
        new_category_id = (
            await connection.execute(
                insert(CATEGORIES).values(slug="new-category", name="New", description="", position=99)
            )
        ).inserted_primary_key[0]
        new_customer_id = (
            await connection.execute(
                insert(CUSTOMERS).values(email="new.one@example.com", display_name="New O.", created_at=CATALOG_START)
            )
        ).inserted_primary_key[0]

    assert new_category_id == report.categories + 1
    assert new_customer_id == report.customers + 1


async def test_a_negative_product_count_is_refused(seed_new_engine: NewEngine) -> None:
    engine = await seed_new_engine()

    with pytest.raises(SeedError, match="products must be"):
        await seed_catalog(engine, products=-1)

    assert await catalog_counts(engine) == dict.fromkeys(CATALOG_TABLES, 0)


# --- Vocabulary ------------------------------------------------------------------------------------------

SEED_MODULE = Path(seed.__file__)
VOCABULARY_FILE = SEED_MODULE.with_name(seed.VOCABULARY_FILE)
VOCABULARY_SECTIONS = [
    "options", "adjectives", "profiles", "categories", "vendors", "customers", "descriptions", "tags", "images",
    "reviews",
]  # fmt: skip


def _vocabulary_document() -> dict[str, Any]:
    return tomllib.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))


def _walk(categories: Any, depth: int = 1) -> Iterator[tuple[int, Any]]:
    for category in categories:
        yield depth, category
        yield from _walk(category.children, depth + 1)


def test_the_vocabulary_file_has_every_section_the_seed_needs_and_nothing_empty() -> None:
    document = _vocabulary_document()
    words = seed_vocabulary()

    assert list(document) == VOCABULARY_SECTIONS
    assert all(document[section] for section in VOCABULARY_SECTIONS)
    assert parse_vocabulary(document) == words
    assert [department.name for department in words.categories] == list(words.vendors)
    for depth, category in _walk(words.categories):
        assert category.name and category.description
        assert (category.profile is None) == (depth == 1), category.name
    profiles = [category.profile for _, category in _walk(words.categories) if category.profile is not None]
    assert all(profile.nouns and profile.materials and profile.adjectives and profile.options for profile in profiles)
    texts = [words.first_names, words.last_names, words.description_openers, words.description_details, words.tags]
    assert all(texts) and words.sale_tag and words.new_arrival_tag
    assert len(words.image_views) == 6
    assert sorted(words.review_titles) == sorted(words.review_sentences) == [1, 2, 3, 4, 5]
    assert all(len(sentences) >= 3 for sentences in words.review_sentences.values())


def test_the_vocabulary_is_read_once() -> None:
    assert seed_vocabulary() is seed_vocabulary()


def _without(document: dict[str, Any], *path: str | int) -> None:
    del _at(document, path[:-1])[path[-1]]


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def _set(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    _at(document, path[:-1])[path[-1]] = value


BROKEN_VOCABULARIES: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (lambda d: _without(d, "reviews"), r"^seed_vocabulary\.toml: reviews: missing$"),
    (lambda d: _without(d, "reviews", "3"), r"reviews\.3: missing"),
    (lambda d: _set(d, ("surprise",), {"a": 1}), r"surprise: unknown entry"),
    (lambda d: _set(d, ("customers", "first_names"), []), r"customers\.first_names: expected a list of at least 1"),
    (lambda d: _set(d, ("vendors", "Beauty"), ["Juniper Skin", ""]), r"vendors\.Beauty\[1\]: expected a non-empty"),
    (lambda d: _without(d, "vendors", "Home"), r"no vendors for the department 'Home'"),
    (lambda d: _set(d, ("profiles", "tees", "options"), ["apparel_size"]), r"tees\.options: no entry named 'apparel"),
    (lambda d: _set(d, ("profiles", "tees", "adjectives"), "appparel"), r"tees\.adjectives: no entry named"),
    (lambda d: _set(d, ("profiles", "tees", "options"), ["sock_sizes"]), r"tees\.options: 4 combinations"),
    (lambda d: _set(d, ("profiles", "tees", "price_range"), [48, 18]), r"tees\.price_range: expected \[lowest"),
    (lambda d: _set(d, ("profiles", "tees", "price"), 5), r"profiles\.tees\.price: unknown entry"),
    (lambda d: _set(d, ("options", "bed_sizes", "price_step_percent"), -1), r"bed_sizes\.price_step_percent"),
    (lambda d: _set(d, ("categories", 0, "children", 0, "profile"), "tee"), r"categories\[0\]\.children\[0\]\.profile"),
    (lambda d: _set(d, ("categories", 0, "nouns"), ["Thing"]), r"categories\[0\]\.nouns: a category without"),
    (lambda d: _set(d, ("descriptions", "openers"), ["The {titel}."]), r"openers\[0\]: unknown placeholder \{titel\}"),
    (lambda d: _set(d, ("descriptions", "details"), ["Only one."]), r"details: expected a list of at least 2"),
    (lambda d: _set(d, ("images", "views"), ["front", "back"]), r"images\.views: expected a list of at least 6"),
    (lambda d: _set(d, ("reviews", "5", "sentences"), ["A {noun}.", "B."]), r"reviews\.5\.sentences: .* at least 3"),
    (lambda d: _set(d, ("tags", "sale"), ""), r"tags\.sale: expected a non-empty string"),
]


@pytest.mark.parametrize(("breaks", "message"), BROKEN_VOCABULARIES)
def test_a_broken_vocabulary_is_refused_naming_the_entry(
    breaks: Callable[[dict[str, Any]], None], message: str
) -> None:
    document = copy.deepcopy(_vocabulary_document())
    breaks(document)

    with pytest.raises(SeedError, match=message):
        parse_vocabulary(document)


def test_the_seed_module_holds_no_word_lists() -> None:
    """The vocabulary is data: no word of the vocabulary file is a literal in the code (its entry names are,
    where the code reads them), and no literal collection of constants is longer than a handful of items."""
    tree = ast.parse(SEED_MODULE.read_text(encoding="utf-8"))
    keys, values = _keys_and_values(_vocabulary_document())
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    constant_collections = [
        entries
        for node in ast.walk(tree)
        if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict) and not _is_dunder_all(tree, node)
        for entries in [list(zip(node.keys, node.values, strict=True)) if isinstance(node, ast.Dict) else node.elts]
        if all(
            isinstance(item, ast.Constant) for item in ast.walk(node) if isinstance(item, ast.expr) and item is not node
        )
    ]

    assert len(values) > 500
    assert sorted((values - keys) & literals) == []
    assert constant_collections
    assert max(len(entries) for entries in constant_collections) <= 10


def _keys_and_values(value: Any) -> tuple[set[str], set[str]]:
    """Every table key, and every string value, of a parsed TOML document."""
    keys: set[str] = set()
    values: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            keys.update(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            values.add(item)
    return keys, values


def _is_dunder_all(tree: ast.Module, node: ast.AST) -> bool:
    return any(
        isinstance(statement, ast.Assign)
        and statement.value is node
        and any(isinstance(target, ast.Name) and target.id == "__all__" for target in statement.targets)
        for statement in tree.body
    )


# --- Volume ----------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_ten_thousand_products(seed_new_engine: NewEngine, seed_backend: str) -> None:
    engine = await seed_new_engine()

    report = await seed_catalog(engine, products=LARGE_CATALOG, seed=1)

    print(f"\nseeded {LARGE_CATALOG} products on {seed_backend} in {report.seconds:.2f} s: {report}")
    assert await catalog_counts(engine) == _report_counts(report)
    assert report.products == LARGE_CATALOG
    assert report.customers == LARGE_CATALOG // 5
    assert 3 * LARGE_CATALOG <= report.variants <= 5 * LARGE_CATALOG
    assert LARGE_CATALOG <= report.images <= 6 * LARGE_CATALOG
