"""The `stripe` payment provider against a local stub of Stripe's API, through the official `stripe` package:
a PaymentIntent per order in minor units under the order's idempotency key, the order committed before the
gateway is asked, Stripe-signed webhooks verified by `Webhook.construct_event`."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.cart.models import Cart
from app.orders.models import Order
from app.orders.stripe_provider import minor_units
from app.settings import Secret, Settings, SettingsError
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import Client, Running, bearer, new_email, running, sign_in, sign_up
from tests.support.stripe_stub import API_KEY, WEBHOOK_SECRET, StripeStub, stripe_event, stripe_signature, stripe_stub
from tests.test_accounts import _rows, _run
from tests.test_checkout import ADDRESS, CANCEL, _cart, _fresh_variants, _stock

CHECKOUT = """mutation($input: CheckoutInput!) { checkoutComplete(input: $input) {
  order { id status subtotalPrice { amount } statusHistory { status } }
  accessToken clientSecret errors { field message code } } }"""


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated catalog with stock everywhere, for this module's orders."""
    folder = tmp_path_factory.mktemp(f"stripe-{backend}")
    async with seeded_database(backend, folder, products=20, seed=23, stock=1000) as url:
        yield url


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[StripeStub, str]]:
    with stripe_stub() as started:
        yield started


def _settings(url: str, api_base: str) -> Settings:
    return settings_for(
        url,
        secret_key=Secret("s" * 40),
        stripe_secret_key=Secret(API_KEY),
        stripe_webhook_secret=Secret(WEBHOOK_SECRET),
        stripe_api_base=api_base,
    )


@pytest.fixture(scope="module")
async def app(shop_url: str, stub: tuple[StripeStub, str]) -> AsyncIterator[Running]:
    async with running(_settings(shop_url, stub[1])) as started:
        yield started


@pytest.fixture
async def client(app: Running, stub: tuple[StripeStub, str]) -> AsyncIterator[Client]:
    stub[0].failures.clear()
    stub[0].answering.set()
    started = app.client()
    yield started
    await started.aclose()


def _checkout(cart_id: str, key: str, token: str = "") -> dict:
    payment = {"provider": "stripe", "token": token}
    return {
        "input": {
            "cartId": cart_id,
            "idempotencyKey": key,
            "email": "ada@example.com",
            "shippingAddress": ADDRESS,
            "payment": payment,
        }
    }


async def _order_row(url: str, key: str):
    rows = await _rows(url, select(Order).where(Order.idempotency_key == key))
    return rows[0] if rows else None


async def _deliver(client: Client, body: bytes, signature: str | None = None):
    headers = {"content-type": "application/json", "stripe-signature": signature or stripe_signature(body)}
    return await client.http.post("/webhooks/payments/stripe", content=body, headers=headers)


