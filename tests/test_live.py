"""Live updates through the pipeline: who may subscribe, which changes are published (after commit, never
for a rolled-back change, variants only across availability bands), and events executed with fresh loaders
shared by every subscriber, so many subscribers cost the same statements as one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

from app.accounts.tokens import ACCESS_TOKEN_LIFETIME
from app.db.base import utcnow
from app.db.ids import decode_global_id
from app.graphql.pipeline import GraphQLParams
from app.orders.models import Order
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import PASSWORD, Client, Running, bearer, new_email, running, sign_in, sign_up
from tests.test_accounts import _run
from tests.test_checkout import CHECKOUT, STATUS, _cart, _checkout, _customer_order, _fresh_variants, _staff

ORDER_CHANGED = """subscription($id: ID!) { orderStatusChanged(orderId: $id) {
  id status statusHistory { status }
  lines(first: 5) { nodes { sku variant { sku product { title } } } } } }"""
VARIANT_CHANGED = """subscription($ids: [ID!]!) { variantAvailabilityChanged(variantIds: $ids) {
  id quantityAvailable availableForSale price { amount } } }"""
CART_CHANGED = """subscription($id: ID!) { cartChanged(cartId: $id) {
  id totalQuantity lines(first: 10) { nodes { quantity merchandise { ... on ProductVariant { sku } } } } } }"""
ADD_LINES = """mutation($cart: ID!, $variant: ID!) {
  cartLinesAdd(cartId: $cart, lines: [{ merchandiseId: $variant, quantity: 1 }]) { errors { code } } }"""
ADJUST = """mutation($id: ID!, $delta: Int!) { inventoryAdjust(variantId: $id, delta: $delta) { errors { code } } }"""
PRICE = (
    """mutation($id: ID!, $price: Decimal!) { variantUpdate(id: $id, input: { price: $price }) { errors { code } } }"""
)
QUIET = 0.3  # seconds to wait for an event that must not come


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    folder = tmp_path_factory.mktemp(f"live-{backend}")
    async with seeded_database(backend, folder, products=20, seed=29, stock=1000) as url:
        yield url


@pytest.fixture(scope="module")
async def app(shop_url: str) -> AsyncIterator[Running]:
    async with running(settings_for(shop_url, secret_key=Secret("l" * 40))) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


class Subscriber:
    """One subscription through the app's pipeline, its results collected as they come."""

    def __init__(self, app: Running, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None):
        request = SimpleNamespace(headers=headers or {}, cookies={})
        self._results = app.app.state.pipeline.subscribe(GraphQLParams(query, None, variables), request)
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        try:
            async for result in self._results:
                await self.received.put(result.payload())
        finally:
            self.ended.set()

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next result."""
        return await asyncio.wait_for(self.received.get(), timeout)

    async def nothing(self) -> bool:
        """True when no result comes for a while."""
        try:
            await asyncio.wait_for(self.received.get(), QUIET)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        """Unsubscribe."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._results.aclose()


async def _subscribed(app: Running, count: int = 1) -> None:
    """Wait until the hub holds `count` subscriptions (the subscribers are listening)."""
    for _ in range(200):
        if app.app.state.live.subscription_count == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{app.app.state.live.subscription_count} subscriptions, not {count}")


async def test_the_owner_follows_an_order_through_its_statuses(app, client, shop_url):
    # given: a customer's paid order and a subscription to it
    order, headers, _ = await _customer_order(client, shop_url)
    staff = await _staff(client, shop_url)
    follower = Subscriber(app, ORDER_CHANGED, {"id": order["id"]}, headers)
    await _subscribed(app)
    # when: staff fulfil it
    moved = await client.gql(STATUS, {"id": order["id"], "status": "FULFILLED"}, headers=staff)
    assert moved["data"]["orderUpdateStatus"]["errors"] == []
    # then: the order with the whole selection, as it is after the change
    event = (await follower.next())["data"]["orderStatusChanged"]
    assert event["status"] == "FULFILLED"
    assert [change["status"] for change in event["statusHistory"]] == ["PAYMENT_PENDING", "PAID", "FULFILLED"]
    [line] = event["lines"]["nodes"]
    assert line["variant"]["sku"] == line["sku"] and line["variant"]["product"]["title"]
    await follower.close()
    await _subscribed(app, 0)


