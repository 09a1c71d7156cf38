"""The limit: a bare Starlette app answering each workload with hand-written SQL serialised by orjson.

It returns exactly the JSON the GraphQL server returns for the benchmark's requests (the benchmark checks
the bodies are equal), so the gap between the two is what GraphQL execution, the loaders and SQLAlchemy
cost. One endpoint per workload (POST /w1, /w2, /w3, /w4; the body is the same GraphQL request, of which
only the variables are read), GET /healthz. PostgreSQL through an asyncpg pool of 10 connections per
process, SQLite through up to 10 aiosqlite connections per process; one connection per request, like the app.

It imports nothing of the app (that would add some 30 MB to every limit process, and to its peak RSS), so
the little W4 shares with it is written here again: the cart's limits, checked against `app.cart.sql` by
the benchmark (`check_cart_limits`), and the decoding of IDs, which the gate exercises on every check.

Run: LIMIT_DATABASE_URL=... uvicorn bench.limit_server:create_app --factory --workers N
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["MAX_LINES", "MAX_QUANTITY", "Database", "create_app"]

POOL_SIZE = 10
CURRENCY = "USD"
CENT = Decimal("0.01")
# The app's SQLite connection settings (app.db.database._sqlite_pragmas): W4 writes, and foreign keys and
# synchronous=NORMAL change what a write costs.
SQLITE_PRAGMAS = ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000")


# --- Database access: one statement = one fetch, `?` placeholders, `{ids}` for a list of ids ------------


class Database:
    """A minimal pool over asyncpg or aiosqlite; counts the statements it runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.statements = 0
        self._rendered: dict[tuple[str, int], str] = {}
        self._pool: Any = None
        self._idle: asyncio.Queue[Any] | None = None
        self._opened = 0

    async def open(self) -> None:
        if self.is_sqlite:
            self._idle = asyncio.Queue()
        else:
            import asyncpg

            dsn = "postgresql://" + self.url.split("://", 1)[1]
            self._pool = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_SIZE)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._idle is not None:
            while not self._idle.empty():
                await self._idle.get_nowait().close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """One connection for the whole request."""
        if not self.is_sqlite:
            async with self._pool.acquire() as raw:
                yield Connection(self, raw)
            return
        raw = await self._sqlite_checkout()
        try:
            yield Connection(self, raw)
        finally:
            self._idle.put_nowait(raw)  # type: ignore[union-attr]

    async def _sqlite_checkout(self) -> Any:
        assert self._idle is not None
        if self._idle.empty() and self._opened < POOL_SIZE:
            import aiosqlite

            self._opened += 1
            path = self.url.split(":///", 1)[1]
            raw = await aiosqlite.connect(path)
            for pragma in SQLITE_PRAGMAS:
                await raw.execute(f"PRAGMA {pragma}")
            return raw
        return await self._idle.get()

    def render(self, template: str, id_count: int) -> str:
        """The statement in the driver's placeholder style, with `{ids}` expanded."""
        key = (template, id_count)
        found = self._rendered.get(key)
        if found is not None:
            return found
        if self.is_sqlite:
            statement = template.replace("{ids}", "IN (" + ", ".join("?" * id_count) + ")")
        else:
            statement = template.replace("{ids}", "= ANY(?)")
            parts = statement.split("?")
            statement = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))
        self._rendered[key] = statement
        return statement

    def money(self, amount: Any) -> str | None:
        """A stored price as GraphQL's Decimal renders it: always two places."""
        if amount is None:
            return None
        return str(amount) if isinstance(amount, Decimal) else f"{amount:.2f}"

    def price_param(self, value: str) -> Any:
        return float(value) if self.is_sqlite else Decimal(value)

    def decimal(self, amount: Any) -> Decimal:
        """A stored price as an exact Decimal (SQLite returns a float)."""
        return amount if isinstance(amount, Decimal) else Decimal(f"{amount:.2f}")

    def now(self) -> Any:
        """The current UTC time as a timestamp parameter: SQLite keeps the text SQLAlchemy writes."""
        now = datetime.now(UTC)
        return now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.is_sqlite else now

    @property
    def for_update(self) -> str:
        """The clause that locks the rows read (SQLite has none: BEGIN IMMEDIATE locks the database)."""
        return "" if self.is_sqlite else " FOR UPDATE"

    def timestamp(self, value: Any) -> str:
        if isinstance(value, str):  # SQLite keeps UTC timestamps as text without an offset
            value = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value.isoformat()