async def _pending(client: Client, url: str, stock: int = 10, quantity: int = 2) -> tuple[dict, int, str]:
    [(pk, variant, _, _)] = await _fresh_variants(url, 1, stock=stock)
    cart = await _cart(client, [(variant, quantity)])
    key = uuid.uuid4().hex
    payload = (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"]
    assert payload["errors"] == [], payload
    return payload, pk, (await _order_row(url, key)).payment_reference


def test_amounts_are_in_the_currencys_minor_units():
    assert minor_units(Decimal("12.34"), "usd") == 1234
    assert minor_units(Decimal("0.50"), "EUR") == 50
    assert minor_units(Decimal("1234"), "JPY") == 1234
    assert minor_units(Decimal("1.5"), "KWD") == 1500


async def test_checkout_creates_one_payment_intent_in_minor_units_and_returns_its_client_secret(client, shop_url, stub):
    # given
    fake, _ = stub
    [(pk, variant, _, price)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 3)])
    key = uuid.uuid4().hex
    seen = len(fake.requests)
    # when
    payload = (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"]
    # then: the order waits for the client to confirm the intent, its stock already taken
    assert payload["errors"] == []
    assert payload["order"]["status"] == "PAYMENT_PENDING"
    assert [change["status"] for change in payload["order"]["statusHistory"]] == ["PAYMENT_PENDING"]
    [request] = fake.requests[seen:]
    assert request["idempotency_key"] == f"storefront-order-{key}"
    assert request["form"]["amount"] == str(int(price * 3 * 100))
    assert request["form"]["currency"] == "usd"
    assert request["form"]["metadata[idempotency_key]"] == key
    intent = fake.intents[(await _order_row(shop_url, key)).payment_reference]
    assert payload["clientSecret"] == intent["client_secret"]
    assert await _stock(shop_url, pk) == 7


async def test_a_retry_gets_the_same_order_and_client_secret_and_no_second_intent(client, shop_url, stub):
    fake, _ = stub
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 1)])
    key = uuid.uuid4().hex
    first = (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"]
    intents = len(fake.intents)
    again = (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"]
    assert again == first
    assert len(fake.intents) == intents


async def test_a_payment_method_token_is_attached_to_the_intent(client, shop_url, stub):
    fake, _ = stub
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 1)])
    seen = len(fake.requests)
    payload = (await client.gql(CHECKOUT, _checkout(cart["id"], uuid.uuid4().hex, token="pm_card_visa")))["data"]
    assert payload["checkoutComplete"]["errors"] == []
    assert fake.requests[seen]["form"]["payment_method"] == "pm_card_visa"


async def test_stripe_failing_keeps_the_reserved_order_and_a_retry_asks_again_under_a_new_key(client, shop_url, stub):
    # given: Stripe answers 500, which it keeps under the key and replays to the client library's retries
    fake, _ = stub
    [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 2)])
    key = uuid.uuid4().hex
    fake.failures.append(500)
    seen = len(fake.requests)
    # when
    failed = await client.post(CHECKOUT, _checkout(cart["id"], key))
    # then: a clear error, not a 500; the order is reserved (stock held) with no payment yet
    assert failed.status_code == 200
    [error] = failed.json()["data"]["checkoutComplete"]["errors"]
    assert (error["code"], error["field"]) == ("PAYMENT_UNAVAILABLE", ["input", "payment"])
    order = await _order_row(shop_url, key)
    assert (order.status, order.payment_reference, await _stock(shop_url, pk)) == ("PAYMENT_PENDING", None, 8)
    # when: the retry the message asks for
    again = (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"]
    # then: the same order, now with its intent, asked for under the next attempt's key
    assert again["errors"] == []
    assert again["clientSecret"].startswith((await _order_row(shop_url, key)).payment_reference + "_secret_")
    keys = [r["idempotency_key"] for r in fake.requests[seen:]]
    assert keys == [f"storefront-order-{key}"] * 3 + [f"storefront-order-{key}#1"]
    assert len(await _rows(shop_url, select(Order.id).where(Order.idempotency_key == key))) == 1
    assert await _stock(shop_url, pk) == 8
    # and a retry after that gets the same answer
    assert (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"] == again


async def test_a_transient_failure_is_retried_by_the_client_library_under_the_same_key(client, shop_url, stub):
    # a 409 (a request with the key under way) is not kept by Stripe: the client library's retry succeeds
    fake, _ = stub
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 1)])
    key = uuid.uuid4().hex
    seen = len(fake.requests)
    fake.failures.append(409)
    payload = (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"]
    assert payload["errors"] == []
    assert [r["idempotency_key"] for r in fake.requests[seen:]] == [f"storefront-order-{key}"] * 2


async def test_a_retry_with_other_payment_details_is_refused_and_changes_nothing(client, shop_url, stub):
    [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 1)])
    key = uuid.uuid4().hex
    first = (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"]
    other = (await client.gql(CHECKOUT, _checkout(cart["id"], key, token="pm_card_visa")))["data"]
    assert [e["code"] for e in other["checkoutComplete"]["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    again = (await client.gql(CHECKOUT, _checkout(cart["id"], key)))["data"]["checkoutComplete"]
    assert again == first
    assert await _stock(shop_url, pk) == 9


async def test_a_retry_with_another_provider_is_refused(client, shop_url):
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 1)])
    key = uuid.uuid4().hex
    await client.gql(CHECKOUT, _checkout(cart["id"], key))
    other = _checkout(cart["id"], key)
    other["input"]["payment"] = {"provider": "test", "token": "tok_visa"}
    errors = (await client.gql(CHECKOUT, other))["data"]["checkoutComplete"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("IDEMPOTENCY_KEY_REUSED", ["input", "payment", "provider"])]