@pytest.mark.parametrize("who", ["another customer", "a guest"])
async def test_only_the_owner_and_staff_may_follow_an_order(app, client, shop_url, who):
    order, _, _ = await _customer_order(client, shop_url)
    headers = {}
    if who == "another customer":
        email = new_email()
        await sign_up(client, email)
        headers = bearer((await sign_in(client, email))["accessToken"])
    refused = Subscriber(app, ORDER_CHANGED, {"id": order["id"]}, headers)
    result = await refused.next()
    code = "FORBIDDEN" if who == "another customer" else "UNAUTHENTICATED"
    assert [error["extensions"]["code"] for error in result["errors"]] == [code]
    assert result.get("data") is None
    await asyncio.wait_for(refused.ended.wait(), 5)
    assert app.app.state.live.subscription_count == 0


async def test_staff_may_follow_any_order(app, client, shop_url):
    order, _, _ = await _customer_order(client, shop_url)
    staff = await _staff(client, shop_url)
    follower = Subscriber(app, ORDER_CHANGED, {"id": order["id"]}, staff)
    await _subscribed(app)
    await client.gql(STATUS, {"id": order["id"], "status": "CANCELLED"}, headers=staff)
    assert (await follower.next())["data"]["orderStatusChanged"]["status"] == "CANCELLED"
    await follower.close()


async def test_an_expiring_token_ends_the_subscription_with_unauthenticated(app, client, shop_url):
    # given: an access token of the order's owner that expires in two seconds
    order, headers, _ = await _customer_order(client, shop_url)
    viewer = await client.gql("{ viewer { id } }", headers=headers)
    customer_id = int(decode_global_id(viewer["data"]["viewer"]["id"])[1])
    soon = utcnow() - ACCESS_TOKEN_LIFETIME + timedelta(seconds=2)
    token, _ = app.accounts.tokens.issue(customer_id, "CUSTOMER", uuid.uuid4().hex, soon)
    follower = Subscriber(app, ORDER_CHANGED, {"id": order["id"]}, bearer(token))
    await _subscribed(app)
    # then: no event, yet the stream ends, saying why
    result = await follower.next(timeout=10)
    assert [error["extensions"]["code"] for error in result["errors"]] == ["UNAUTHENTICATED"]
    await asyncio.wait_for(follower.ended.wait(), 5)
    await _subscribed(app, 0)


async def test_a_variant_is_published_only_when_its_availability_band_or_price_changes(app, client, shop_url):
    # given: a variant with 6 in stock, followed
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=6)
    staff = await _staff(client, shop_url)
    follower = Subscriber(app, VARIANT_CHANGED, {"ids": [variant]})
    await _subscribed(app)

    async def adjust(delta: int) -> None:
        answer = await client.gql(ADJUST, {"id": variant, "delta": delta}, headers=staff)
        assert answer["data"]["inventoryAdjust"]["errors"] == []

    # when / then: 6 -> 5 stays "in stock"; 5 -> 4 is "low"; 4 -> 3 stays low; 3 -> 0 is "sold out"
    await adjust(-1)
    assert await follower.nothing()
    await adjust(-1)
    assert (await follower.next())["data"]["variantAvailabilityChanged"]["quantityAvailable"] == 4
    await adjust(-1)
    assert await follower.nothing()
    await adjust(-3)
    event = (await follower.next())["data"]["variantAvailabilityChanged"]
    assert (event["quantityAvailable"], event["availableForSale"]) == (0, False)
    # a price change is always news
    priced = await client.gql(PRICE, {"id": variant, "price": "12.34"}, headers=staff)
    assert priced["data"]["variantUpdate"]["errors"] == []
    assert (await follower.next())["data"]["variantAvailabilityChanged"]["price"] == {"amount": "12.34"}
    await follower.close()


