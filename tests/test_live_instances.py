"""Live updates across instances: two `storefront serve` processes share PostgreSQL and a Redis server of this
test's own. A subscriber connected to the first (Python's `websockets`, npm's `graphql-ws`, or SSE) receives
the change a mutation makes through the second; when Redis goes away and comes back, delivery resumes."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from sqlalchemy import update

from app.accounts.models import Customer
from tests.conftest import seeded_database
from tests.support.accounts import CREATE, LOGIN, PASSWORD
from tests.support.serving import ROOT, ServingProcess, free_port, serving
from tests.support.subscriptions import initialised, receive, send, socket_to, sse_events
from tests.test_accounts import _run
from tests.test_checkout import ADDRESS, CREATE_CART, _fresh_variants

pytestmark = pytest.mark.slow

ORDER_CHANGED = "subscription($id: ID!) { orderStatusChanged(orderId: $id) { id status } }"
STATUS = """mutation($id: ID!, $status: OrderStatus!) {
  orderUpdateStatus(id: $id, status: $status) { errors { code } } }"""
CHECKOUT = """mutation($input: CheckoutInput!) { checkoutComplete(input: $input) { order { id } errors { code } } }"""
NODE_CLIENT = ROOT / "tools" / "http-audit" / "subscribe.mjs"
WAIT = 10.0


@dataclass
class Shop:
    """Two instances on one database and one Redis, a staff token and a customer's order."""

    url: str
    first: ServingProcess
    second: ServingProcess
    redis: RedisServer
    staff: str
    owner: str
    order: str


class RedisServer:
    """A redis-server of the test's own, so stopping it disturbs nothing else."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL, for REDIS_URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (again) on its port."""
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*command, "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> None:
        """Stop it, as an outage would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    async def wait_until_up(self) -> None:
        """Until it answers PING."""
        client = redis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    return
                except redis.ConnectionError:
                    await asyncio.sleep(0.05)
            raise AssertionError("redis-server did not start")
        finally:
            await client.aclose()

    async def listeners(self) -> int:
        """How many connections listen on live-update channels (one per serving process)."""
        client = redis.Redis.from_url(self.url)
        try:
            channels = await client.pubsub_channels("storefront:live:*")
            counts = await client.pubsub_numsub(*channels) if channels else []
            return sum(count for _, count in counts)
        finally:
            await client.aclose()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def shop(backend: str, tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Shop]:
    if backend != "postgresql":
        pytest.skip("instances share PostgreSQL in production; SQLite is one process's database")
    await redis_server.wait_until_up()
    async with seeded_database(backend, tmp_path, products=6, seed=41, stock=100) as url:
        env = {"REDIS_URL": redis_server.url}
        async with (
            serving(url, tmp_path / "first.log", **env) as first,
            serving(url, tmp_path / "second.log", **env) as second,
        ):
            await _until(lambda: redis_server.listeners(), 2)
            async with httpx.AsyncClient(base_url=second.origin, timeout=WAIT) as client:
                staff = await _signed_in(client, url, staff=True)
                owner = await _signed_in(client, url)
                order = await _order(client, url, owner)
            yield Shop(url, first, second, redis_server, staff, owner, order)


async def _gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def _signed_in(client: httpx.AsyncClient, url: str, *, staff: bool = False) -> str:
    email = f"live.{uuid.uuid4().hex[:10]}@example.com"
    await _gql(client, CREATE, {"input": {"email": email, "password": PASSWORD, "displayName": "Live"}})
    if staff:
        await _run(url, update(Customer.__table__).where(Customer.email == email).values(role="STAFF"))
    login = await _gql(client, LOGIN, {"email": email, "password": PASSWORD, "useCookie": False})
    return str(login["customerLogin"]["accessToken"])


async def _order(client: httpx.AsyncClient, url: str, token: str) -> str:
    [(_, variant, _, _)] = await _fresh_variants(url, 1, stock=100)
    cart = await _gql(client, CREATE_CART, {"lines": [{"merchandiseId": variant, "quantity": 1}]}, token)
    payment = {"provider": "test", "token": "tok_visa"}
    checkout = {"cartId": cart["cartCreate"]["cart"]["id"], "idempotencyKey": uuid.uuid4().hex}
    checkout |= {"shippingAddress": ADDRESS, "payment": payment}
    done = await _gql(client, CHECKOUT, {"input": checkout}, token)
    assert done["checkoutComplete"]["errors"] == []
    return str(done["checkoutComplete"]["order"]["id"])


async def _until(probe: Any, expected: int) -> None:
    for _ in range(200):
        if await probe() == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{await probe()} rather than {expected}")


async def _subscriptions(server: ServingProcess) -> int:
    """The server's open subscriptions, from its /metrics."""
    async with httpx.AsyncClient(base_url=server.origin) as client:
        text = (await client.get("/metrics")).text
    lines = [line for line in text.splitlines() if line.startswith("storefront_live_subscriptions ")]
    return int(float(lines[0].split()[1])) if lines else 0


