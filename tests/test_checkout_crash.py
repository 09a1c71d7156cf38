"""Checkout survives a crash: a serving process killed with SIGKILL in the middle of a stream of checkouts
leaves no partial order, no order without its stock decrement and no decrement without its order.

A real `storefront serve` runs on a fresh PostgreSQL database. Guest carts over a few shared variants (some
short of stock, some paid with a declined or a pending card) are checked out concurrently, and the server's
process group is killed once some orders are acknowledged while others are in flight. When PostgreSQL has
ended the killed connections (rolling back their open transactions), queries over all rows check the
invariants. A restarted server then answers the lost checkouts' retries, under their idempotency keys, with
the order each made before the kill or makes it now: one order per key.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.db.ids import encode_global_id
from tests.conftest import seeded_database
from tests.support.serving import ServingProcess, serving

pytestmark = pytest.mark.slow


PRODUCTS, CATALOG_SEED, PLAN_SEED = 12, 31, 5
PLENTIFUL_VARIANTS, PLENTIFUL_STOCK = 7, 500
SCARCE_VARIANTS, SCARCE_STOCK = 3, 4
SCARCE_LINE_CHANCE = 0.3
TOKENS, TOKEN_WEIGHTS = ("tok_visa", "tok_declined", "tok_async"), (8, 1, 1)

CARTS = 120
IN_FLIGHT = 16
# Well below the ~80 orders the stream can make, so IN_FLIGHT more checkouts are always under way at the kill.
KILL_AFTER_ORDERS = 30

BACKENDS_GONE_SECONDS = 15.0
REQUEST_SECONDS = 20.0
REFUSALS = {"OUT_OF_STOCK", "PAYMENT_DECLINED"}  # the expected refusals; each commits nothing

ADDRESS = {
    "firstName": "Grace",
    "lastName": "Hopper",
    "address1": "1 Navy Way",
    "city": "Arlington",
    "zip": "22202",
    "country": "US",
}
CREATE_CART = """mutation($lines: [CartLineInput!]!) {
  cartCreate(input: { lines: $lines }) { cart { id } errors { code } } }"""
CHECKOUT = """mutation($input: CheckoutInput!) {
  checkoutComplete(input: $input) { order { id status } errors { code } } }"""

INITIAL_STOCK = "crash_test_initial_stock"  # a snapshot table, so the stock ledger is one query

# Each query lists the rows that break one invariant: every list must be empty.
INVARIANTS = {
    "orders without lines": """
        SELECT o.id FROM orders o
        WHERE NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)""",
    "orders without status history": """
        SELECT o.id FROM orders o
        WHERE NOT EXISTS (SELECT 1 FROM order_status_changes c WHERE c.order_id = o.id)""",
    "orders whose status is not their latest status change": """
        SELECT o.id, o.status, latest.status AS latest FROM orders o
        JOIN LATERAL (SELECT c.status FROM order_status_changes c WHERE c.order_id = o.id
                      ORDER BY c.id DESC LIMIT 1) latest ON true
        WHERE latest.status <> o.status""",
    "orders whose subtotal is not the sum of their lines": """
        SELECT o.id, o.subtotal, SUM(l.total_price) AS lines FROM orders o
        JOIN order_lines l ON l.order_id = o.id
        GROUP BY o.id, o.subtotal HAVING o.subtotal <> SUM(l.total_price)""",
    "lines whose total is not unit price times quantity": """
        SELECT id, unit_price, quantity, total_price FROM order_lines
        WHERE total_price <> unit_price * quantity""",
    # Cancelled orders gave their stock back; every other order holds what its lines took.
    "variants whose stock taken differs from what their live orders hold": f"""
        SELECT v.id, s.stock_quantity AS initial, v.stock_quantity AS now, COALESCE(held.quantity, 0) AS held
        FROM product_variants v
        FULL JOIN {INITIAL_STOCK} s ON s.variant_id = v.id
        LEFT JOIN (SELECT l.variant_id, SUM(l.quantity) AS quantity FROM order_lines l
                   JOIN orders o ON o.id = l.order_id
                   WHERE o.status <> 'CANCELLED' GROUP BY l.variant_id) held ON held.variant_id = v.id
        WHERE s.stock_quantity - v.stock_quantity IS DISTINCT FROM COALESCE(held.quantity, 0)""",
    "variants with negative stock": "SELECT id, stock_quantity FROM product_variants WHERE stock_quantity < 0",
    "closed carts without exactly one order": """
        SELECT c.id, COUNT(o.id) AS orders FROM carts c LEFT JOIN orders o ON o.cart_id = c.id
        WHERE c.status = 'CLOSED' GROUP BY c.id HAVING COUNT(o.id) <> 1""",
    "orders whose cart is not closed": """
        SELECT o.id, c.status FROM orders o JOIN carts c ON c.id = o.cart_id WHERE c.status <> 'CLOSED'""",
}


@dataclass(frozen=True)
class Shop:
    """A seeded database, a checker engine on it (no pooled connections) and the variants the carts use."""

    url: str
    checker: AsyncEngine
    plentiful: list[str]  # global IDs
    scarce: list[str]

    @property
    def database(self) -> str:
        """The database's name, as pg_stat_activity shows it."""
        return str(make_url(self.url).database)