async def test_a_rolled_back_checkout_publishes_nothing(app, client, shop_url):
    # given: a variant with one left (low stock) in a cart beside a line that cannot be bought
    [(_, last_one, _, _), (_, scarce, _, _)] = await _fresh_variants(shop_url, 2, stock=1)
    follower = Subscriber(app, VARIANT_CHANGED, {"ids": [last_one]})
    await _subscribed(app)
    cart = await _cart(client, [(last_one, 1), (scarce, 2)])
    # when: the checkout fails after taking the first line's stock, and rolls back
    failed = await client.gql(CHECKOUT, _checkout(cart["id"]))
    assert failed["data"]["checkoutComplete"]["errors"][0]["code"] == "OUT_OF_STOCK"
    # then: nothing was published
    assert await follower.nothing()
    # and the checkout that does sell it out is
    sold = await client.gql(CHECKOUT, _checkout((await _cart(client, [(last_one, 1)]))["id"]))
    assert sold["data"]["checkoutComplete"]["errors"] == []
    assert (await follower.next())["data"]["variantAvailabilityChanged"]["quantityAvailable"] == 0
    await follower.close()


async def test_another_device_sees_the_cart_change_and_the_stream_ends_at_checkout(app, client, shop_url):
    [(_, first, sku, _), (_, second, second_sku, _)] = await _fresh_variants(shop_url, 2, stock=50)
    cart = await _cart(client, [(first, 1)])
    follower = Subscriber(app, CART_CHANGED, {"id": cart["id"]})
    await _subscribed(app)
    other_device = app.client()
    added = await other_device.gql(ADD_LINES, {"cart": cart["id"], "variant": second})
    assert added["data"]["cartLinesAdd"]["errors"] == []
    event = (await follower.next())["data"]["cartChanged"]
    assert event["totalQuantity"] == 2
    assert [line["merchandise"]["sku"] for line in event["lines"]["nodes"]] == [sku, second_sku]
    done = await other_device.gql(CHECKOUT, _checkout(cart["id"]))
    assert done["data"]["checkoutComplete"]["errors"] == []
    await asyncio.wait_for(follower.ended.wait(), 5)
    await other_device.aclose()
    await _subscribed(app, 0)


async def test_a_guest_cart_that_becomes_a_customers_at_sign_in_is_no_longer_followed_by_its_old_id(
    app, client, shop_url
):
    # given: a guest's cart, followed by whoever has its ID
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1, stock=50)
    cart = await _cart(client, [(variant, 1)])
    follower = Subscriber(app, CART_CHANGED, {"id": cart["id"]})
    await _subscribed(app)
    # when: a customer signs in with it (it becomes theirs: they have no open cart)
    email = new_email()
    await sign_up(client, email)
    login = """mutation($email: String!, $password: String!, $cart: ID) {
      customerLogin(email: $email, password: $password, cartId: $cart) { errors { code } } }"""
    answer = await client.gql(login, {"email": email, "password": PASSWORD, "cart": cart["id"]})
    assert answer["data"]["customerLogin"]["errors"] == []
    # then: the anonymous follower hears nothing of the customer's cart; its stream ends
    await asyncio.wait_for(follower.ended.wait(), 5)
    assert follower.received.empty()
    await _subscribed(app, 0)


async def test_an_unknown_cart_or_too_many_variants_are_refused(app):
    unknown = Subscriber(app, CART_CHANGED, {"id": "Q2FydDpub3BlCg=="})
    assert (await unknown.next())["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    many = Subscriber(app, VARIANT_CHANGED, {"ids": ["x"] * 101})
    assert (await many.next())["errors"][0]["extensions"]["code"] == "INVALID"


@pytest.mark.parametrize("subscribers", [1, 20])
async def test_an_event_costs_the_same_statements_for_one_subscriber_and_twenty(app, client, shop_url, subscribers):
    # given: N subscriptions to one order, by its owner, and its status changed
    order, headers, _ = await _customer_order(client, shop_url)
    followers = [Subscriber(app, ORDER_CHANGED, {"id": order["id"]}, headers) for _ in range(subscribers)]
    await _subscribed(app, subscribers)
    _, pk = decode_global_id(order["id"], "Order")
    await _run(shop_url, update(Order.__table__).where(Order.id == pk).values(status="FULFILLED"))
    # when: its event reaches them all
    app.sql.reset()
    app.app.state.live.publish(f"order:{pk}", {"id": pk})
    events = [await follower.next() for follower in followers]
    # then: the order, its history, its line page (with its count) and the lines' variants and products, once each
    assert {event["data"]["orderStatusChanged"]["status"] for event in events} == {"FULFILLED"}
    assert app.sql.count == STATEMENTS_PER_ORDER_EVENT, app.sql.statements
    for follower in followers:
        await follower.close()


STATEMENTS_PER_ORDER_EVENT = 5
