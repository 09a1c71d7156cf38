"""reviewCreate and a customer's reviews: signed-in customers review a product once, its rating follows at
once (also under concurrent reviews on PostgreSQL), and viewer.reviews costs the same SQL for 1 and 20."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from app.catalog.models import Product, Review
from app.db.ids import encode_global_id
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import Client, Running, bearer, new_email, running, sign_in, sign_up
from tests.test_accounts import _rows, _run

CREATE = """mutation($input: ReviewCreateInput!) {
  reviewCreate(input: $input) {
    review { rating title body author { displayName } product { id } }
    errors { field message code }
  }
}"""
RATING = "query($id: ID!) { product(id: $id) { rating { average count } } }"
MINE = """{ viewer { reviews(first: 20) { nodes { product { title featuredImage { url } } } totalCount } } }"""


@pytest.fixture(scope="module")
async def reviews_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    folder = tmp_path_factory.mktemp(f"reviews-{backend}")
    async with seeded_database(backend, folder, products=40, seed=3) as url:
        yield url


@pytest.fixture(scope="module")
async def app(reviews_url: str, executor: str) -> AsyncIterator[Running]:
    settings = settings_for(reviews_url, fast_executor=executor == "fast", secret_key=Secret("r" * 40))
    async with running(settings) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


async def _reviewer(client: Client, name: str = "Rae V.") -> dict[str, str]:
    email = new_email("reviewer")
    await sign_up(client, email, name=name)
    return bearer((await sign_in(client, email))["accessToken"])


async def _active_product_ids(url: str) -> list[int]:
    rows = await _rows(url, select(Product.id).where(Product.status == "ACTIVE").order_by(Product.id))
    return [row.id for row in rows]


async def test_a_review_is_created_and_the_product_s_rating_follows(client, reviews_url):
    # given
    headers = await _reviewer(client)
    product = (await _active_product_ids(reviews_url))[0]
    product_id = encode_global_id("Product", product)
    before = (await client.gql(RATING, {"id": product_id}))["data"]["product"]["rating"]
    # when
    body = await client.gql(
        CREATE,
        {"input": {"productId": product_id, "rating": 5, "title": " Lovely ", "body": "Fits.\nWarm."}},
        headers=headers,
    )
    # then
    assert body["data"]["reviewCreate"] == {
        "review": {
            "rating": 5,
            "title": "Lovely",
            "body": "Fits.\nWarm.",
            "author": {"displayName": "Rae V."},
            "product": {"id": product_id},
        },
        "errors": [],
    }
    after = (await client.gql(RATING, {"id": product_id}))["data"]["product"]["rating"]
    assert after["count"] == before["count"] + 1
    [row] = await _rows(reviews_url, select(Product.rating_count, Product.rating_average).where(Product.id == product))
    ratings = await _rows(reviews_url, select(Review.rating).where(Review.product_id == product))
    assert row.rating_count == len(ratings) == after["count"]
    assert float(row.rating_average) == pytest.approx(sum(r.rating for r in ratings) / len(ratings), abs=0.001)


async def test_one_review_per_product_and_customer(client, reviews_url):
    headers = await _reviewer(client)
    product_id = encode_global_id("Product", (await _active_product_ids(reviews_url))[1])
    await client.gql(CREATE, {"input": {"productId": product_id, "rating": 4}}, headers=headers)
    body = await client.gql(CREATE, {"input": {"productId": product_id, "rating": 1}}, headers=headers)
    assert body["data"]["reviewCreate"] == {
        "review": None,
        "errors": [
            {"field": ["input", "productId"], "message": "You have already reviewed this product", "code": "TAKEN"}
        ],
    }


async def test_every_bad_field_of_a_review_is_named(client, reviews_url):
    headers = await _reviewer(client)
    product_id = encode_global_id("Product", (await _active_product_ids(reviews_url))[2])
    body = await client.gql(
        CREATE,
        {"input": {"productId": product_id, "rating": 6, "title": "t" * 201, "body": "bad\u0000"}},
        headers=headers,
    )
    assert body["data"]["reviewCreate"]["errors"] == [
        {"field": ["input", "rating"], "message": "The rating must be from 1 to 5", "code": "INVALID"},
        {"field": ["input", "title"], "message": "The title must be at most 200 characters long", "code": "INVALID"},
        {"field": ["input", "body"], "message": "The review must not contain control characters", "code": "INVALID"},
    ]


async def test_a_review_needs_a_signed_in_customer_and_a_product_on_sale(client, reviews_url):
    headers = await _reviewer(client)
    draft = (await _rows(reviews_url, select(Product.id).where(Product.status != "ACTIVE").limit(1)))[0].id
    anonymous = await client.gql(CREATE, {"input": {"productId": encode_global_id("Product", 1), "rating": 3}})
    assert anonymous["data"]["reviewCreate"]["errors"][0]["code"] == "UNAUTHENTICATED"
    not_found = {"field": ["input", "productId"], "message": "No product has this ID", "code": "NOT_FOUND"}
    for product_id in (
        encode_global_id("Product", draft),
        encode_global_id("Product", 10**6),
        "junk",
        encode_global_id("Review", 1),
    ):
        body = await client.gql(CREATE, {"input": {"productId": product_id, "rating": 3}}, headers=headers)
        assert body["data"]["reviewCreate"]["errors"] == [not_found], product_id


async def test_viewer_reviews_cost_the_same_statements_for_one_and_twenty(client, app, reviews_url):
    # given: one customer with a review, another with twenty
    products = await _active_product_ids(reviews_url)
    counts, shown = [], []
    for how_many in (1, 20):
        headers = await _reviewer(client)
        for product in products[10 : 10 + how_many]:
            body = await client.gql(
                CREATE, {"input": {"productId": encode_global_id("Product", product), "rating": 4}}, headers=headers
            )
            assert body["data"]["reviewCreate"]["errors"] == []
        # when
        app.sql.reset()
        body = await client.gql(MINE, headers=headers)
        counts.append(app.sql.count)
        shown.append(body["data"]["viewer"]["reviews"])
    # then: customer, reviews page, products, featured images, and the count
    assert counts == [5, 5]
    assert [len(page["nodes"]) for page in shown] == [1, 20] and [page["totalCount"] for page in shown] == [1, 20]
    assert all(node["product"]["title"] and node["product"]["featuredImage"] for node in shown[1]["nodes"])


async def test_concurrent_reviews_of_one_product_all_count(reviews_url, backend):
    if backend != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL; SQLite serialises writers")
    # given: twelve customers, one product, and a connection for each request
    settings = replace(settings_for(reviews_url, secret_key=Secret("r" * 40)), db_pool_size=12, db_max_overflow=0)
    async with running(settings) as app:
        await _review_all_at_once(app, reviews_url)


async def _review_all_at_once(app: Running, reviews_url: str) -> None:
    client = app.client()
    reviewers = [await _reviewer(client) for _ in range(12)]
    product = (await _active_product_ids(reviews_url))[5]
    await _run(reviews_url, update(Product.__table__).where(Product.id == product).values(rating_count=0))
    product_id = encode_global_id("Product", product)
    # when: all review it at once
    bodies = await asyncio.gather(
        *(
            client.gql(CREATE, {"input": {"productId": product_id, "rating": 1 + i % 5}}, headers=h)
            for i, h in enumerate(reviewers)
        )
    )
    await client.aclose()
    # then: every review counted in the product's columns
    assert all(body["data"]["reviewCreate"]["errors"] == [] for body in bodies)
    [row] = await _rows(reviews_url, select(Product.rating_count).where(Product.id == product))
    reviews = await _rows(reviews_url, select(Review.id).where(Review.product_id == product))
    assert row.rating_count == len(reviews)
