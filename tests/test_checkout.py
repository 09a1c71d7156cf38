"""Checkout and orders: an order in one transaction that never oversells, exactly once per idempotency key,
a declined payment that changes nothing, orders private to their customer and staff, and SQL per level.
Concurrency on PostgreSQL (and SQLite, whose writers are serialised)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from app.accounts.models import Customer
from app.cart.models import Cart
from app.catalog.models import Product, ProductVariant
from app.db.ids import encode_global_id
from app.orders.models import Order, OrderLine
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import Client, Running, bearer, new_email, running, sign_in, sign_up
from tests.test_accounts import _rows, _run

ADDRESS = {
    "firstName": "Grace",
    "lastName": "Hopper",
    "address1": "1 Navy Way",
    "city": "Arlington",
    "zip": "22202",
    "country": "US",
}
CREATE_CART = """mutation($lines: [CartLineInput!]!) { cartCreate(input: { lines: $lines }) {
  cart { id lines(first: 100) { nodes { id } } } errors { code } } }"""
CHECKOUT = """mutation($input: CheckoutInput!) { checkoutComplete(input: $input) {
  order { id number status email subtotalPrice { amount currencyCode } totalPrice { amount }
    shippingAddress { firstName city country }
    lines(first: 20) { nodes {
      quantity title variantTitle sku unitPrice { amount } totalPrice { amount } variant { sku } } }
    statusHistory { status } }
  accessToken errors { field message code } } }"""
ORDER = "query($id: ID!) { order(id: $id) { id email } }"
BY_TOKEN = "query($token: String!) { orderByToken(token: $token) { id status } }"


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    folder = tmp_path_factory.mktemp(f"checkout-{backend}")
    async with seeded_database(backend, folder, products=40, seed=13, stock=1000) as url:
        yield url


@pytest.fixture(scope="module")
async def app(shop_url: str, executor: str) -> AsyncIterator[Running]:
    settings = settings_for(shop_url, fast_executor=executor == "fast", secret_key=Secret("o" * 40))
    async with running(settings) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


_next_variant = iter(range(1, 10**6))


async def _fresh_variants(url: str, count: int, stock: int = 1000) -> list[tuple[int, str, str, Decimal]]:
    """Variants of products on sale not used by another test: (pk, global ID, SKU, price)."""
    statement = (
        select(ProductVariant.id, ProductVariant.sku, ProductVariant.price)
        .join(Product, Product.id == ProductVariant.product_id)
        .where(Product.status == "ACTIVE")
        .order_by(ProductVariant.id)
    )
    rows = await _rows(url, statement)
    picked = [rows[next(_next_variant) % len(rows)] for _ in range(count)]
    for row in picked:
        await _run(
            url, update(ProductVariant.__table__).where(ProductVariant.id == row.id).values(stock_quantity=stock)
        )
    return [(row.id, encode_global_id("ProductVariant", row.id), row.sku, row.price) for row in picked]


async def _cart(client: Client, lines: list[tuple[str, int]], headers: dict[str, str] | None = None) -> dict:
    body = await client.gql(
        CREATE_CART, {"lines": [{"merchandiseId": v, "quantity": q} for v, q in lines]}, headers=headers
    )
    assert body["data"]["cartCreate"]["errors"] == [], body
    return body["data"]["cartCreate"]["cart"]


def _checkout(
    cart_id: str, key: str | None = None, token: str = "tok_visa", email: str | None = "grace@example.com"
) -> dict:
    return {
        "input": {
            "cartId": cart_id,
            "idempotencyKey": key or uuid.uuid4().hex,
            "email": email,
            "shippingAddress": ADDRESS,
            "payment": {"provider": "test", "token": token},
        }
    }


async def _stock(url: str, pk: int) -> int:
    return (await _rows(url, select(ProductVariant.stock_quantity).where(ProductVariant.id == pk)))[0].stock_quantity


async def test_a_checkout_makes_a_paid_order_with_copied_lines_takes_stock_and_closes_the_cart(client, shop_url):
    # given
    [(pk, variant, sku, price)] = await _fresh_variants(shop_url, 1, stock=5)
    cart = await _cart(client, [(variant, 2)])
    # when
    body = await client.gql(CHECKOUT, _checkout(cart["id"]))
    # then
    payload = body["data"]["checkoutComplete"]
    assert payload["errors"] == []
    order = payload["order"]
    amount = str((price * 2).quantize(Decimal("0.01")))
    assert (order["status"], order["email"], order["totalPrice"]["amount"]) == ("PAID", "grace@example.com", amount)
    assert order["subtotalPrice"] == {"amount": amount, "currencyCode": "USD"}
    assert order["shippingAddress"] == {"firstName": "Grace", "city": "Arlington", "country": "US"}
    [line] = order["lines"]["nodes"]
    assert (line["quantity"], line["sku"], line["unitPrice"]["amount"], line["variant"]) == (
        2,
        sku,
        str(price.quantize(Decimal("0.01"))),
        {"sku": sku},
    )
    assert [change["status"] for change in order["statusHistory"]] == ["PAYMENT_PENDING", "PAID"]
    assert await _stock(shop_url, pk) == 3
    assert (await client.gql("query($id: ID!) { cart(id: $id) { id } }", {"id": cart["id"]}))["data"]["cart"] is None
    # and the guest reads it by its token
    found = await client.gql(BY_TOKEN, {"token": payload["accessToken"]})
    assert found["data"]["orderByToken"] == {"id": order["id"], "status": "PAID"}
    assert (await client.gql(BY_TOKEN, {"token": "nope"}))["data"]["orderByToken"] is None


async def test_lines_short_of_stock_are_listed_and_nothing_changes(client, shop_url):
    (a_pk, a, _, _), (b_pk, b, _, _) = await _fresh_variants(shop_url, 2, stock=1)
    cart = await _cart(client, [(a, 1), (b, 2)])
    body = await client.gql(CHECKOUT, _checkout(cart["id"]))
    short_line = cart["lines"]["nodes"][1]["id"]
    assert body["data"]["checkoutComplete"] == {
        "order": None,
        "accessToken": None,
        "errors": [
            {
                "field": [short_line],
                "message": "These lines cannot be bought in these quantities now",
                "code": "OUT_OF_STOCK",
            }
        ],
    }
    assert (await _stock(shop_url, a_pk), await _stock(shop_url, b_pk)) == (1, 1)
    assert (await client.gql("query($id: ID!) { cart(id: $id) { id } }", {"id": cart["id"]}))["data"]["cart"]


async def test_a_declined_payment_changes_nothing(client, shop_url):
    [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=4)
    cart = await _cart(client, [(variant, 1)])
    key = uuid.uuid4().hex
    body = await client.gql(CHECKOUT, _checkout(cart["id"], key, token="tok_declined"))
    assert body["data"]["checkoutComplete"]["errors"] == [
        {
            "field": ["input", "payment"],
            "message": "The payment was declined; nothing was charged",
            "code": "PAYMENT_DECLINED",
        }
    ]
    assert await _stock(shop_url, pk) == 4
    assert await _rows(shop_url, select(Order.id).where(Order.idempotency_key == key)) == []
    retried = await client.gql(CHECKOUT, _checkout(cart["id"], key))  # the same key, a good card
    assert retried["data"]["checkoutComplete"]["order"]["status"] == "PAID"


async def test_an_async_payment_leaves_the_order_pending(client, shop_url):
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
    cart = await _cart(client, [(variant, 1)])
    body = await client.gql(CHECKOUT, _checkout(cart["id"], token="tok_async"))
    order = body["data"]["checkoutComplete"]["order"]
    assert (order["status"], [change["status"] for change in order["statusHistory"]]) == (
        "PAYMENT_PENDING",
        ["PAYMENT_PENDING"],
    )


async def test_the_same_key_returns_the_same_order_and_another_cart_cannot_reuse_it(client, shop_url):
    [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 1)])
    key = uuid.uuid4().hex
    first = await client.gql(CHECKOUT, _checkout(cart["id"], key))
    again = await client.gql(CHECKOUT, _checkout(cart["id"], key))
    assert again == first and await _stock(shop_url, pk) == 9
    other = await _cart(client, [(variant, 1)])
    reused = await client.gql(CHECKOUT, _checkout(other["id"], key))
    assert reused["data"]["checkoutComplete"]["errors"] == [
        {
            "field": ["input", "idempotencyKey"],
            "message": "This idempotency key was used for another cart",
            "code": "IDEMPOTENCY_KEY_REUSED",
        }
    ]


async def test_bad_input_is_named_field_by_field(client, shop_url):
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
    cart = await _cart(client, [(variant, 1)])
    request = _checkout(cart["id"], key=" ", email="not-an-email")
    request["input"]["shippingAddress"] = {**ADDRESS, "country": "XX"}
    request["input"]["payment"]["provider"] = "paypal"
    body = await client.gql(CHECKOUT, request)
    assert [(error["field"], error["code"]) for error in body["data"]["checkoutComplete"]["errors"]] == [
        (["input", "idempotencyKey"], "INVALID"),
        (["input", "email"], "INVALID"),
        (["input", "shippingAddress", "country"], "INVALID"),
        (["input", "payment", "provider"], "INVALID"),
    ]
    unknown = await client.gql(CHECKOUT, _checkout("bm9wZQ"))
    assert unknown["data"]["checkoutComplete"]["errors"][0]["code"] == "NOT_FOUND"


async def test_orders_are_private_to_their_customer_and_staff(client, shop_url):
    # given: a customer's order
    email = new_email("buyer")
    await sign_up(client, email)
    headers = bearer((await sign_in(client, email))["accessToken"])
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
    cart = await _cart(client, [(variant, 1)], headers)
    order = (await client.gql(CHECKOUT, _checkout(cart["id"], email=None), headers=headers))["data"][
        "checkoutComplete"
    ]["order"]
    assert order["email"] == email
    # when / then: the customer reads it; another customer and nobody get null and FORBIDDEN
    assert (await client.gql(ORDER, {"id": order["id"]}, headers=headers))["data"]["order"] == {
        "id": order["id"],
        "email": email,
    }
    other_email = new_email("other")
    await sign_up(client, other_email)
    other = bearer((await sign_in(client, other_email))["accessToken"])
    for who in (other, {}):
        body = await client.gql(ORDER, {"id": order["id"]}, headers=who)
        assert body["data"] == {"order": None}
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        nodes = await client.gql("query($id: ID!) { node(id: $id) { id } }", {"id": order["id"]}, headers=who)
        assert nodes["data"] == {"node": None}
    mine = await client.gql("{ viewer { orders(first: 5) { nodes { id } totalCount } } }", headers=headers)
    assert mine["data"]["viewer"]["orders"] == {"nodes": [{"id": order["id"]}], "totalCount": 1}


async def test_viewer_orders_cost_the_same_statements_for_one_order_and_twenty(client, app, shop_url):
    query = """{ viewer { orders(first: 20) { nodes { lines(first: 20) { nodes {
      variant { product { title featuredImage { url } } } } } } } } }"""
    counts = []
    for how_many in (1, 20):
        email = new_email("counted")
        await sign_up(client, email)
        headers = bearer((await sign_in(client, email))["accessToken"])
        variants = await _fresh_variants(shop_url, 2)
        for _ in range(how_many):
            cart = await _cart(client, [(v, 1) for _, v, _, _ in variants], headers)
            body = await client.gql(CHECKOUT, _checkout(cart["id"]), headers=headers)
            assert body["data"]["checkoutComplete"]["errors"] == []
        app.sql.reset()
        body = await client.gql(query, headers=headers)
        counts.append(app.sql.count)
        assert len(body["data"]["viewer"]["orders"]["nodes"]) == how_many
    # customer, orders page, lines pages, variants, products, featured images
    assert counts == [6, 6]


async def test_a_hundred_concurrent_checkouts_of_ten_in_stock_make_ten_orders(shop_url, backend):
    # given: a hundred carts, each for one unit of a variant with ten in stock
    settings = replace(settings_for(shop_url, secret_key=Secret("o" * 40)), db_pool_size=20, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
        carts = [await _cart(client, [(variant, 1)]) for _ in range(100)]
        # when
        answers = await asyncio.gather(*(client.post(CHECKOUT, _checkout(cart["id"])) for cart in carts))
        await client.aclose()
    # then: no failures (top-level errors), exactly ten orders, stock exactly zero, ninety OUT_OF_STOCK
    assert [answer.status_code for answer in answers] == [200] * 100
    assert [answer.json().get("errors") for answer in answers] == [None] * 100
    codes = [(answer.json()["data"]["checkoutComplete"]["errors"] or [{"code": "OK"}])[0]["code"] for answer in answers]
    assert (codes.count("OK"), codes.count("OUT_OF_STOCK")) == (10, 90)
    assert await _stock(shop_url, pk) == 0
    sold = await _rows(shop_url, select(func.sum(OrderLine.quantity)).where(OrderLine.variant_id == pk))
    assert sold[0][0] == 10


async def test_twenty_concurrent_retries_of_one_checkout_make_one_order(shop_url, backend):
    settings = replace(settings_for(shop_url, secret_key=Secret("o" * 40)), db_pool_size=20, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=50)
        cart = await _cart(client, [(variant, 2)])
        key = uuid.uuid4().hex
        answers = await asyncio.gather(*(client.gql(CHECKOUT, _checkout(cart["id"], key)) for _ in range(20)))
        await client.aclose()
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["data"]["checkoutComplete"]["errors"] == []
    assert len(await _rows(shop_url, select(Order.id).where(Order.idempotency_key == key))) == 1
    assert await _stock(shop_url, pk) == 48
    closed = await _rows(
        shop_url,
        select(Cart.status).where(
            Cart.id == (await _rows(shop_url, select(Order.cart_id).where(Order.idempotency_key == key)))[0].cart_id
        ),
    )
    assert closed[0].status == "CLOSED"


STATUS = """mutation($id: ID!, $status: OrderStatus!) { orderUpdateStatus(id: $id, status: $status) {
  order { status statusHistory { status } } errors { field message code } } }"""
CANCEL = """mutation($id: ID!) { orderCancel(id: $id) { order { status } errors { field message code } } }"""


async def _staff(client: Client, url: str) -> dict[str, str]:
    email = new_email("staff")
    await sign_up(client, email)
    await _run(url, update(Customer.__table__).where(Customer.email == email).values(role="STAFF"))
    return bearer((await sign_in(client, email))["accessToken"])


async def _customer_order(client: Client, url: str, stock: int = 10, quantity: int = 2) -> tuple[dict, dict, int]:
    email = new_email("buyer")
    await sign_up(client, email)
    headers = bearer((await sign_in(client, email))["accessToken"])
    [(pk, variant, _, _)] = await _fresh_variants(url, 1, stock=stock)
    cart = await _cart(client, [(variant, quantity)], headers)
    order = (await client.gql(CHECKOUT, _checkout(cart["id"]), headers=headers))["data"]["checkoutComplete"]["order"]
    return order, headers, pk


async def test_staff_move_an_order_along_and_only_along_its_path(client, shop_url):
    order, _, _ = await _customer_order(client, shop_url)
    staff = await _staff(client, shop_url)
    delivered_too_soon = await client.gql(STATUS, {"id": order["id"], "status": "DELIVERED"}, headers=staff)
    assert delivered_too_soon["data"]["orderUpdateStatus"]["errors"] == [
        {"field": ["status"], "message": "An order that is PAID cannot become DELIVERED", "code": "INVALID_TRANSITION"}
    ]
    for status in ("FULFILLED", "DELIVERED"):
        body = await client.gql(STATUS, {"id": order["id"], "status": status}, headers=staff)
        assert body["data"]["orderUpdateStatus"]["errors"] == []
    history = body["data"]["orderUpdateStatus"]["order"]["statusHistory"]
    assert [change["status"] for change in history] == ["PAYMENT_PENDING", "PAID", "FULFILLED", "DELIVERED"]
    cancelled = await client.gql(CANCEL, {"id": order["id"]}, headers=staff)
    assert cancelled["data"]["orderCancel"]["errors"][0]["code"] == "INVALID_TRANSITION"


async def test_customers_may_not_move_orders_and_may_cancel_theirs_until_fulfilled(client, shop_url):
    order, headers, pk = await _customer_order(client, shop_url, stock=10, quantity=3)
    assert await _stock(shop_url, pk) == 7
    refused = await client.gql(STATUS, {"id": order["id"], "status": "FULFILLED"}, headers=headers)
    assert refused["data"]["orderUpdateStatus"]["errors"] == [
        {"field": None, "message": "Only staff may change an order's status", "code": "FORBIDDEN"}
    ]
    other_order, other, _ = await _customer_order(client, shop_url)
    assert (await client.gql(CANCEL, {"id": other_order["id"]}, headers=headers))["data"]["orderCancel"]["errors"] == [
        {"field": ["id"], "message": "No order of yours has this ID", "code": "NOT_FOUND"}
    ]
    done = await client.gql(CANCEL, {"id": order["id"]}, headers=headers)
    assert done["data"]["orderCancel"] == {"order": {"status": "CANCELLED"}, "errors": []}
    assert await _stock(shop_url, pk) == 10
    again = await client.gql(CANCEL, {"id": order["id"]}, headers=headers)
    assert again["data"]["orderCancel"]["errors"][0]["code"] == "INVALID_TRANSITION"
    assert await _stock(shop_url, pk) == 10  # returned once
    staff = await _staff(client, shop_url)
    await client.gql(STATUS, {"id": other_order["id"], "status": "FULFILLED"}, headers=staff)
    late = await client.gql(CANCEL, {"id": other_order["id"]}, headers=other)
    assert late["data"]["orderCancel"]["errors"][0]["code"] == "INVALID_TRANSITION"


async def test_concurrent_cancellations_return_the_stock_once(shop_url, backend):
    settings = replace(settings_for(shop_url, secret_key=Secret("o" * 40)), db_pool_size=12, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        order, headers, pk = await _customer_order(client, shop_url, stock=10, quantity=4)
        staff = await _staff(client, shop_url)
        answers = await asyncio.gather(
            *(client.gql(CANCEL, {"id": order["id"]}, headers=headers if i % 2 else staff) for i in range(10))
        )
        await client.aclose()
    codes = [(answer["data"]["orderCancel"]["errors"] or [{"code": "OK"}])[0]["code"] for answer in answers]
    assert sorted(codes) == ["INVALID_TRANSITION"] * 9 + ["OK"]
    assert await _stock(shop_url, pk) == 10


async def test_checkouts_of_the_same_variants_in_any_order_never_deadlock(shop_url):
    settings = replace(settings_for(shop_url, secret_key=Secret("o" * 40)), db_pool_size=20, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        variants = await _fresh_variants(shop_url, 4, stock=1000)
        ids = [v for _, v, _, _ in variants]
        carts = [await _cart(client, [(v, 1) for v in (ids if i % 2 else ids[::-1])]) for i in range(40)]
        answers = await asyncio.gather(*(client.post(CHECKOUT, _checkout(cart["id"])) for cart in carts))
        await client.aclose()
    bodies = [answer.json() for answer in answers]
    assert [body.get("errors") for body in bodies] == [None] * 40
    assert all(body["data"]["checkoutComplete"]["errors"] == [] for body in bodies)


async def test_one_key_on_many_carts_at_once_makes_one_order_and_refuses_the_rest(shop_url):
    settings = replace(settings_for(shop_url, secret_key=Secret("o" * 40)), db_pool_size=12, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
        carts = [await _cart(client, [(variant, 1)]) for _ in range(10)]
        key = uuid.uuid4().hex
        bodies = await asyncio.gather(*(client.gql(CHECKOUT, _checkout(cart["id"], key)) for cart in carts))
        await client.aclose()
    codes = [(body["data"]["checkoutComplete"]["errors"] or [{"code": "OK"}])[0]["code"] for body in bodies]
    assert sorted(codes) == ["IDEMPOTENCY_KEY_REUSED"] * 9 + ["OK"]


async def test_bad_emails_are_invalid_never_a_500(client, shop_url):
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
    for email in ("a\u0000b@example.com", "x" * 330 + "@example.com", "not an email"):
        made = await client.gql(
            "mutation($e: String) { cartCreate(input: { buyerIdentity: { email: $e } }) { errors { field code } } }",
            {"e": email},
        )
        assert made["data"]["cartCreate"]["errors"] == [
            {"field": ["input", "buyerIdentity", "email"], "code": "INVALID"}
        ]
        cart = await _cart(client, [(variant, 1)])
        body = await client.gql(CHECKOUT, _checkout(cart["id"], email=email))
        assert [(e["field"], e["code"]) for e in body["data"]["checkoutComplete"]["errors"]] == [
            (["input", "email"], "INVALID")
        ]


async def test_order_ids_cannot_be_counted(client, shop_url):
    order, _, _ = await _customer_order(client, shop_url)
    email = new_email("prober")
    await sign_up(client, email)
    prober = bearer((await sign_in(client, email))["accessToken"])
    missing = encode_global_id("Order", 10**6)
    answers = [await client.gql(ORDER, {"id": id}, headers=prober) for id in (order["id"], missing)]
    assert answers[0] == {
        **answers[1],
        "errors": [{**answers[1]["errors"][0], "locations": answers[0]["errors"][0]["locations"]}],
    }
    assert [answer["errors"][0]["extensions"]["code"] for answer in answers] == ["FORBIDDEN", "FORBIDDEN"]
    cancels = [
        (await client.gql(CANCEL, {"id": id}, headers=prober))["data"]["orderCancel"] for id in (order["id"], missing)
    ]
    assert cancels[0] == cancels[1]
