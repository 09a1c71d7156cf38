"""Live updates that must not go wrong at the edges (found in review): a subscriber that stops reading
beside one that reads pins no connection; a subscription cancelled as it is set up leaves nothing in the
hub; a customer's cart stream ends with the customer's token or session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from app.accounts.tokens import ACCESS_TOKEN_LIFETIME
from app.context import Context
from app.db.base import utcnow
from app.db.ids import decode_global_id
from app.graphql.pipeline import GraphQLParams
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import LOGOUT, bearer, new_email, running, sign_in, sign_up
from tests.test_checkout import _cart, _fresh_variants
from tests.test_live import ADD_LINES, VARIANT_CHANGED, Subscriber, _subscribed

PRODUCTS = "{ products(first: 1) { nodes { id } } }"


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    folder = tmp_path_factory.mktemp(f"review-{backend}")
    async with seeded_database(backend, folder, products=10, seed=31, stock=1000) as url:
        yield url


async def test_a_subscriber_that_stopped_reading_beside_a_reader_pins_no_connection(shop_url):
    settings = replace(settings_for(shop_url, secret_key=Secret("r" * 40)), db_pool_timeout=2.0)
    async with running(settings) as app:
        [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
        _, pk = decode_global_id(variant)
        hub, engine = app.app.state.live, app.app.state.engine
        reader = Subscriber(app, VARIANT_CHANGED, {"ids": [variant]})
        idle = app.app.state.pipeline.subscribe(
            GraphQLParams(VARIANT_CHANGED, None, {"ids": [variant]}), SimpleNamespace(headers={}, cookies={})
        )
        first = asyncio.ensure_future(anext(idle))  # the idle one reads its first event, then stops reading
        await _subscribed(app, 2)
        hub.publish(f"variant:{pk}", {"id": pk})
        await reader.next()
        await first
        assert engine.pool.checkedout() == 0
        for _ in range(5):
            hub.publish(f"variant:{pk}", {"id": pk})
            await reader.next()
        pinned = engine.pool.checkedout()
        hub.publish(f"variant:{pk}", {"id": pk})
        sixth = await reader.next(timeout=10)
        client = app.client()
        answer = await client.gql(PRODUCTS)
        await client.aclose()
        await reader.close()
        await idle.aclose()
        assert pinned == 0, f"{pinned} connections held by events only the idle subscriber still queues"
        assert "errors" not in sixth and "errors" not in answer


async def test_a_subscription_cancelled_while_it_lets_its_connection_go_is_closed(shop_url, monkeypatch):
    async with running(settings_for(shop_url, secret_key=Secret("r" * 40))) as app:
        [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
        real = Context.release_database

        async def slow_release(self: Context) -> None:  # widens the await the pipeline already makes
            await asyncio.sleep(0.2)
            await real(self)

        monkeypatch.setattr(Context, "release_database", slow_release)
        results = app.app.state.pipeline.subscribe(
            GraphQLParams(VARIANT_CHANGED, None, {"ids": [variant]}), SimpleNamespace(headers={}, cookies={})
        )
        task = asyncio.ensure_future(anext(results))
        await _subscribed(app, 1)
        task.cancel()  # the client completes (or disconnects) as the subscription is being established
        await asyncio.gather(task, return_exceptions=True)
        await results.aclose()
        await asyncio.sleep(0.1)
        assert app.app.state.live.subscription_count == 0, "the hub still holds the subscription"


async def test_subscriptions_cancelled_as_the_hub_takes_them_leave_nothing_behind(shop_url):
    async with running(settings_for(shop_url, secret_key=Secret("r" * 40))) as app:
        client = app.client()
        [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
        cart = await _cart(client, [(variant, 1)])
        query = "subscription($id: ID!) { cartChanged(cartId: $id) { totalQuantity } }"
        hub, engine = app.app.state.live, app.app.state.engine
        real_subscribe = hub.subscribe
        current: list[asyncio.Task] = []

        def subscribe_then_cancel(topics):  # the client's `complete` arrives as the hub takes the subscription
            subscription = real_subscribe(topics)
            current[0].cancel()
            return subscription

        hub.subscribe = subscribe_then_cancel
        for _ in range(20):
            results = app.app.state.pipeline.subscribe(
                GraphQLParams(query, None, {"id": cart["id"]}), SimpleNamespace(headers={}, cookies={})
            )
            current[:] = [asyncio.ensure_future(anext(results))]
            await asyncio.gather(current[0], return_exceptions=True)
            await results.aclose()
        hub.subscribe = real_subscribe
        assert (hub.subscription_count, hub._topics) == (0, {})
        # and the leaked ones keep events (and the connections other subscribers opened for them)
        leaked = hub.subscription_count
        reader = Subscriber(app, query, {"id": cart["id"]})
        await _subscribed(app, leaked + 1)
        await client.gql(ADD_LINES, {"cart": cart["id"], "variant": variant})
        assert (await reader.next())["data"]["cartChanged"]["totalQuantity"] == 2
        await reader.close()
        assert engine.pool.checkedout() == 0
        await client.aclose()
        assert hub.subscription_count == 0


async def test_a_customers_cart_stream_ends_when_the_token_that_opened_it_expires(shop_url):
    async with running(settings_for(shop_url, secret_key=Secret("r" * 40))) as app:
        client = app.client()
        [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
        email = new_email()
        await sign_up(client, email)
        headers = bearer((await sign_in(client, email))["accessToken"])
        viewer = await client.gql("{ viewer { id } }", headers=headers)
        customer_id = int(decode_global_id(viewer["data"]["viewer"]["id"])[1])
        cart = await _cart(client, [(variant, 1)], headers)
        soon = utcnow() - ACCESS_TOKEN_LIFETIME + timedelta(seconds=1)
        token, _ = app.accounts.tokens.issue(customer_id, "CUSTOMER", uuid.uuid4().hex, soon)
        query = """subscription($id: ID!) { cartChanged(cartId: $id) { totalQuantity buyerIdentity { email } } }"""
        follower = Subscriber(app, query, {"id": cart["id"]}, bearer(token))
        await _subscribed(app, 1)
        event = await follower.next(timeout=10)
        await asyncio.wait_for(follower.ended.wait(), 5)
        await client.aclose()
        assert [error["extensions"]["code"] for error in event["errors"]] == ["UNAUTHENTICATED"]
        assert event.get("data") is None


async def test_a_customers_cart_stream_ends_when_its_session_is_signed_out(shop_url):
    async with running(settings_for(shop_url, secret_key=Secret("r" * 40))) as app:
        client = app.client()
        [(_, variant, _, _), (_, other, _, _)] = await _fresh_variants(shop_url, 2)
        email = new_email()
        await sign_up(client, email)
        device_a = bearer((await sign_in(client, email))["accessToken"])
        device_b = bearer((await sign_in(client, email))["accessToken"])
        cart = await _cart(client, [(variant, 1)], device_b)
        query = """subscription($id: ID!) { cartChanged(cartId: $id) { totalQuantity buyerIdentity { email } } }"""
        follower = Subscriber(app, query, {"id": cart["id"]}, device_a)
        await _subscribed(app, 1)
        out = await client.gql(LOGOUT, headers=device_a)
        assert out["data"]["customerLogout"]["errors"] == []
        await client.gql(ADD_LINES, {"cart": cart["id"], "variant": other}, headers=device_b)
        event = await follower.next()
        await follower.close()
        await client.aclose()
        assert [error["extensions"]["code"] for error in event["errors"]] == ["UNAUTHENTICATED"]