@dataclass(frozen=True)
class PlannedCheckout:
    """A cart made on the server and the checkout to send for it."""

    cart_id: str
    key: str
    token: str

    def variables(self) -> dict[str, Any]:
        """The checkoutComplete variables."""
        return {
            "input": {
                "cartId": self.cart_id,
                "idempotencyKey": self.key,
                "email": "grace@example.com",
                "shippingAddress": ADDRESS,
                "payment": {"provider": "test", "token": self.token},
            }
        }


@dataclass
class Stream:
    """What the client saw of each checkout, by idempotency key."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # the order's global ID
    refused: dict[str, str] = field(default_factory=dict)  # the payload's error code
    lost: dict[str, str] = field(default_factory=dict)  # sent before the kill, no answer: the transport error
    not_sent: list[str] = field(default_factory=list)  # their turn came after the kill

    def summary(self) -> str:
        """Counts, for assertion messages."""
        return (
            f"{len(self.acknowledged)} acknowledged, "
            f"{len(self.refused)} refused {dict(Counter(self.refused.values()))}, "
            f"{len(self.lost)} lost {dict(Counter(self.lost.values()))}, {len(self.not_sent)} not sent"
        )


@pytest.fixture
async def shop(backend: str, tmp_path: Path) -> AsyncIterator[Shop]:
    """A fresh database of its own, seeded, with the variants in play and every variant's stock recorded."""
    if backend != "postgresql":
        pytest.skip("needs PostgreSQL: the killed server's connections are watched in pg_stat_activity")
    async with seeded_database(backend, tmp_path, products=PRODUCTS, seed=CATALOG_SEED, stock=PLENTIFUL_STOCK) as url:
        checker = create_async_engine(url, poolclass=NullPool)
        try:
            plentiful, scarce = await variants_in_play(checker)
            await snapshot_stock(checker)
            yield Shop(url, checker, plentiful, scarce)
        finally:
            await checker.dispose()


async def variants_in_play(checker: AsyncEngine) -> tuple[list[str], list[str]]:
    """The global IDs of the plentiful and the scarce variants (of products on sale); the scarce ones get
    SCARCE_STOCK, so checkouts contend for them and some run out."""
    async with checker.begin() as connection:
        rows = await connection.execute(
            text(
                "SELECT v.id FROM product_variants v JOIN products p ON p.id = v.product_id"
                " WHERE p.status = 'ACTIVE' ORDER BY v.id LIMIT :count"
            ),
            {"count": PLENTIFUL_VARIANTS + SCARCE_VARIANTS},
        )
        ids = [row.id for row in rows]
        assert len(ids) == PLENTIFUL_VARIANTS + SCARCE_VARIANTS, "the seeded catalog has too few variants on sale"
        scarce = ids[PLENTIFUL_VARIANTS:]
        await connection.execute(
            text("UPDATE product_variants SET stock_quantity = :stock WHERE id = ANY(:ids)"),
            {"stock": SCARCE_STOCK, "ids": scarce},
        )
    as_global = [encode_global_id("ProductVariant", pk) for pk in ids]
    return as_global[:PLENTIFUL_VARIANTS], as_global[PLENTIFUL_VARIANTS:]


