"""Payment webhooks and the sweeper of unpaid orders: signed, fresh events applied once whatever their
order or number of deliveries; unpaid orders cancelled past the timeout with their stock returned once,
also by two instances sweeping at the same time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
import pytest
from sqlalchemy import select, update

from app.db.ids import decode_global_id
from app.orders.models import Order
from app.orders.payments import sign_test_event
from app.settings import Secret
from tests.conftest import seeded_database, settings_for
from tests.support.accounts import Client, Running, running
from tests.test_accounts import _rows, _run
from tests.test_checkout import CHECKOUT, _cart, _checkout, _fresh_variants, _stock

SECRET = "whsec_for_tests"


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated catalog with stock everywhere, for this module's orders."""
    folder = tmp_path_factory.mktemp(f"payments-{backend}")
    async with seeded_database(backend, folder, products=20, seed=17, stock=1000) as url:
        yield url


@pytest.fixture(scope="module")
async def app(shop_url: str) -> AsyncIterator[Running]:
    settings = settings_for(shop_url, secret_key=Secret("p" * 40), payment_webhook_secret=Secret(SECRET))
    async with running(settings) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


async def _pending_order(client: Client, url: str, stock: int = 10, quantity: int = 2) -> tuple[dict, int, str]:
    [(pk, variant, _, _)] = await _fresh_variants(url, 1, stock=stock)
    cart = await _cart(client, [(variant, quantity)])
    key = uuid.uuid4().hex
    order = (await client.gql(CHECKOUT, _checkout(cart["id"], key, token="tok_async")))["data"]["checkoutComplete"][
        "order"
    ]
    assert order["status"] == "PAYMENT_PENDING"
    [row] = await _rows(url, select(Order.payment_reference).where(Order.idempotency_key == key))
    return order, pk, row.payment_reference


async def _deliver(
    client: Client,
    kind: str,
    reference: str,
    event_id: str | None = None,
    at: float | None = None,
    secret: str = SECRET,
):
    body = orjson.dumps(
        {"id": event_id or f"evt_{uuid.uuid4().hex}", "type": f"payment.{kind}", "data": {"reference": reference}}
    )
    headers = {"content-type": "application/json", "x-storefront-signature": sign_test_event(body, secret, at)}
    return await client.http.post("/webhooks/payments/test", content=body, headers=headers)


async def _status(url: str, order_id: str) -> str:
    _, pk = decode_global_id(order_id, "Order")
    return (await _rows(url, select(Order.status).where(Order.id == pk)))[0].status


async def test_a_succeeded_event_pays_the_order_once(client, shop_url):
    order, _, reference = await _pending_order(client, shop_url)
    first = await _deliver(client, "succeeded", reference, "evt_paid_" + reference)
    again = await _deliver(client, "succeeded", reference, "evt_paid_" + reference)
    assert (first.status_code, first.json()) == (200, {"received": True, "outcome": "applied"})
    assert again.json() == {"received": True, "outcome": "duplicate"}
    assert await _status(shop_url, order["id"]) == "PAID"


async def test_a_failed_event_cancels_and_returns_stock_once_and_late_events_change_nothing(client, shop_url):
    order, pk, reference = await _pending_order(client, shop_url, stock=10, quantity=3)
    assert await _stock(shop_url, pk) == 7
    failed = await _deliver(client, "failed", reference)
    assert failed.json()["outcome"] == "applied"
    assert (await _status(shop_url, order["id"]), await _stock(shop_url, pk)) == ("CANCELLED", 10)
    # another failure event, and a success delivered out of order, leave it as it is
    assert (await _deliver(client, "failed", reference)).json()["outcome"] == "ignored"
    assert (await _deliver(client, "succeeded", reference)).json()["outcome"] == "ignored"
    assert (await _status(shop_url, order["id"]), await _stock(shop_url, pk)) == ("CANCELLED", 10)


