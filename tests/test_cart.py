"""Carts: guests and customers, lines merged and checked, prices and availability read from the catalog at
reading time, one open cart per customer, a guest cart merged at sign-in, and SQL counts per level."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from app.cart.models import Cart, CartLine
from app.catalog.models import Product, ProductVariant
from app.db.ids import decode_global_id, encode_global_id
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import LOGIN, PASSWORD, Client, Running, bearer, new_email, running, sign_in, sign_up
from tests.test_accounts import _rows, _run

CART_FIELDS = """id totalQuantity
  lines(first: 100) { nodes { id quantity available
    merchandise { ... on ProductVariant { sku price { amount } product { title } } }
    cost { amountPerQuantity { amount currencyCode } totalAmount { amount currencyCode } } } }
  cost { subtotalAmount { amount currencyCode } totalAmount { amount currencyCode } }
  buyerIdentity { email customer { id } }"""
CREATE = f"""mutation($input: CartInput!) {{ cartCreate(input: $input) {{ cart {{ {CART_FIELDS} }}
  errors {{ field message code }} }} }}"""
ADD = f"""mutation($cart: ID!, $lines: [CartLineInput!]!) {{ cartLinesAdd(cartId: $cart, lines: $lines) {{
  cart {{ {CART_FIELDS} }} errors {{ field message code }} }} }}"""
UPDATE = f"""mutation($cart: ID!, $lines: [CartLineUpdateInput!]!) {{ cartLinesUpdate(cartId: $cart, lines: $lines) {{
  cart {{ {CART_FIELDS} }} errors {{ field message code }} }} }}"""
REMOVE = f"""mutation($cart: ID!, $ids: [ID!]!) {{ cartLinesRemove(cartId: $cart, lineIds: $ids) {{
  cart {{ {CART_FIELDS} }} errors {{ field message code }} }} }}"""
READ = f"query($id: ID!) {{ cart(id: $id) {{ {CART_FIELDS} }} }}"


@pytest.fixture(scope="module")
async def cart_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    # plenty of stock everywhere, so tests choose when a variant runs out
    folder = tmp_path_factory.mktemp(f"cart-{backend}")
    async with seeded_database(backend, folder, products=60, seed=9, stock=500) as url:
        yield url


@pytest.fixture(scope="module")
async def app(cart_url: str, executor: str) -> AsyncIterator[Running]:
    settings = settings_for(cart_url, fast_executor=executor == "fast", secret_key=Secret("c" * 40))
    async with running(settings) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


async def _variants(
    url: str, count: int, offset: int = 0, *, per_product: bool = True
) -> list[tuple[str, str, Decimal]]:
    """(global ID, SKU, price) of variants of products on sale, each of another product unless not `per_product`."""
    first_of_each = (
        select(func.min(ProductVariant.id) if per_product else ProductVariant.id)
        .join(Product, Product.id == ProductVariant.product_id)
        .where(Product.status == "ACTIVE")
    )
    if per_product:
        first_of_each = first_of_each.group_by(ProductVariant.product_id)
    statement = (
        select(ProductVariant.id, ProductVariant.sku, ProductVariant.price)
        .where(ProductVariant.id.in_(first_of_each))
        .order_by(ProductVariant.id)
        .offset(offset)
        .limit(count)
    )
    return [(encode_global_id("ProductVariant", row.id), row.sku, row.price) for row in await _rows(url, statement)]


def _line(variant: str, quantity: int = 1) -> dict:
    return {"merchandiseId": variant, "quantity": quantity}


async def _create(client: Client, lines: list[dict], headers: dict[str, str] | None = None) -> dict:
    body = await client.gql(CREATE, {"input": {"lines": lines}}, headers=headers)
    payload = body["data"]["cartCreate"]
    assert payload["errors"] == [], payload
    return payload["cart"]


async def test_a_guest_cart_has_lines_priced_by_the_catalog_and_an_unguessable_id(client, cart_url):
    # given
    (first, first_sku, first_price), (second, second_sku, second_price) = await _variants(cart_url, 2)
    # when
    cart = await _create(client, [_line(first, 2), _line(second)])
    again = await _create(client, [_line(first)])

    # then
    def money(amount: Decimal) -> dict:
        return {"amount": str(amount.quantize(Decimal("0.01"))), "currencyCode": "USD"}

    assert [(line["quantity"], line["merchandise"]["sku"], line["available"]) for line in cart["lines"]["nodes"]] == [
        (2, first_sku, True),
        (1, second_sku, True),
    ]
    assert cart["lines"]["nodes"][0]["cost"] == {
        "amountPerQuantity": money(first_price),
        "totalAmount": money(first_price * 2),
    }
    total = money(first_price * 2 + second_price)
    assert (cart["totalQuantity"], cart["cost"]) == (3, {"subtotalAmount": total, "totalAmount": total})
    assert cart["buyerIdentity"] == {"email": None, "customer": None}
    assert (await client.gql(READ, {"id": cart["id"]}))["data"]["cart"] == cart
    token = base64.urlsafe_b64decode(cart["id"] + "==").decode().partition(":")[2]
    assert len(token) >= 40 and cart["id"] != again["id"]


async def test_the_same_variant_is_one_line_and_quantities_stay_within_1_to_99(client, cart_url):
    [(variant, _, _)] = await _variants(cart_url, 1, offset=3)
    cart = await _create(client, [_line(variant, 2), _line(variant, 3)])
    assert [line["quantity"] for line in cart["lines"]["nodes"]] == [5]
    added = (await client.gql(ADD, {"cart": cart["id"], "lines": [_line(variant, 4)]}))["data"]["cartLinesAdd"]
    assert [line["quantity"] for line in added["cart"]["lines"]["nodes"]] == [9]
    too_many = (await client.gql(ADD, {"cart": cart["id"], "lines": [_line(variant, 91)]}))["data"]["cartLinesAdd"]
    assert too_many == {
        "cart": None,
        "errors": [
            {"field": ["input", "lines"], "message": "A quantity must be from 1 to 99", "code": "INVALID_QUANTITY"}
        ],
    }
    bad = await client.gql(CREATE, {"input": {"lines": [_line(variant, 0), _line(variant, 100)]}})
    assert bad["data"]["cartCreate"]["errors"] == [
        {
            "field": ["input", "lines", str(index), "quantity"],
            "message": "A quantity must be from 1 to 99",
            "code": "INVALID_QUANTITY",
        }
        for index in (0, 1)
    ]
    assert [
        line["quantity"] for line in (await client.gql(READ, {"id": cart["id"]}))["data"]["cart"]["lines"]["nodes"]
    ] == [9]


async def test_unknown_and_archived_variants_are_not_found(client, cart_url):
    archived = await _rows(
        cart_url, select(ProductVariant.id).join(Product).where(Product.status == "ARCHIVED").limit(1)
    )
    ids = [encode_global_id("ProductVariant", 10**6), "junk", encode_global_id("Product", 1)]
    if archived:
        ids.append(encode_global_id("ProductVariant", archived[0].id))
    body = await client.gql(CREATE, {"input": {"lines": [_line(i) for i in ids]}})
    assert body["data"]["cartCreate"]["errors"] == [
        {
            "field": ["input", "lines", str(index), "merchandiseId"],
            "message": "No variant on sale has this ID",
            "code": "NOT_FOUND",
        }
        for index in range(len(ids))
    ]


async def test_lines_are_updated_and_removed_by_their_ids(client, cart_url):
    (a, _, _), (b, _, _) = await _variants(cart_url, 2, offset=5)
    cart = await _create(client, [_line(a), _line(b)])
    first, second = (line["id"] for line in cart["lines"]["nodes"])
    updated = (await client.gql(UPDATE, {"cart": cart["id"], "lines": [{"id": first, "quantity": 7}]}))["data"][
        "cartLinesUpdate"
    ]
    assert [line["quantity"] for line in updated["cart"]["lines"]["nodes"]] == [7, 1]
    removed = (await client.gql(REMOVE, {"cart": cart["id"], "ids": [second]}))["data"]["cartLinesRemove"]
    assert [line["id"] for line in removed["cart"]["lines"]["nodes"]] == [first]
    other = await _create(client, [_line(b)])
    foreign = other["lines"]["nodes"][0]["id"]
    for query, variables, name in (
        (UPDATE, {"cart": cart["id"], "lines": [{"id": foreign, "quantity": 2}]}, "cartLinesUpdate"),
        (REMOVE, {"cart": cart["id"], "ids": [foreign]}, "cartLinesRemove"),
    ):
        errors = (await client.gql(query, variables))["data"][name]["errors"]
        assert [error["code"] for error in errors] == ["NOT_FOUND"]
    unknown = await client.gql(ADD, {"cart": "bm9wZQ", "lines": [_line(a)]})
    assert unknown["data"]["cartLinesAdd"]["errors"] == [
        {"field": ["cartId"], "message": "No open cart of yours has this ID", "code": "NOT_FOUND"}
    ]


async def test_prices_and_availability_are_read_when_the_cart_is(client, cart_url):
    # given: a cart of two lines
    (a, _, _), (b, _, _) = await _variants(cart_url, 2, offset=10)
    cart = await _create(client, [_line(a, 2), _line(b)])
    a_pk, b_pk = (int(base64.urlsafe_b64decode(v + "==").decode().split(":")[1]) for v in (a, b))
    # when: one variant's price changes, the other runs out of stock
    await _run(
        cart_url, update(ProductVariant.__table__).where(ProductVariant.id == a_pk).values(price=Decimal("10.00"))
    )
    await _run(cart_url, update(ProductVariant.__table__).where(ProductVariant.id == b_pk).values(stock_quantity=0))
    now = (await client.gql(READ, {"id": cart["id"]}))["data"]["cart"]
    # then: the new price; the line out of stock stays, unavailable and out of the subtotal
    assert next((line["available"], line["cost"]["totalAmount"]["amount"]) for line in now["lines"]["nodes"]) == (
        True,
        "20.00",
    )
    assert now["lines"]["nodes"][1]["available"] is False
    assert now["cost"]["subtotalAmount"]["amount"] == "20.00" and now["totalQuantity"] == 3
    # and when its product is archived, the line still stays, without merchandise
    product = (await _rows(cart_url, select(ProductVariant.product_id).where(ProductVariant.id == b_pk)))[0].product_id
    await _run(cart_url, update(Product.__table__).where(Product.id == product).values(status="ARCHIVED"))
    try:
        later = (await client.gql(READ, {"id": cart["id"]}))["data"]["cart"]
        assert [(line["merchandise"] is None, line["available"]) for line in later["lines"]["nodes"]] == [
            (False, True),
            (True, False),
        ]
    finally:
        await _run(cart_url, update(Product.__table__).where(Product.id == product).values(status="ACTIVE"))
        await _run(
            cart_url, update(ProductVariant.__table__).where(ProductVariant.id == b_pk).values(stock_quantity=500)
        )


async def test_a_cart_holds_at_most_100_lines(client, cart_url):
    variants = await _variants(cart_url, 101, per_product=False)
    cart = await _create(client, [_line(v) for v, _, _ in variants[:100]])
    assert cart["totalQuantity"] == 100
    body = await client.gql(ADD, {"cart": cart["id"], "lines": [_line(variants[100][0])]})
    assert body["data"]["cartLinesAdd"]["errors"] == [
        {"field": ["input", "lines"], "message": "A cart holds at most 100 lines", "code": "TOO_MANY_LINES"}
    ]


async def _customer(client: Client) -> tuple[str, dict[str, str]]:
    email = new_email("shopper")
    await sign_up(client, email)
    return email, bearer((await sign_in(client, email))["accessToken"])


async def test_a_customer_has_one_open_cart_that_nobody_else_reaches(client, cart_url):
    # given
    email, headers = await _customer(client)
    (a, _, _), (b, _, _) = await _variants(cart_url, 2, offset=20)
    # when: the customer makes a cart twice
    first = await _create(client, [_line(a)], headers)
    second = await _create(client, [_line(b)], headers)
    # then: one cart with both lines, theirs
    assert second["id"] == first["id"] and len(second["lines"]["nodes"]) == 2
    assert second["buyerIdentity"]["email"] == email and second["buyerIdentity"]["customer"]["id"]
    _, other = await _customer(client)
    assert (await client.gql(READ, {"id": first["id"]}, headers=other))["data"]["cart"] is None
    assert (await client.gql(READ, {"id": first["id"]}))["data"]["cart"] is None
    refused = await client.gql(ADD, {"cart": first["id"], "lines": [_line(a)]}, headers=other)
    assert refused["data"]["cartLinesAdd"]["errors"][0]["code"] == "NOT_FOUND"


async def test_sign_in_merges_a_guest_cart_into_the_customer_s_capped_at_99(client, cart_url):
    # given: a customer's cart with 98 of a variant, and a guest cart with 5 of it and another
    email, headers = await _customer(client)
    (a, _, _), (b, _, _) = await _variants(cart_url, 2, offset=30)
    mine = await _create(client, [_line(a, 98)], headers)
    guest = await _create(client, [_line(a, 5), _line(b, 2)])
    # when
    body = await client.gql(
        LOGIN.replace("$useCookie: Boolean)", "$useCookie: Boolean, $cart: ID)").replace(
            "useCookie: $useCookie)", "useCookie: $useCookie, cartId: $cart)"
        ),
        {"email": email, "password": PASSWORD, "cart": guest["id"]},
    )
    assert body["data"]["customerLogin"]["errors"] == []
    # then
    merged = (await client.gql(READ, {"id": mine["id"]}, headers=headers))["data"]["cart"]
    assert [line["quantity"] for line in merged["lines"]["nodes"]] == [99, 2]
    assert (await client.gql(READ, {"id": guest["id"]}))["data"]["cart"] is None
    [row] = await _rows(
        cart_url,
        select(Cart.status).where(Cart.token == base64.urlsafe_b64decode(guest["id"] + "==").decode().split(":")[1]),
    )
    assert row.status == "MERGED"


async def test_sign_in_gives_a_guest_cart_to_a_customer_without_one(client, cart_url):
    email = new_email("newbie")
    await sign_up(client, email)
    [(a, _, _)] = await _variants(cart_url, 1, offset=40)
    guest = await _create(client, [_line(a)])
    login = LOGIN.replace("$useCookie: Boolean)", "$useCookie: Boolean, $cart: ID)").replace(
        "useCookie: $useCookie)", "useCookie: $useCookie, cartId: $cart)"
    )
    token = (await client.gql(login, {"email": email, "password": PASSWORD, "cart": guest["id"]}))["data"][
        "customerLogin"
    ]["accessToken"]
    cart = (await client.gql(READ, {"id": guest["id"]}, headers=bearer(token)))["data"]["cart"]
    assert cart["buyerIdentity"]["email"] == email
    assert (await client.gql(READ, {"id": guest["id"]}))["data"]["cart"] is None  # now the customer's


async def test_a_cart_costs_the_same_statements_for_one_line_and_twenty(client, app, cart_url):
    variants = await _variants(cart_url, 20, offset=2)
    counts = []
    for how_many in (1, 20):
        cart = await _create(client, [_line(v) for v, _, _ in variants[:how_many]])
        app.sql.reset()
        body = await client.gql(READ, {"id": cart["id"]})
        counts.append(app.sql.count)
        assert len(body["data"]["cart"]["lines"]["nodes"]) == how_many
    # cart, lines page, totals, variants, products
    assert counts == [5, 5]


async def test_concurrent_additions_to_one_cart_all_count(cart_url, backend):
    if backend != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL; SQLite serialises writers")
    settings = replace(settings_for(cart_url, secret_key=Secret("c" * 40)), db_pool_size=12, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        [(variant, _, _)] = await _variants(cart_url, 1, offset=50)
        cart = await _create(client, [_line(variant)])
        answers = await asyncio.gather(
            *(client.gql(ADD, {"cart": cart["id"], "lines": [_line(variant)]}) for _ in range(10))
        )
        final = (await client.gql(READ, {"id": cart["id"]}))["data"]["cart"]
        # and a customer's first carts, at once, are one cart
        _, headers = await _customer(client)
        firsts = await asyncio.gather(
            *(client.gql(CREATE, {"input": {"lines": [_line(variant)]}}, headers=headers) for _ in range(6))
        )
        theirs = firsts[0]["data"]["cartCreate"]["cart"]["id"]
        their_cart = (await client.gql(READ, {"id": theirs}, headers=headers))["data"]["cart"]
        await client.aclose()
    assert all(answer["data"]["cartLinesAdd"]["errors"] == [] for answer in answers)
    assert [line["quantity"] for line in final["lines"]["nodes"]] == [11]
    assert all(first["data"]["cartCreate"]["errors"] == [] for first in firsts)
    ids = {first["data"]["cartCreate"]["cart"]["id"] for first in firsts}
    assert len(ids) == 1
    assert [line["quantity"] for line in their_cart["lines"]["nodes"]] == [6]


async def test_logins_with_guest_carts_at_once_never_fail(cart_url, backend):
    settings = replace(settings_for(cart_url, secret_key=Secret("c" * 40)), db_pool_size=12, db_max_overflow=0)
    login = LOGIN.replace("$useCookie: Boolean)", "$useCookie: Boolean, $cart: ID)").replace(
        "useCookie: $useCookie)", "useCookie: $useCookie, cartId: $cart)"
    )
    async with running(settings) as started:
        client = started.client()
        email = new_email("racer")
        await sign_up(client, email)
        variants = await _variants(cart_url, 5, offset=45)
        guests = [await _create(client, [_line(v)]) for v, _, _ in variants]
        bodies = await asyncio.gather(
            *(client.gql(login, {"email": email, "password": PASSWORD, "cart": g["id"]}) for g in guests)
        )
        token = bodies[0]["data"]["customerLogin"]["accessToken"]
        mine = (await client.gql("{ viewer { id } }", headers=bearer(token)))["data"]["viewer"]
        await client.aclose()
    assert all(body["data"]["customerLogin"]["errors"] == [] for body in bodies)
    # then: one open cart of theirs, holding every guest cart's line
    _, customer = decode_global_id(mine["id"])
    theirs = await _rows(cart_url, select(Cart.id).where(Cart.customer_id == customer, Cart.status == "OPEN"))
    assert len(theirs) == 1
    lines = await _rows(cart_url, select(func.count()).select_from(CartLine).where(CartLine.cart_id == theirs[0].id))
    assert lines[0][0] == 5