async def snapshot_stock(checker: AsyncEngine) -> None:
    """Record every variant's stock before any checkout."""
    async with checker.begin() as connection:
        await connection.execute(
            text(f"CREATE TABLE {INITIAL_STOCK} AS SELECT id AS variant_id, stock_quantity FROM product_variants")
        )


@asynccontextmanager
async def client_of(server: ServingProcess) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the server with a connection for each request in flight."""
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=server.origin, timeout=REQUEST_SECONDS, limits=limits) as client:
        yield client


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """POST an operation that must answer 200 without errors; its `data`."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


async def at_most_in_flight(calls: Iterable[Callable[[], Awaitable[None]]], limit: int = IN_FLIGHT) -> None:
    """Run the calls concurrently, `limit` at a time."""
    gate = asyncio.Semaphore(limit)

    async def gated(call: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(gated(call) for call in calls))


def planned_lines(rng: random.Random, shop: Shop) -> list[dict[str, Any]]:
    """One to three plentiful variants (shared by many carts: row-lock contention), sometimes a scarce one."""
    variants = rng.sample(shop.plentiful, rng.randint(1, 3))
    if rng.random() < SCARCE_LINE_CHANCE:
        variants.append(rng.choice(shop.scarce))
    return [{"merchandiseId": variant, "quantity": rng.randint(1, 3)} for variant in variants]


async def prepare_checkouts(client: httpx.AsyncClient, shop: Shop) -> list[PlannedCheckout]:
    """Make CARTS guest carts on the server, each with a checkout planned (lines and tokens from PLAN_SEED)."""
    rng = random.Random(PLAN_SEED)
    orders = [(planned_lines(rng, shop), rng.choices(TOKENS, TOKEN_WEIGHTS)[0]) for _ in range(CARTS)]
    planned: list[PlannedCheckout | None] = [None] * CARTS

    def make(index: int, lines: list[dict[str, Any]], token: str) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            payload = (await gql(client, CREATE_CART, {"lines": lines}))["cartCreate"]
            assert payload["errors"] == [], payload
            planned[index] = PlannedCheckout(payload["cart"]["id"], uuid.uuid4().hex, token)

        return call

    await at_most_in_flight(make(index, lines, token) for index, (lines, token) in enumerate(orders))
    return [checkout for checkout in planned if checkout is not None]


async def stream_and_kill(
    client: httpx.AsyncClient, checkouts: list[PlannedCheckout], server: ServingProcess
) -> Stream:
    """Send the checkouts IN_FLIGHT at a time; SIGKILL the server as the KILL_AFTER_ORDERS-th order is
    acknowledged. Checkouts whose turn comes after the kill are not sent."""
    stream = Stream()
    killed = False

    def send(checkout: PlannedCheckout) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            nonlocal killed
            if killed:
                stream.not_sent.append(checkout.key)
                return
            try:
                payload = (await gql(client, CHECKOUT, checkout.variables()))["checkoutComplete"]
            except httpx.TransportError as error:
                stream.lost[checkout.key] = type(error).__name__
                return
            if payload["order"] is None:
                stream.refused[checkout.key] = payload["errors"][0]["code"]
                return
            stream.acknowledged[checkout.key] = payload["order"]["id"]
            if len(stream.acknowledged) == KILL_AFTER_ORDERS:
                killed = True
                server.kill()

        return call

    await at_most_in_flight(send(checkout) for checkout in checkouts)
    if not killed:  # every checkout answered first: the assertions on the stream say so
        server.kill()
    server.process.wait(timeout=10)
    return stream


async def wait_until_no_backends(shop: Shop) -> None:
    """Wait until PostgreSQL has ended every connection of the killed server (rolling back its transactions)."""
    deadline = time.monotonic() + BACKENDS_GONE_SECONDS
    while True:
        async with shop.checker.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT pid, state, left(query, 80) AS query FROM pg_stat_activity"
                    " WHERE datname = :database AND pid <> pg_backend_pid()"
                ),
                {"database": shop.database},
            )
            backends = [tuple(row) for row in rows]
        if not backends:
            return
        assert time.monotonic() < deadline, f"backends of the killed server remain: {backends}"
        await asyncio.sleep(0.1)