async def test_a_failure_after_payment_does_not_cancel(client, shop_url):
    order, pk, reference = await _pending_order(client, shop_url, stock=10, quantity=1)
    await _deliver(client, "succeeded", reference)
    assert (await _deliver(client, "failed", reference)).json()["outcome"] == "ignored"
    assert (await _status(shop_url, order["id"]), await _stock(shop_url, pk)) == ("PAID", 9)


@pytest.mark.parametrize(
    ("case", "status"),
    [("bad signature", 400), ("old", 400), ("future", 400), ("no header", 400), ("not an event", 400)],
)
async def test_events_that_are_not_genuine_and_fresh_are_refused_and_change_nothing(client, shop_url, case, status):
    order, pk, reference = await _pending_order(client, shop_url)
    if case == "bad signature":
        response = await _deliver(client, "failed", reference, secret="someone else's secret")
    elif case == "old":
        response = await _deliver(client, "failed", reference, at=time.time() - 301)
    elif case == "future":
        response = await _deliver(client, "failed", reference, at=time.time() + 301)
    elif case == "no header":
        response = await client.http.post("/webhooks/payments/test", content=b"{}")
    else:
        body = b"not json"
        response = await client.http.post(
            "/webhooks/payments/test", content=body, headers={"x-storefront-signature": sign_test_event(body, SECRET)}
        )
    assert response.status_code == status
    assert (await _status(shop_url, order["id"]), await _stock(shop_url, pk)) == ("PAYMENT_PENDING", 8)


async def test_an_unknown_provider_is_404_and_an_unknown_payment_is_recorded_only(client):
    assert (await client.http.post("/webhooks/payments/paypal", content=b"{}")).status_code == 404
    assert (await _deliver(client, "succeeded", "test_no_such_payment")).json()["outcome"] == "unknown"


async def test_concurrent_deliveries_of_one_event_apply_it_once(client, shop_url):
    _, pk, reference = await _pending_order(client, shop_url, stock=10, quantity=2)
    answers = await asyncio.gather(*(_deliver(client, "failed", reference, "evt_dup_" + reference) for _ in range(8)))
    assert sorted(answer.json()["outcome"] for answer in answers) == ["applied"] + ["duplicate"] * 7
    assert await _stock(shop_url, pk) == 10


async def test_two_instances_sweep_unpaid_orders_and_return_stock_once(shop_url):
    # given: pending orders made under a one-second payment timeout, and two instances sweeping often
    base = settings_for(shop_url, secret_key=Secret("p" * 40))
    settings = replace(base, payment_timeout_seconds=1, sweep_interval_seconds=0.2)
    async with running(replace(base, sweep_interval_seconds=3600)) as maker:
        client = maker.client()
        made = [await _pending_order(client, shop_url, stock=5, quantity=2) for _ in range(3)]
        await client.aclose()
    # when
    async with running(settings), running(settings):
        for _ in range(50):
            statuses = [await _status(shop_url, order["id"]) for order, _, _ in made]
            if statuses == ["CANCELLED"] * 3:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # more sweeps: nothing is returned twice
    # then
    assert statuses == ["CANCELLED"] * 3
    assert [await _stock(shop_url, pk) for _, pk, _ in made] == [5, 5, 5]


async def test_orders_within_the_timeout_are_left_alone(shop_url):
    base = settings_for(shop_url, secret_key=Secret("p" * 40))
    async with running(replace(base, payment_timeout_seconds=3600, sweep_interval_seconds=0.1)) as started:
        client = started.client()
        order, pk, _ = await _pending_order(client, shop_url, stock=5, quantity=1)
        await asyncio.sleep(0.5)
        await client.aclose()
    assert (await _status(shop_url, order["id"]), await _stock(shop_url, pk)) == ("PAYMENT_PENDING", 4)
    await _run(shop_url, update(Order.__table__).where(Order.status == "PAYMENT_PENDING").values(status="CANCELLED"))
