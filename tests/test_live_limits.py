"""Slow, vanished and numerous subscribers never block publishers or hold memory: bounded queues that drop
the oldest event (counted), limits per process, and a process left as it was (memory, tasks, Redis
subscriptions, pooled connections) after a thousand subscriptions come and go, or 200 never read."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as redis
from prometheus_client import CollectorRegistry

from app.db.ids import decode_global_id
from app.graphql.pipeline import GraphQLParams
from app.live.brokers import LocalBroker, live_channel
from app.live.hub import LiveHub, TooManySubscriptions
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import Running, running
from tests.test_checkout import _fresh_variants
from tests.test_live import VARIANT_CHANGED, Subscriber, _subscribed

REDIS_URL = "redis://127.0.0.1:6379/0"


class CountedResources:
    """Stands in for an event's database handle and loaders, counting how many are open."""

    open = 0

    def __init__(self) -> None:
        CountedResources.open += 1
        self.db = self.loaders = None

    async def close(self) -> None:
        CountedResources.open -= 1


async def test_a_subscriber_that_does_not_read_keeps_only_the_newest_events_and_they_are_counted():
    registry = CollectorRegistry()
    hub = LiveHub(LocalBroker(), CountedResources, registry=registry, queue_size=4)
    await hub.start()
    try:
        idle = hub.subscribe(["variant:1"])
        for number in range(100):
            hub.publish("variant:1", {"id": 1, "n": number})
        await asyncio.sleep(0.05)  # the publisher task hands them over
        assert [scope.payload["n"] for scope in idle._events] == [96, 97, 98, 99]
        assert registry.get_sample_value("storefront_live_events_dropped_total", {"reason": "slow_subscriber"}) == 96
        await idle.close()
        assert (hub.subscription_count, CountedResources.open) == (0, 0)
    finally:
        await hub.stop()


async def test_the_process_holds_at_most_its_limit_of_subscriptions():
    hub = LiveHub(LocalBroker(), CountedResources, registry=CollectorRegistry(), max_subscriptions=2)
    first, second = hub.subscribe(["a"]), hub.subscribe(["b", "c"])
    with pytest.raises(TooManySubscriptions):
        hub.subscribe(["d"])
    await first.close()
    hub.subscribe(["d"])
    await second.close()


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    folder = tmp_path_factory.mktemp(f"live-limits-{backend}")
    async with seeded_database(backend, folder, products=5, seed=43, stock=100) as url:
        yield url


@pytest.fixture(scope="module")
async def app(shop_url: str) -> AsyncIterator[Running]:
    settings = settings_for(shop_url, secret_key=Secret("m" * 40), redis_url=REDIS_URL)
    async with running(replace(settings, subscriptions_per_process=250)) as started:
        yield started


async def test_a_full_process_refuses_a_subscription_with_a_clear_error(shop_url):
    settings = replace(settings_for(shop_url, secret_key=Secret("m" * 40)), subscriptions_per_process=1)
    async with running(settings) as started:
        [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
        first = Subscriber(started, VARIANT_CHANGED, {"ids": [variant]})
        await _subscribed(started)
        refused = await Subscriber(started, VARIANT_CHANGED, {"ids": [variant]}).next()
        assert refused["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        await first.close()


async def _redis_listeners(app: Running) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        [(_, count)] = await client.pubsub_numsub(live_channel(app.app.state.settings))
        return int(count)
    finally:
        await client.aclose()


def _footprint(app: Running) -> dict[str, Any]:
    """What a leak would grow: memory still allocated, tasks, subscriptions, connections checked out."""
    gc.collect()
    return {
        "bytes": tracemalloc.get_traced_memory()[0],
        "tasks": len(asyncio.all_tasks()),
        "subscriptions": app.app.state.live.subscription_count,
        "connections": app.app.state.engine.pool.checkedout(),
    }


def _same(before: dict[str, Any], after: dict[str, Any], slack: int) -> None:
    assert {k: v for k, v in after.items() if k != "bytes"} == {k: v for k, v in before.items() if k != "bytes"}
    assert after["bytes"] - before["bytes"] < slack, (before, after)


async def _listening(app: Running) -> None:
    for _ in range(200):
        if await _redis_listeners(app) == 1:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the app does not listen on Redis")


async def test_a_thousand_subscriptions_coming_and_going_leave_the_process_as_it_was(app, shop_url):
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
    await _listening(app)
    request = SimpleNamespace(headers={}, cookies={})
    pipeline = app.app.state.pipeline

    async def cycle() -> None:
        results = pipeline.subscribe(GraphQLParams(VARIANT_CHANGED, None, {"ids": [variant]}), request)
        waiting = asyncio.ensure_future(anext(results))
        await _subscribed(app, 1)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await results.aclose()

    for _ in range(50):  # warm up: caches, pools and lazily made objects reach their size
        await cycle()
    tracemalloc.start()
    try:
        before = _footprint(app)
        for _ in range(1000):
            await cycle()
        after = _footprint(app)
    finally:
        tracemalloc.stop()
    _same(before, after, slack=256 * 1024)
    assert await _redis_listeners(app) == 1


async def test_two_hundred_subscribers_that_never_read_hold_no_memory_connection_or_publisher(app, shop_url):
    # given: 200 subscriptions whose readers stop after the first event
    [(_, variant, _, _)] = await _fresh_variants(shop_url, 1)
    _, pk = decode_global_id(variant)
    request = SimpleNamespace(headers={}, cookies={})
    pipeline, hub = app.app.state.pipeline, app.app.state.live
    streams = [
        pipeline.subscribe(GraphQLParams(VARIANT_CHANGED, None, {"ids": [variant]}), request) for _ in range(200)
    ]
    try:
        firsts = [asyncio.ensure_future(anext(stream)) for stream in streams]
        await _subscribed(app, 200)
        hub.publish(f"variant:{pk}", {"id": pk})
        await asyncio.wait_for(asyncio.gather(*firsts), 10)
        tracemalloc.start()
        try:
            before = _footprint(app)
            delivered = _sample(app, "storefront_live_events_delivered_total")
            # when: 500 more events come and nobody reads them
            for _ in range(500):
                hub.publish(f"variant:{pk}", {"id": pk})  # never waits on the subscribers
            await _until_sample(app, "storefront_live_events_delivered_total", delivered + 200 * 500)
            after = _footprint(app)
        finally:
            tracemalloc.stop()
        # then: each holds at most its queue, no connection is held, and the memory is what those queues take
        _same(before, after, slack=2 * 1024 * 1024)
        assert after["connections"] == 0  # a reader that stopped holds no connection
        assert all(len(subscription._events) == 32 for subscription in hub._topics[f"variant:{pk}"])
        assert _sample(app, "storefront_live_events_dropped_total", {"reason": "slow_subscriber"}) >= 200 * (500 - 32)
    finally:
        for stream in streams:
            await stream.aclose()
    assert hub.subscription_count == 0
    assert app.app.state.engine.pool.checkedout() == 0


def _sample(app: Running, name: str, labels: dict[str, str] | None = None) -> float:
    return app.app.state.metrics_registry.get_sample_value(name, labels or {}) or 0.0


async def _until_sample(app: Running, name: str, at_least: float) -> None:
    for _ in range(500):
        if _sample(app, name) >= at_least:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} is {_sample(app, name)}, not {at_least}")