async def violations(checker: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """The rows breaking each invariant, for the invariants some row breaks."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with checker.connect() as connection:
        for name, query in INVARIANTS.items():
            rows = [tuple(row) for row in await connection.execute(text(query))]
            if rows:
                found[name] = rows
    return found


async def orders_by_key(checker: AsyncEngine) -> dict[str, str]:
    """Every order's global ID by its idempotency key."""
    async with checker.connect() as connection:
        rows = await connection.execute(text("SELECT idempotency_key, id FROM orders"))
        return {row.idempotency_key: encode_global_id("Order", row.id) for row in rows}


async def retry(client: httpx.AsyncClient, checkouts: list[PlannedCheckout]) -> dict[str, dict[str, Any]]:
    """Send the checkouts again, same carts and keys; each checkoutComplete payload by key."""
    answers: dict[str, dict[str, Any]] = {}

    def send(checkout: PlannedCheckout) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            answers[checkout.key] = (await gql(client, CHECKOUT, checkout.variables()))["checkoutComplete"]

        return call

    await at_most_in_flight(send(checkout) for checkout in checkouts)
    return answers


def retry_summary(answers: dict[str, dict[str, Any]], before: dict[str, str]) -> str:
    """How the retries were answered, for the test's output."""

    def kind(key: str, payload: dict[str, Any]) -> str:
        if key in before:
            return "committed before the kill"
        return "made now" if payload["order"] else str(payload["errors"][0]["code"])

    kinds = Counter(kind(key, payload) for key, payload in answers.items())
    return ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))


def assert_the_stream_saw_what_was_committed(stream: Stream, committed: dict[str, str]) -> None:
    """Every acknowledged order is there, as acknowledged; no refused checkout left an order."""
    missing = {key: order for key, order in stream.acknowledged.items() if committed.get(key) != order}
    assert missing == {}, f"acknowledged orders not committed: {missing}"
    assert set(stream.refused.values()) <= REFUSALS, stream.refused
    assert [key for key in stream.refused if key in committed] == []


def assert_the_kill_landed_mid_stream(server: ServingProcess, stream: Stream) -> None:
    """The server died of SIGKILL after some orders were acknowledged and before others were answered."""
    assert server.process.returncode == -signal.SIGKILL, f"exit code {server.process.returncode}"
    assert len(stream.acknowledged) >= KILL_AFTER_ORDERS, stream.summary()
    assert stream.lost, f"no request was in flight at the kill: {stream.summary()}"


def assert_retries_made_one_order_per_key(
    answers: dict[str, dict[str, Any]], before: dict[str, str], after: dict[str, str]
) -> None:
    """A retry answers with the order its key committed before the kill, or makes it now, or is refused
    and commits nothing; no other order appears, none disappears."""
    for key, payload in answers.items():
        order = payload["order"]
        if key in before:
            assert order is not None and order["id"] == before[key], (key, payload)
        if order is None:
            assert payload["errors"][0]["code"] in REFUSALS and key not in after, (key, payload)
        else:
            assert after.get(key) == order["id"], (key, payload)
    made_now = {key for key, payload in answers.items() if payload["order"] is not None and key not in before}
    assert set(after) - set(before) == made_now
    assert {key: after.get(key) for key in before} == before


async def test_a_server_killed_mid_stream_of_checkouts_leaves_whole_orders_and_matching_stock(shop, tmp_path):
    # given: a server and guest carts over a few shared variants
    async with serving(shop.url, tmp_path / "killed.log") as server, client_of(server) as client:
        checkouts = await prepare_checkouts(client, shop)
        # when: it is killed once some orders are acknowledged, with others in flight
        stream = await stream_and_kill(client, checkouts, server)
    await wait_until_no_backends(shop)
    # then
    print(f"\ncheckout stream at the kill: {stream.summary()}")
    assert await violations(shop.checker) == {}
    committed = await orders_by_key(shop.checker)
    assert_the_stream_saw_what_was_committed(stream, committed)
    assert_the_kill_landed_mid_stream(server, stream)
    # and: a restarted server answers the lost checkouts' retries with one order per key
    by_key = {checkout.key: checkout for checkout in checkouts}
    async with serving(shop.url, tmp_path / "restarted.log") as restarted, client_of(restarted) as client:
        answers = await retry(client, [by_key[key] for key in stream.lost])
    after = await orders_by_key(shop.checker)
    print(f"retries of the lost checkouts: {retry_summary(answers, committed)}")
    assert_retries_made_one_order_per_key(answers, committed, after)
    assert await violations(shop.checker) == {}