async def test_an_order_cancelled_while_stripe_answers_gets_no_client_secret_and_its_intent_is_cancelled(
    client, shop_url, stub
):
    # given: Stripe is slow, and the order is cancelled (by the sweeper, say) while it answers
    fake, _ = stub
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 2)])
    key = uuid.uuid4().hex
    fake.answering.clear()
    try:
        slow = asyncio.create_task(client.gql(CHECKOUT, _checkout(cart["id"], key)))
        while (order := await _order_row(shop_url, key)) is None or not _waiting(fake):
            await asyncio.sleep(0.01)
        await _run(shop_url, update(Order.__table__).where(Order.id == order.id).values(status="CANCELLED"))
    finally:
        fake.answering.set()
    payload = (await slow)["data"]["checkoutComplete"]
    # then: the cancelled order, no secret to pay it with, and the intent made meanwhile cancelled at Stripe
    assert (payload["errors"], payload["order"]["status"], payload["clientSecret"]) == ([], "CANCELLED", None)
    [intent] = [i for i in fake.intents.values() if i["metadata"].get("idempotency_key") == key]
    assert intent["status"] == "canceled"
    assert (await _order_row(shop_url, key)).payment_reference is None


@pytest.mark.parametrize("refusal", ["card", "unknown payment method"])
async def test_a_payment_refused_outright_undoes_the_order(client, shop_url, stub, refusal):
    # given
    fake, _ = stub
    [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 4)])
    key = uuid.uuid4().hex
    if refusal == "card":
        fake.failures.append(402)
    # when
    payload = (await client.gql(CHECKOUT, _checkout(cart["id"], key, token="pm_unknown")))["data"]
    # then: as if it never happened: no order, stock back, the cart open to check out again
    [error] = payload["checkoutComplete"]["errors"]
    assert error["code"] == "PAYMENT_DECLINED"
    assert await _order_row(shop_url, key) is None
    assert await _stock(shop_url, pk) == 10
    retried = (await client.gql(CHECKOUT, _checkout(cart["id"], uuid.uuid4().hex)))["data"]["checkoutComplete"]
    assert retried["errors"] == [] and retried["order"]["status"] == "PAYMENT_PENDING"