class Connection:
    def __init__(self, database: Database, raw: Any) -> None:
        self.database = database
        self.raw = raw

    async def fetch(self, template: str, *args: Any, ids: Sequence[int] | None = None) -> Sequence[Any]:
        database = self.database
        database.statements += 1
        statement = database.render(template, len(ids) if ids is not None else 0)
        if ids is not None:
            args = (*args, *ids) if database.is_sqlite else (*args, list(ids))
        if database.is_sqlite:
            return await self.raw.execute_fetchall(statement, args)  # type: ignore[no-any-return]
        return await self.raw.fetch(statement, *args)  # type: ignore[no-any-return]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises; each a statement, as the app counts them. On
        SQLite BEGIN IMMEDIATE, as the app: the write lock from the start."""
        await self._control("BEGIN IMMEDIATE" if self.database.is_sqlite else "BEGIN")
        try:
            yield
        except BaseException:
            await self._control("ROLLBACK")
            raise
        await self._control("COMMIT")

    async def _control(self, statement: str) -> None:
        self.database.statements += 1
        await self.raw.execute(statement)


# --- Shared pieces of the responses --------------------------------------------------------------------


def global_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def carried_by(id: Any, type_name: str) -> str | None:
    """What a global ID of this type carries (a primary key, a cart's token); None for anything else."""
    if not isinstance(id, str) or not id or len(id) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(id + "=" * (-len(id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    found, _, value = raw.partition(":")
    return value if found == type_name and value else None


def pk_in(id: Any, type_name: str) -> int | None:
    """The primary key a global ID of this type names; None for anything else."""
    value = carried_by(id, type_name)
    return int(value) if value is not None and value.isdigit() and 1 <= int(value) < 2**31 else None


def money(database: Database, amount: Any) -> dict[str, str] | None:
    text = database.money(amount)
    return None if text is None else {"amount": text, "currencyCode": CURRENCY}


def rating(average: Any, count: int) -> dict[str, Any]:
    return {"average": None if not count else round(float(average), 2), "count": count}


def sized(url: str, width: int) -> str:
    return url + ("&" if "?" in url else "?") + f"width={width}"


def json_list(value: Any) -> list[Any]:
    return orjson.loads(value) if isinstance(value, str | bytes) else list(value)


# --- W1 listing ----------------------------------------------------------------------------------------

W1_PRODUCTS = (
    "SELECT p.id, p.title, c.name FROM products p LEFT JOIN categories c ON c.id = p.category_id "
    "WHERE p.status = 'ACTIVE' ORDER BY p.id LIMIT 100"
)
W1_VARIANTS = (
    "SELECT product_id, sku, price, stock_quantity FROM product_variants "
    "WHERE product_id {ids} ORDER BY product_id, position, id"
)


async def listing(connection: Connection, _variables: dict[str, Any]) -> dict[str, Any]:
    database = connection.database
    products = await connection.fetch(W1_PRODUCTS)
    variants: dict[int, list[dict[str, Any]]] = {row[0]: [] for row in products}
    for product_id, sku, price, stock in await connection.fetch(W1_VARIANTS, ids=list(variants)):
        variants[product_id].append({"sku": sku, "price": money(database, price), "quantityAvailable": stock})
    nodes = [
        {
            "id": global_id("Product", product_id),
            "title": title,
            "category": None if category is None else {"name": category},
            "variants": variants[product_id],
        }
        for product_id, title, category in products
    ]
    return {"products": {"nodes": nodes}}


# --- W2 product page -----------------------------------------------------------------------------------

W2_PRODUCT = (
    "SELECT p.id, p.slug, p.title, p.description, p.vendor, p.tags, p.category_id, c.name, c.slug, "
    "(SELECT avg(r.rating) FROM reviews r WHERE r.product_id = p.id), "
    "(SELECT count(*) FROM reviews r WHERE r.product_id = p.id) "
    "FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.slug = ? AND p.status = 'ACTIVE'"
)
W2_VARIANTS = (
    "SELECT id, sku, title, selected_options, price, compare_at_price, stock_quantity FROM product_variants "
    "WHERE product_id = ? ORDER BY position, id"
)
W2_IMAGES = (
    "SELECT id, url, alt_text, width, height FROM product_images WHERE product_id = ? ORDER BY position, id LIMIT 10"
)
W2_REVIEWS = (
    "SELECT r.id, r.rating, r.title, r.body, r.created_at, c.display_name FROM reviews r "
    "JOIN customers c ON c.id = r.customer_id WHERE r.product_id = ? "
    "ORDER BY r.created_at DESC, r.id DESC LIMIT 11"
)
FEATURED_IMAGE = (
    "(SELECT i.url FROM product_images i WHERE i.product_id = p.id ORDER BY i.position, i.id LIMIT 1), "
    "(SELECT i.alt_text FROM product_images i WHERE i.product_id = p.id ORDER BY i.position, i.id LIMIT 1)"
)
W2_RELATED = (
    "WITH RECURSIVE tree(id) AS (SELECT CAST(? AS INTEGER) UNION ALL "
    "SELECT c.id FROM categories c JOIN tree ON c.parent_id = tree.id) "
    "SELECT p.id, p.slug, p.title, "
    "(SELECT min(v.price) FROM product_variants v WHERE v.product_id = p.id), " + FEATURED_IMAGE + " "
    "FROM (SELECT id, slug, title FROM products WHERE status = 'ACTIVE' AND category_id IN (SELECT id FROM tree) "
    "ORDER BY id LIMIT 8) p ORDER BY p.id"
)


async def product_page(connection: Connection, variables: dict[str, Any]) -> dict[str, Any] | None:
    database = connection.database
    found = await connection.fetch(W2_PRODUCT, variables["slug"])
    if not found:
        return None
    product_id, slug, title, description, vendor, tags, category_id, category_name, category_slug, avg, count = found[0]
    variant_rows = await connection.fetch(W2_VARIANTS, product_id)
    image_rows = await connection.fetch(W2_IMAGES, product_id)
    review_rows = await connection.fetch(W2_REVIEWS, product_id)
    prices = [row[4] for row in variant_rows]
    variants = [
        {
            "id": global_id("ProductVariant", variant_id),
            "sku": sku,
            "title": variant_title,
            "selectedOptions": [{"name": o["name"], "value": o["value"]} for o in json_list(options)],
            "price": money(database, price),
            "compareAtPrice": money(database, compare_at),
            "quantityAvailable": stock,
            "availableForSale": stock > 0,
        }
        for variant_id, sku, variant_title, options, price, compare_at, stock in variant_rows
    ]
    category = None
    if category_id is not None:
        related = await connection.fetch(W2_RELATED, category_id)
        category = {
            "id": global_id("Category", category_id),
            "name": category_name,
            "slug": category_slug,
            "products": {"nodes": [_card(database, row) for row in related]},
        }
    return {
        "product": {
            "id": global_id("Product", product_id),
            "slug": slug,
            "title": title,
            "description": description,
            "vendor": vendor,
            "tags": json_list(tags),
            "availableForSale": any(row[6] > 0 for row in variant_rows),
            "priceRange": None
            if not prices
            else {"minVariantPrice": money(database, min(prices)), "maxVariantPrice": money(database, max(prices))},
            "rating": rating(avg, count),
            "variants": variants,
            "images": [
                {
                    "id": global_id("Image", image_id),
                    "url": sized(url, 1200),
                    "altText": alt,
                    "width": width,
                    "height": height,
                }
                for image_id, url, alt, width, height in image_rows
            ],
            "reviews": {
                "nodes": [
                    {
                        "id": global_id("Review", review_id),
                        "rating": stars,
                        "title": review_title,
                        "body": body,
                        "createdAt": database.timestamp(created_at),
                        "author": {"displayName": author},
                    }
                    for review_id, stars, review_title, body, created_at, author in review_rows[:10]
                ],
                "pageInfo": {"hasNextPage": len(review_rows) > 10},
            },
            "category": category,
        }
    }


def _card(database: Database, row: Sequence[Any]) -> dict[str, Any]:
    product_id, slug, title, min_price, image_url, image_alt = row
    return {
        "id": global_id("Product", product_id),
        "slug": slug,
        "title": title,
        "priceRange": None if min_price is None else {"minVariantPrice": money(database, min_price)},
        "featuredImage": None if image_url is None else {"url": sized(image_url, 400), "altText": image_alt},
    }


# --- W3 search -----------------------------------------------------------------------------------------

W3_SEARCH = (
    "SELECT p.id, p.slug, p.title, p.vendor, "
    "(SELECT min(v.price) FROM product_variants v WHERE v.product_id = p.id), "
    "(SELECT max(v.price) FROM product_variants v WHERE v.product_id = p.id), " + FEATURED_IMAGE + ", "
    "(SELECT avg(r.rating) FROM reviews r WHERE r.product_id = p.id), "
    "(SELECT count(*) FROM reviews r WHERE r.product_id = p.id) "
    "FROM (SELECT id, slug, title, vendor, min_price FROM products WHERE status = 'ACTIVE'{words} "
    "AND EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = products.id AND v.price >= ? "
    "AND v.price <= ?) ORDER BY min_price, id LIMIT 24) p ORDER BY p.min_price, p.id"
)
WORD = " AND (lower(title) LIKE ? ESCAPE '/' OR lower(description) LIKE ? ESCAPE '/')"


async def search(connection: Connection, variables: dict[str, Any]) -> dict[str, Any]:
    database = connection.database
    words = variables["query"].split()
    args: list[Any] = []
    for word in words:
        pattern = "%" + word.lower().replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        args += [pattern, pattern]
    statement = W3_SEARCH.replace("{words}", WORD * len(words))
    args += [database.price_param(variables["min"]), database.price_param(variables["max"])]
    nodes = []
    for product_id, slug, title, vendor, low, high, image_url, image_alt, avg, count in await connection.fetch(
        statement, *args
    ):
        nodes.append(
            {
                "id": global_id("Product", product_id),
                "slug": slug,
                "title": title,
                "vendor": vendor,
                "priceRange": None
                if low is None
                else {"minVariantPrice": money(database, low), "maxVariantPrice": money(database, high)},
                "featuredImage": None if image_url is None else {"url": sized(image_url, 400), "altText": image_alt},
                "rating": rating(avg, count),
            }
        )
    return {"products": {"nodes": nodes}}


# --- W4 cartLinesAdd on a fresh cart ----------------------------------------------------------------------

MAX_LINES = 100  # app.cart.sql.MAX_LINES
MAX_QUANTITY = 99  # app.cart.sql.MAX_QUANTITY

W4_LOCK_CART = "SELECT id, status, customer_id FROM carts WHERE token = ?"
W4_CART_STATE = (
    "SELECT EXISTS (SELECT 1 FROM product_variants v JOIN products p ON p.id = v.product_id "
    "WHERE v.id = ? AND p.status = 'ACTIVE'), "
    "(SELECT count(*) FROM cart_lines WHERE cart_id = ?), "
    "(SELECT quantity FROM cart_lines WHERE cart_id = ? AND variant_id = ?)"
)
W4_PUT_LINE = (
    "INSERT INTO cart_lines (cart_id, variant_id, quantity, created_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity"
)
W4_TOUCH_CART = "UPDATE carts SET updated_at = ? WHERE id = ?"
W4_LINES = (
    "SELECT l.id, l.quantity, v.sku, v.price, p.status = 'ACTIVE', v.stock_quantity FROM cart_lines l "
    "JOIN product_variants v ON v.id = l.variant_id JOIN products p ON p.id = v.product_id "
    "WHERE l.cart_id = ? ORDER BY l.id"
)
LINES_SHOWN = 10  # lines(first: 10)


class CartRefused(Exception):
    """An expected failure of a cart change, answered as the payload's `errors` (as resolvers.cart words it)."""

    def __init__(self, code: str, message: str, *field: str | int) -> None:
        super().__init__(message)
        self.error = {"field": [str(part) for part in field], "message": message, "code": code}


def _cart_not_found() -> CartRefused:
    return CartRefused("NOT_FOUND", "No open cart of yours has this ID", "cartId")


def _variant_not_found() -> CartRefused:
    return CartRefused("NOT_FOUND", "No variant on sale has this ID", "input", "lines", 0, "merchandiseId")


def _bad_quantity(*field: str | int) -> CartRefused:
    return CartRefused("INVALID_QUANTITY", f"A quantity must be from 1 to {MAX_QUANTITY}", *field)


async def cart_lines_add(connection: Connection, variables: dict[str, Any]) -> dict[str, Any]:
    """One line (a variant, a quantity) added to a guest's open cart, merged into the variant's line if
    there is one, in one transaction with the cart locked; the cart as it is then."""
    token = carried_by(variables.get("cartId"), "Cart")
    try:
        async with connection.transaction():
            cart_id = await _add_line(connection, token, variables.get("variantId"), variables.get("quantity"))
            lines = await connection.fetch(W4_LINES, cart_id)
    except CartRefused as refused:
        return {"cartLinesAdd": {"cart": None, "errors": [refused.error]}}
    return {"cartLinesAdd": {"cart": _cart(connection.database, token, lines), "errors": []}}


async def _add_line(connection: Connection, token: str | None, variant_id: Any, quantity: Any) -> int:
    """Lock the cart, check the line, insert or merge it and mark the cart changed; the cart's id."""
    database = connection.database
    found = await connection.fetch(W4_LOCK_CART + database.for_update, token) if token is not None else []
    if not found or found[0][1] != "OPEN" or found[0][2] is not None:  # an anonymous request: guest carts only
        raise _cart_not_found()
    cart_id = found[0][0]
    variant = pk_in(variant_id, "ProductVariant")
    if variant is None:
        raise _variant_not_found()
    if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise _bad_quantity("input", "lines", 0, "quantity")
    on_sale, line_count, current = (await connection.fetch(W4_CART_STATE, variant, cart_id, cart_id, variant))[0]
    if not on_sale:
        raise _variant_not_found()
    if current is None and line_count >= MAX_LINES:
        raise CartRefused("TOO_MANY_LINES", f"A cart holds at most {MAX_LINES} lines", "input", "lines")
    total = quantity + (current or 0)
    if total > MAX_QUANTITY:
        raise _bad_quantity("input", "lines")
    now = database.now()
    await connection.fetch(W4_PUT_LINE, cart_id, variant, total, now)
    await connection.fetch(W4_TOUCH_CART, now, cart_id)
    return int(cart_id)


def _cart(database: Database, token: str | None, lines: Sequence[Any]) -> dict[str, Any]:
    """The cart's JSON: every line counts in the total quantity, those on sale and in stock in the subtotal."""
    nodes = []
    subtotal = Decimal("0.00")
    for line_id, quantity, sku, price, on_sale, stock in lines:
        amount = database.decimal(price) * quantity
        if on_sale and stock >= quantity:
            subtotal += amount
        nodes.append(
            {
                "id": global_id("CartLine", line_id),
                "quantity": quantity,
                "merchandise": {"sku": sku, "price": money(database, price)} if on_sale else None,
                "cost": {"totalAmount": money(database, amount.quantize(CENT))},
            }
        )
    return {
        "id": global_id("Cart", str(token)),
        "totalQuantity": sum(node["quantity"] for node in nodes),
        "lines": {"nodes": nodes[:LINES_SHOWN]},
        "cost": {"subtotalAmount": money(database, subtotal.quantize(CENT))},
    }


# --- The app ---------------------------------------------------------------------------------------------

HANDLERS: dict[str, Callable[[Connection, dict[str, Any]], Any]] = {
    "w1": listing,
    "w2": product_page,
    "w3": search,
    "w4": cart_lines_add,
}


def create_app(database_url: str | None = None) -> Starlette:
    """The limit app on the given database (LIMIT_DATABASE_URL by default)."""
    database = Database(database_url or os.environ["LIMIT_DATABASE_URL"])

    def endpoint(handler: Callable[[Connection, dict[str, Any]], Any]) -> Callable[[Request], Any]:
        async def answer(request: Request) -> Response:
            payload = orjson.loads(await request.body())
            async with database.connection() as connection:
                data = await handler(connection, payload.get("variables") or {})
            if data is None:
                return Response(b'{"error":"not found"}', status_code=404, media_type="application/json")
            return Response(orjson.dumps({"data": data}), media_type="application/json")

        return answer

    async def healthz(_request: Request) -> Response:
        async with database.connection() as connection:
            await connection.fetch("SELECT 1")
        return Response(b'{"status":"ok"}', media_type="application/json")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await database.open()
        try:
            yield
        finally:  # also when the block fails (an in-process check): aiosqlite's threads would keep Python alive
            await database.close()

    routes = [Route(f"/{key}", endpoint(handler), methods=["POST"]) for key, handler in HANDLERS.items()]
    routes.append(Route("/healthz", healthz, methods=["GET"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.database = database
    return app