async def _move(shop: Shop, status: str) -> None:
    """Staff change the order's status through the second instance."""
    async with httpx.AsyncClient(base_url=shop.second.origin, timeout=WAIT) as client:
        moved = await _gql(client, STATUS, {"id": shop.order, "status": status}, shop.staff)
    assert moved["orderUpdateStatus"]["errors"] == []


@asynccontextmanager
async def _websocket_subscriber(shop: Shop, token: str) -> AsyncIterator[Any]:
    url = shop.first.origin.replace("http://", "ws://") + "/graphql"
    async with socket_to(url) as websocket:
        await initialised(websocket, {"authorization": f"Bearer {token}"})
        payload = {"query": ORDER_CHANGED, "variables": {"id": shop.order}}
        await send(websocket, {"id": "1", "type": "subscribe", "payload": payload})
        yield websocket


async def test_a_websocket_subscriber_on_one_instance_hears_a_change_made_on_the_other(shop):
    async with _websocket_subscriber(shop, shop.owner) as websocket:
        await _until(lambda: _subscriptions(shop.first), 1)
        await _move(shop, "FULFILLED")
        message = await receive(websocket)
        assert message["type"] == "next" and message["id"] == "1"
        assert message["payload"]["data"]["orderStatusChanged"] == {"id": shop.order, "status": "FULFILLED"}
    await _until(lambda: _subscriptions(shop.first), 0)


async def test_another_customer_is_refused_at_subscribe_time(shop):
    async with httpx.AsyncClient(base_url=shop.second.origin, timeout=WAIT) as client:
        stranger = await _signed_in(client, shop.url)
    async with _websocket_subscriber(shop, stranger) as websocket:
        message = await receive(websocket)
    assert message["type"] == "error"
    assert [error["extensions"]["code"] for error in message["payload"]] == ["FORBIDDEN"]


async def test_an_sse_subscriber_on_one_instance_hears_a_change_made_on_the_other(shop):
    body = {"query": ORDER_CHANGED, "variables": {"id": shop.order}}
    headers = {"accept": "text/event-stream", "authorization": f"Bearer {shop.owner}"}
    async with (
        httpx.AsyncClient(base_url=shop.first.origin, timeout=WAIT) as client,
        client.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        events = sse_events(response)
        await _until(lambda: _subscriptions(shop.first), 1)
        await _move(shop, "FULFILLED")
        first = await asyncio.wait_for(anext(data async for event, data in events if event == "next"), WAIT)
    assert json.loads(first)["data"]["orderStatusChanged"]["status"] == "FULFILLED"


async def test_the_npm_graphql_ws_client_hears_a_change_made_on_the_other_instance(shop):
    if shutil.which("node") is None or not (NODE_CLIENT.parent / "node_modules" / "graphql-ws").is_dir():
        pytest.skip("needs Node and tools/http-audit/node_modules (npm ci there)")
    url = shop.first.origin.replace("http://", "ws://") + "/graphql"
    variables = json.dumps({"id": shop.order})
    node = await asyncio.create_subprocess_exec(
        "node", str(NODE_CLIENT), url, shop.owner, ORDER_CHANGED, variables, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert node.stdout is not None
        assert json.loads(await asyncio.wait_for(node.stdout.readline(), WAIT)) == {"ready": True}
        await _until(lambda: _subscriptions(shop.first), 1)
        await _move(shop, "FULFILLED")
        line = json.loads(await asyncio.wait_for(node.stdout.readline(), WAIT))
    finally:
        node.kill()
        await node.wait()
    assert line == {"next": {"data": {"orderStatusChanged": {"id": shop.order, "status": "FULFILLED"}}}}


async def test_delivery_resumes_when_redis_comes_back(shop):
    async with _websocket_subscriber(shop, shop.owner) as websocket:
        await _until(lambda: _subscriptions(shop.first), 1)
        # when: Redis goes away, a change is made, and Redis comes back
        shop.redis.stop()
        await _move(shop, "FULFILLED")  # published nowhere but in the second instance: the mutation still works
        shop.redis.start()
        await shop.redis.wait_until_up()
        await _until(lambda: shop.redis.listeners(), 2)
        await _move(shop, "DELIVERED")
        # then: the subscriber stayed connected and hears the change made after Redis returned
        message = await receive(websocket)
    assert message["payload"]["data"]["orderStatusChanged"]["status"] == "DELIVERED"
