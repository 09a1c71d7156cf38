"""Staff: catalog mutations for the STAFF role only, stock that never goes below zero (also under
concurrent adjustments on PostgreSQL), and `storefront create-staff`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from app.accounts.models import Customer
from app.catalog.models import Category, Product, ProductVariant
from app.db.ids import encode_global_id
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import Client, Running, bearer, new_email, running, sign_in, sign_up
from tests.test_accounts import _rows

ROOT = Path(__file__).resolve().parent.parent
STAFF_PASSWORD = "staff passphrase for tests"
PRODUCT_CREATE = """mutation($input: ProductInput!) {
  productCreate(input: $input) { product { id slug title vendor tags category { name } } errors { field message code } }
}"""
PRODUCT_UPDATE = """mutation($id: ID!, $input: ProductInput!) {
  productUpdate(id: $id, input: $input) { product { id title } errors { field message code } }
}"""
VARIANT_CREATE = """mutation($product: ID!, $input: VariantInput!) {
  variantCreate(productId: $product, input: $input) {
    variant { id sku title price { amount } compareAtPrice { amount } selectedOptions { name value } quantityAvailable }
    errors { field message code }
  }
}"""
VARIANT_UPDATE = """mutation($id: ID!, $input: VariantInput!) {
  variantUpdate(id: $id, input: $input) {
    variant { sku price { amount } compareAtPrice { amount } } errors { field message code }
  }
}"""
ADJUST = """mutation($id: ID!, $delta: Int!) {
  inventoryAdjust(variantId: $id, delta: $delta) { variant { quantityAvailable } errors { field message code } }
}"""


@pytest.fixture(scope="module")
async def staff_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    folder = tmp_path_factory.mktemp(f"staff-{backend}")
    async with seeded_database(backend, folder, products=10, seed=5) as url:
        yield url


def _cli(*args: str, url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "STOREFRONT_ENV": "test"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def staff_email(staff_url: str) -> str:
    email = new_email("staff")
    done = _cli("create-staff", "--email", email, "--password-stdin", url=staff_url, stdin=STAFF_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"storefront: created the staff account {email}\n"
    return email


@pytest.fixture(scope="module")
async def app(staff_url: str, executor: str) -> AsyncIterator[Running]:
    settings = settings_for(staff_url, fast_executor=executor == "fast", secret_key=Secret("s" * 40))
    async with running(settings) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


@pytest.fixture
async def staff(client: Client, staff_email: str) -> dict[str, str]:
    return bearer((await sign_in(client, staff_email, STAFF_PASSWORD))["accessToken"])


async def _category(url: str) -> tuple[str, str]:
    [row] = await _rows(url, select(Category.id, Category.name).order_by(Category.id).limit(1))
    return encode_global_id("Category", row.id), row.name


async def _new_product(client: Client, staff: dict[str, str], title: str = "Wool Scarf") -> dict:
    body = await client.gql(
        PRODUCT_CREATE, {"input": {"title": title, "vendor": "Knitters", "status": "ACTIVE"}}, headers=staff
    )
    assert body["data"]["productCreate"]["errors"] == [], body
    return body["data"]["productCreate"]["product"]


async def test_staff_create_a_product_with_a_slug_made_from_its_title(client, staff, staff_url):
    category_id, category_name = await _category(staff_url)
    title = f"Men's Rain Jacket {uuid.uuid4().hex[:6]}"
    slug = title.lower().replace("'", "").replace(" ", "-")
    body = await client.gql(
        PRODUCT_CREATE,
        {
            "input": {
                "title": title,
                "vendor": " Northwind ",
                "categoryId": category_id,
                "tags": ["rain", "rain", "new"],
            }
        },
        headers=staff,
    )
    product = body["data"]["productCreate"]["product"]
    assert body["data"]["productCreate"]["errors"] == []
    assert (product["slug"], product["title"], product["vendor"], product["tags"]) == (
        slug,
        title,
        "Northwind",
        ["rain", "new"],
    )
    assert product["category"] == {"name": category_name}
    again = await client.gql(PRODUCT_CREATE, {"input": {"title": title, "vendor": "N"}}, headers=staff)
    assert again["data"]["productCreate"]["product"]["slug"] == f"{slug}-2"
    # a new product is a draft: not on sale until made ACTIVE
    [row] = await _rows(staff_url, select(Product.status).where(Product.slug == slug))
    assert row.status == "DRAFT"
    found = await client.gql("query($slug: String!) { product(slug: $slug) { id } }", {"slug": slug})
    assert found["data"]["product"] is None


async def test_customers_and_anonymous_callers_are_forbidden(client, staff_url):
    email = new_email()
    await sign_up(client, email)
    customer = bearer((await sign_in(client, email))["accessToken"])
    variant = encode_global_id("ProductVariant", 1)
    before = await _rows(staff_url, select(Product.status, Product.title).where(Product.id == 1))
    stock_before = await _rows(staff_url, select(ProductVariant.stock_quantity).where(ProductVariant.id == 1))
    for headers in (customer, {}):
        for query, variables, name in (
            (PRODUCT_CREATE, {"input": {"title": "X", "vendor": "Y"}}, "productCreate"),
            (PRODUCT_UPDATE, {"id": encode_global_id("Product", 1), "input": {"status": "ARCHIVED"}}, "productUpdate"),
            (
                VARIANT_CREATE,
                {"product": encode_global_id("Product", 1), "input": {"sku": "S", "price": "1"}},
                "variantCreate",
            ),
            (VARIANT_UPDATE, {"id": variant, "input": {"price": "0"}}, "variantUpdate"),
            (ADJUST, {"id": variant, "delta": -1}, "inventoryAdjust"),
        ):
            body = await client.gql(query, variables, headers=headers)
            assert body["data"][name]["errors"] == [
                {"field": None, "message": "Only staff may change the catalog", "code": "FORBIDDEN"}
            ], (name, headers)
    assert await _rows(staff_url, select(Product.status, Product.title).where(Product.id == 1)) == before
    assert await _rows(staff_url, select(ProductVariant.stock_quantity).where(ProductVariant.id == 1)) == stock_before


async def test_a_product_update_archives_it_and_checks_its_fields(client, staff):
    product = await _new_product(client, staff, "Cotton Tote")
    assert (await client.gql("query($id: ID!) { node(id: $id) { id } }", {"id": product["id"]}))["data"]["node"]
    body = await client.gql(
        PRODUCT_UPDATE, {"id": product["id"], "input": {"status": "ARCHIVED", "title": "Tote"}}, headers=staff
    )
    assert body["data"]["productUpdate"] == {"product": {"id": product["id"], "title": "Tote"}, "errors": []}
    assert (await client.gql("query($id: ID!) { node(id: $id) { id } }", {"id": product["id"]}))["data"]["node"] is None
    bad = await client.gql(
        PRODUCT_UPDATE,
        {"id": product["id"], "input": {"title": " ", "slug": "Not A Slug", "categoryId": "junk", "tags": ["x" * 51]}},
        headers=staff,
    )
    assert bad["data"]["productUpdate"]["errors"] == [
        {"field": ["input", "title"], "message": "The title is required", "code": "INVALID"},
        {"field": ["input", "tags"], "message": "Give at most 30 tags of 1 to 50 characters each", "code": "INVALID"},
        {
            "field": ["input", "slug"],
            "message": "The slug must be lower-case letters and digits joined by hyphens, up to 200",
            "code": "INVALID",
        },
        {"field": ["input", "categoryId"], "message": "No category has this ID", "code": "NOT_FOUND"},
    ]
    unknown = await client.gql(
        PRODUCT_UPDATE,
        {"id": product["id"], "input": {"categoryId": encode_global_id("Category", 10**6)}},
        headers=staff,
    )
    assert unknown["data"]["productUpdate"]["errors"] == [
        {"field": ["input", "categoryId"], "message": "No category has this ID", "code": "NOT_FOUND"}
    ]


async def test_variants_are_created_and_updated_and_the_lowest_price_follows(client, staff, staff_url):
    product = await _new_product(client, staff)
    body = await client.gql(
        VARIANT_CREATE,
        {
            "product": product["id"],
            "input": {
                "sku": f"SCARF-{product['id'][-4:]}-M",
                "price": "25.00",
                "compareAtPrice": "30.00",
                "options": [{"name": "Size", "value": "M"}],
                "stockQuantity": 4,
            },
        },
        headers=staff,
    )
    variant = body["data"]["variantCreate"]["variant"]
    assert body["data"]["variantCreate"]["errors"] == []
    assert {
        key: variant[key] for key in ("title", "price", "compareAtPrice", "selectedOptions", "quantityAvailable")
    } == {
        "title": "M",
        "price": {"amount": "25.00"},
        "compareAtPrice": {"amount": "30.00"},
        "selectedOptions": [{"name": "Size", "value": "M"}],
        "quantityAvailable": 4,
    }
    updated = await client.gql(
        VARIANT_UPDATE, {"id": variant["id"], "input": {"price": "19.50", "compareAtPrice": None}}, headers=staff
    )
    assert updated["data"]["variantUpdate"]["variant"]["price"] == {"amount": "19.50"}
    assert updated["data"]["variantUpdate"]["variant"]["compareAtPrice"] is None
    [row] = await _rows(staff_url, select(Product.min_price).where(Product.slug == product["slug"]))
    assert str(row.min_price) == "19.50"


async def test_a_taken_sku_and_bad_prices_are_refused(client, staff):
    product = await _new_product(client, staff)
    sku = f"DUP-{product['id'][-6:]}"
    await client.gql(VARIANT_CREATE, {"product": product["id"], "input": {"sku": sku, "price": "5"}}, headers=staff)
    taken = await client.gql(
        VARIANT_CREATE, {"product": product["id"], "input": {"sku": sku, "price": "5"}}, headers=staff
    )
    assert taken["data"]["variantCreate"]["errors"] == [
        {"field": ["input", "sku"], "message": "Another variant has this SKU", "code": "TAKEN"}
    ]
    bad = await client.gql(
        VARIANT_CREATE, {"product": product["id"], "input": {"sku": "OK-1", "price": "-1.005"}}, headers=staff
    )
    assert bad["data"]["variantCreate"]["errors"] == [
        {
            "field": ["input", "price"],
            "message": "The price must be an amount from 0 to 9999999999.99 with at most two decimals",
            "code": "INVALID",
        }
    ]


async def test_inventory_never_goes_below_zero(client, staff):
    product = await _new_product(client, staff)
    created = await client.gql(
        VARIANT_CREATE,
        {"product": product["id"], "input": {"sku": f"INV-{product['id'][-6:]}", "price": "3", "stockQuantity": 2}},
        headers=staff,
    )
    variant_id = created["data"]["variantCreate"]["variant"]["id"]
    added = await client.gql(ADJUST, {"id": variant_id, "delta": 3}, headers=staff)
    assert added["data"]["inventoryAdjust"] == {"variant": {"quantityAvailable": 5}, "errors": []}
    too_many = await client.gql(ADJUST, {"id": variant_id, "delta": -6}, headers=staff)
    assert too_many["data"]["inventoryAdjust"] == {
        "variant": None,
        "errors": [{"field": ["delta"], "message": "The stock cannot go below zero", "code": "INSUFFICIENT_STOCK"}],
    }
    unknown = await client.gql(ADJUST, {"id": encode_global_id("ProductVariant", 10**7), "delta": 1}, headers=staff)
    assert unknown["data"]["inventoryAdjust"]["errors"][0]["code"] == "NOT_FOUND"


async def test_concurrent_adjustments_never_oversell(staff_url, staff_email, backend):
    if backend != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL; SQLite serialises writers")
    settings = replace(settings_for(staff_url, secret_key=Secret("s" * 40)), db_pool_size=12, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        staff = bearer((await sign_in(client, staff_email, STAFF_PASSWORD))["accessToken"])
        product = await _new_product(client, staff)
        created = await client.gql(
            VARIANT_CREATE,
            {
                "product": product["id"],
                "input": {"sku": f"RACE-{product['id'][-6:]}", "price": "3", "stockQuantity": 5},
            },
            headers=staff,
        )
        variant_id = created["data"]["variantCreate"]["variant"]["id"]
        # when: twelve take one each, at once, from a stock of five
        answers = await asyncio.gather(
            *(client.gql(ADJUST, {"id": variant_id, "delta": -1}, headers=staff) for _ in range(12))
        )
        await client.aclose()
    codes = [
        answer["data"]["inventoryAdjust"]["errors"][0]["code"] if answer["data"]["inventoryAdjust"]["errors"] else "OK"
        for answer in answers
    ]
    assert sorted(codes) == ["INSUFFICIENT_STOCK"] * 7 + ["OK"] * 5
    [row] = await _rows(
        staff_url, select(ProductVariant.stock_quantity).where(ProductVariant.sku == f"RACE-{product['id'][-6:]}")
    )
    assert row.stock_quantity == 0


def test_create_staff_refuses_a_weak_password_and_an_existing_email_unless_promoted(staff_url, staff_email):
    weak = _cli("create-staff", "--email", new_email("weak"), "--password-stdin", url=staff_url, stdin="short\n")
    assert (weak.returncode, weak.stderr) == (1, "storefront: The password must be at least 10 characters long\n")
    exists = _cli(
        "create-staff", "--email", staff_email, "--password-stdin", url=staff_url, stdin=STAFF_PASSWORD + "\n"
    )
    assert exists.returncode == 1 and "pass --promote" in exists.stderr


async def test_create_staff_promote_makes_a_customer_staff(client, staff_url):
    email = new_email("promoted")
    await sign_up(client, email)
    done = _cli("create-staff", "--email", email, "--promote", url=staff_url)
    assert (done.returncode, done.stdout) == (0, f"storefront: {email} is now staff\n")
    [row] = await _rows(staff_url, select(Customer.role).where(Customer.email == email))
    assert row.role == "STAFF"
    token = (await sign_in(client, email))["accessToken"]
    body = await client.gql(
        PRODUCT_CREATE, {"input": {"title": "By a promoted one", "vendor": "V"}}, headers=bearer(token)
    )
    assert body["data"]["productCreate"]["errors"] == []


async def test_concurrent_products_with_one_title_get_distinct_slugs(staff_url, staff_email, backend):
    if backend != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL; SQLite serialises writers")
    settings = replace(settings_for(staff_url, secret_key=Secret("s" * 40)), db_pool_size=12, db_max_overflow=0)
    title = f"Race Hat {uuid.uuid4().hex[:6]}"
    async with running(settings) as started:
        client = started.client()
        staff = bearer((await sign_in(client, staff_email, STAFF_PASSWORD))["accessToken"])
        generated = await asyncio.gather(
            *(client.gql(PRODUCT_CREATE, {"input": {"title": title, "vendor": "V"}}, headers=staff) for _ in range(8))
        )
        given = await asyncio.gather(
            *(
                client.gql(
                    PRODUCT_CREATE,
                    {"input": {"title": "T", "vendor": "V", "slug": f"{title.lower().replace(' ', '-')}-x"}},
                    headers=staff,
                )
                for _ in range(4)
            )
        )
        await client.aclose()
    assert [body["data"]["productCreate"]["errors"] for body in generated] == [[]] * 8
    slugs = [body["data"]["productCreate"]["product"]["slug"] for body in generated]
    assert len(set(slugs)) == 8
    codes = sorted(
        body["data"]["productCreate"]["errors"][0]["code"] if body["data"]["productCreate"]["errors"] else "OK"
        for body in given
    )
    assert codes == ["OK", "TAKEN", "TAKEN", "TAKEN"]