async def test_no_lock_is_held_while_stripe_answers(client, shop_url, stub, app):
    # given: Stripe is slow to create the intent
    fake, _ = stub
    [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    slow_cart = await _cart(client, [(variant, 1)])
    other_cart = await _cart(client, [(variant, 1)])
    fake.answering.clear()
    try:
        slow = asyncio.create_task(client.gql(CHECKOUT, _checkout(slow_cart["id"], uuid.uuid4().hex)))
        while len(fake.requests) == 0 or not _waiting(fake):
            await asyncio.sleep(0.01)
        # when: another checkout of the same variant (offline provider) runs meanwhile
        other = app.client()
        body = await asyncio.wait_for(
            other.gql(
                CHECKOUT.replace("clientSecret", ""),
                {"input": {**_checkout(other_cart["id"], uuid.uuid4().hex)["input"], "payment": {"token": "tok_visa"}}},
            ),
            timeout=10,
        )
        await other.aclose()
        # then: it completed while the first still waits on Stripe, both orders' stock taken
        assert body["data"]["checkoutComplete"]["errors"] == []
        assert not slow.done()
        assert await _stock(shop_url, pk) == 8
    finally:
        fake.answering.set()
    assert (await slow)["data"]["checkoutComplete"]["errors"] == []


def _waiting(fake: StripeStub) -> bool:
    """True once a request reached the stub (it then waits for `answering`)."""
    return not fake.answering.is_set() and bool(fake.requests)


async def test_a_succeeded_event_pays_the_order_once_and_replays_change_nothing(client, shop_url):
    _, pk, intent = await _pending(client, shop_url)
    body = stripe_event("payment_intent.succeeded", intent, "evt_" + uuid.uuid4().hex)
    first, again = await _deliver(client, body), await _deliver(client, body)
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    assert again.json()["outcome"] == "duplicate"
    assert (await _status(shop_url, intent), await _stock(shop_url, pk)) == ("PAID", 8)


async def test_a_canceled_intent_cancels_the_order_and_returns_its_stock(client, shop_url):
    _, pk, intent = await _pending(client, shop_url, stock=10, quantity=3)
    response = await _deliver(client, stripe_event("payment_intent.canceled", intent))
    assert response.json()["outcome"] == "applied"
    assert (await _status(shop_url, intent), await _stock(shop_url, pk)) == ("CANCELLED", 10)
    late = await _deliver(client, stripe_event("payment_intent.succeeded", intent))
    assert late.json()["outcome"] == "ignored"
    assert (await _status(shop_url, intent), await _stock(shop_url, pk)) == ("CANCELLED", 10)


@pytest.mark.parametrize("kind", ["payment_intent.payment_failed", "charge.refunded", "payment_intent.created"])
async def test_events_no_order_waits_for_are_acknowledged_and_change_nothing(client, shop_url, kind):
    # a failed attempt leaves the intent open for another card: it does not cancel the order
    _, pk, intent = await _pending(client, shop_url)
    response = await _deliver(client, stripe_event(kind, intent))
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")
    assert (await _status(shop_url, intent), await _stock(shop_url, pk)) == ("PAYMENT_PENDING", 8)


@pytest.mark.parametrize("case", ["bad signature", "old", "no header", "not json", "no type", "a list", "no object"])
async def test_events_not_signed_by_stripe_now_are_refused_and_change_nothing(client, shop_url, case):
    _, pk, intent = await _pending(client, shop_url)
    body = stripe_event("payment_intent.canceled", intent)
    if case == "bad signature":
        response = await _deliver(client, body, stripe_signature(body, secret="whsec_someone_else"))
    elif case == "old":
        response = await _deliver(client, body, stripe_signature(body, at=time.time() - 301))
    elif case == "no header":
        response = await client.http.post("/webhooks/payments/stripe", content=body)
    elif case == "not json":
        response = await _deliver(client, b"not json")
    else:
        shapes = {
            "no type": b'{"id": "evt_1"}',
            "a list": b"[1]",
            "no object": b'{"id": "e", "type": "payment_intent.canceled"}',
        }
        response = await _deliver(client, shapes[case])
    assert response.status_code == 400
    assert (await _status(shop_url, intent), await _stock(shop_url, pk)) == ("PAYMENT_PENDING", 8)


async def test_twenty_concurrent_retries_make_one_order_one_intent_and_identical_payloads(shop_url, stub, backend):
    if backend == "sqlite":
        pytest.skip("SQLite serialises the writers; the concurrency is PostgreSQL's")
    fake, base = stub
    fake.failures.clear()
    settings = replace(_settings(shop_url, base), db_pool_size=12, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=50)
        cart = await _cart(client, [(variant, 2)])
        key = uuid.uuid4().hex
        intents = len(fake.intents)
        fake.latency = 0.05  # the requests overlap at Stripe: 409s, retried by the client library
        try:
            answers = await asyncio.gather(*(client.gql(CHECKOUT, _checkout(cart["id"], key)) for _ in range(20)))
        finally:
            fake.latency = 0.0
        await client.aclose()
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["data"]["checkoutComplete"]["errors"] == []
    assert len(fake.intents) == intents + 1
    assert len(await _rows(shop_url, select(Order.id).where(Order.idempotency_key == key))) == 1
    assert await _stock(shop_url, pk) == 48
    order = await _order_row(shop_url, key)
    assert (await _rows(shop_url, select(Cart.status).where(Cart.id == order.cart_id)))[0].status == "CLOSED"


async def test_concurrent_retries_racing_a_refusal_leave_one_consistent_outcome(shop_url, stub, backend):
    # given: ten retries of one checkout at once, Stripe refusing the first to reach it (a refusal it
    # does not keep under the key) and making an intent for the others
    if backend == "sqlite":
        pytest.skip("SQLite serialises the writers; the concurrency is PostgreSQL's")
    fake, base = stub
    settings = replace(_settings(shop_url, base), db_pool_size=12, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=50)
        cart = await _cart(client, [(variant, 3)])
        key = uuid.uuid4().hex
        before = set(fake.intents)
        fake.failures.append(402)
        fake.latency = 0.02
        try:
            answers = await asyncio.gather(*(client.post(CHECKOUT, _checkout(cart["id"], key)) for _ in range(10)))
        finally:
            fake.latency = 0.0
        await client.aclose()
    # then: no 500s; at most one order; its stock taken exactly when it exists; every intent made either
    # is the order's or was cancelled at Stripe, so none can be paid without an order
    assert [answer.status_code for answer in answers] == [200] * 10
    assert all("errors" not in answer.json() for answer in answers)
    orders = await _rows(shop_url, select(Order.id, Order.payment_reference).where(Order.idempotency_key == key))
    assert len(orders) <= 1
    assert await _stock(shop_url, pk) == (47 if orders else 50)
    kept = {orders[0].payment_reference} if orders else set()
    for intent_id in set(fake.intents) - before:
        assert intent_id in kept or fake.intents[intent_id]["status"] == "canceled", fake.intents[intent_id]
    secrets = {answer.json()["data"]["checkoutComplete"]["clientSecret"] for answer in answers} - {None}
    assert secrets <= {fake.intents[reference]["client_secret"] for reference in kept if reference}


@pytest.mark.parametrize("at_stripe", ["open", "already paid"])
async def test_the_sweeper_cancels_an_unpaid_order_and_then_its_intent(shop_url, stub, at_stripe):
    # given: a pending order past a one-second payment timeout
    fake, base = stub
    async with running(replace(_settings(shop_url, base), sweep_interval_seconds=3600)) as maker:
        client = maker.client()
        _, pk, intent = await _pending(client, shop_url, stock=10, quantity=2)
        await client.aclose()
    if at_stripe == "already paid":  # its webhook not delivered yet
        fake.intents[intent]["status"] = "succeeded"
    # when
    async with running(replace(_settings(shop_url, base), payment_timeout_seconds=1, sweep_interval_seconds=0.2)):
        for _ in range(50):
            if await _status(shop_url, intent) == "CANCELLED" and any(intent in r["path"] for r in fake.requests):
                break
            await asyncio.sleep(0.1)
    # then: stock returned, and the intent cancelled at Stripe unless it was paid (then it stays as it is)
    assert (await _status(shop_url, intent), await _stock(shop_url, pk)) == ("CANCELLED", 10)
    [cancel] = [r for r in fake.requests if r["path"] == f"/v1/payment_intents/{intent}/cancel"]
    assert cancel["form"] == {"cancellation_reason": "abandoned"}
    assert fake.intents[intent]["status"] == ("canceled" if at_stripe == "open" else "succeeded")


async def test_a_customer_cancelling_a_pending_order_cancels_its_intent(client, shop_url, stub):
    # given: a signed-in customer's order awaiting payment
    fake, _ = stub
    email = new_email()
    await sign_up(client, email)
    headers = bearer((await sign_in(client, email))["accessToken"])
    [(pk, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
    cart = await _cart(client, [(variant, 2)], headers=headers)
    key = uuid.uuid4().hex
    order = (await client.gql(CHECKOUT, _checkout(cart["id"], key), headers=headers))["data"]["checkoutComplete"]
    intent = (await _order_row(shop_url, key)).payment_reference
    # when
    cancelled = await client.gql(CANCEL, {"id": order["order"]["id"]}, headers=headers)
    # then
    assert cancelled["data"]["orderCancel"] == {"order": {"status": "CANCELLED"}, "errors": []}
    assert (fake.intents[intent]["status"], await _stock(shop_url, pk)) == ("canceled", 10)


async def test_no_pooled_connection_is_held_while_stripe_answers(shop_url, stub, backend):
    if backend == "sqlite":
        pytest.skip("the embedded database's pool is not the point; PostgreSQL's connections are")
    fake, base = stub
    settings = replace(_settings(shop_url, base), db_pool_size=1, db_max_overflow=0, db_pool_timeout=2.0)
    async with running(settings) as started:
        client = started.client()
        [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
        cart = await _cart(client, [(variant, 1)])
        fake.answering.clear()
        try:
            slow = asyncio.create_task(client.gql(CHECKOUT, _checkout(cart["id"], uuid.uuid4().hex)))
            while not _waiting(fake):
                await asyncio.sleep(0.01)
            # the pool's one connection is free: another request is answered while Stripe is still thinking
            other = await client.post("query { products(first: 1) { nodes { id } } }")
            assert other.status_code == 200 and "errors" not in other.json()
            assert not slow.done()
        finally:
            fake.answering.set()
        assert (await slow)["data"]["checkoutComplete"]["errors"] == []
        await client.aclose()


async def _status(url: str, intent: str) -> str:
    rows = await _rows(url, select(Order.status).where(Order.payment_reference == intent))
    return str(rows[0].status)


def test_stripe_settings_are_checked_at_start():
    with pytest.raises(SettingsError, match="STRIPE_API_BASE"):
        Settings(stripe_api_base="ftp://stripe.example")
    with pytest.raises(SettingsError, match="STRIPE_API_BASE"):
        Settings(environment="production", secret_key=Secret("k" * 40), stripe_api_base="http://127.0.0.1:9")
    production = {"environment": "production", "secret_key": Secret("k" * 40)}
    with pytest.raises(SettingsError, match="STRIPE_WEBHOOK_SECRET"):
        Settings(**production, stripe_secret_key=Secret(API_KEY))
    with pytest.raises(SettingsError, match="sk_"):
        Settings(stripe_secret_key=Secret("pk_test_publishable"))
    with pytest.raises(SettingsError, match="PAYMENT_TIMEOUT"):
        Settings(stripe_secret_key=Secret(API_KEY), payment_timeout_seconds=86401)
    Settings(**production, stripe_secret_key=Secret(API_KEY), stripe_webhook_secret=Secret(WEBHOOK_SECRET))


async def test_without_a_key_there_is_no_stripe_provider(shop_url):
    async with running(settings_for(shop_url, secret_key=Secret("s" * 40))) as started:
        client = started.client()
        [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=10)
        cart = await _cart(client, [(variant, 1)])
        payload = (await client.gql(CHECKOUT, _checkout(cart["id"], uuid.uuid4().hex)))["data"]["checkoutComplete"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID", ["input", "payment", "provider"])]
        assert (await client.http.post("/webhooks/payments/stripe", content=b"{}")).status_code == 404
        await client.aclose()
