"""W4's carts: empty guest carts made straight in the database, one per request, never reused.

Before each W4 run (warm-ups and paced runs included) `CartStock.provision` deletes every cart the benchmark
made before, with their lines, and makes more fresh ones than the run can use, with the app's own tokens
(`app.accounts.tokens.new_secret`, behind a prefix that marks them as the benchmark's) and cart IDs
(`resolvers.cart.cart_id_of`). bench/wrk_post.lua walks through their IDs, thread t of T taking the t-th,
(t+T)-th, ... one, so no two requests reach the same cart; a thread that runs out stops and the run fails.
`CartStock.check_run` then reads what the run left: every completed request put one line of quantity 1 in
its own cart. The correctness gate takes two more carts each time (`CartStock.take`).

Other shoppers' carts, with lines, stay in the tables throughout (`SHOPPER_CARTS`): without them each run
would begin on an empty `cart_lines`, and asyncpg's prepared statements, which PostgreSQL plans generically
after five executions, would keep the sequential scans planned for an empty table while it fills up (the
GraphQL server's connections plan every execution, `plan_cache_mode=force_custom_plan`; the limit's do not).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, insert, literal, select, text, true
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.accounts.tokens import new_secret
from app.cart import sql as cart_sql
from app.cart.models import Cart, CartLine
from app.catalog.models import ProductVariant
from app.db.base import utcnow
from bench import limit_server
from bench.load import GateFailure
from resolvers.cart import cart_id_of

__all__ = [
    "CARTS_PER_SECOND",
    "CartStock",
    "CartUse",
    "cart_use",
    "carts_for",
    "check_cart_limits",
    "delete_carts",
    "make_carts",
    "make_shoppers",
    "tidy_cart_tables",
]

TOKEN_PREFIX = "bench-w4-"
# More W4 requests per second than any server completes in a run: the most measured on the reference machine
# (the limit, 1 worker, c=16) is about 1,350. A run that uses more fails (wrk_post.lua's `exhausted`).
CARTS_PER_SECOND = 8_000
SPARE_CARTS = 1_000  # for the requests of the first second, which run faster than the average
SHOPPER_PREFIX = "bench-shopper-"
SHOPPER_CARTS = 5_000
LINES_PER_SHOPPER = 2

carts: Table = Cart.__table__  # type: ignore[assignment]
lines: Table = CartLine.__table__  # type: ignore[assignment]
variants: Table = ProductVariant.__table__  # type: ignore[assignment]
# One statement on PostgreSQL: half the time of SQLAlchemy's batched INSERT ... VALUES (which SQLite gets).
_INSERT_FROM_ARRAY = text(
    "INSERT INTO carts (token, status, created_at, updated_at) "
    "SELECT token, 'OPEN', :now, :now FROM unnest(CAST(:tokens AS varchar[])) AS token RETURNING token"
)


def check_cart_limits() -> None:
    """The limit server's copy of the cart's limits (it imports nothing of the app) must be the app's."""
    ours = (limit_server.MAX_LINES, limit_server.MAX_QUANTITY)
    if ours != (cart_sql.MAX_LINES, cart_sql.MAX_QUANTITY):
        raise GateFailure(f"bench/limit_server.py's MAX_LINES, MAX_QUANTITY {ours} are not app.cart.sql's")


def _made_with(prefix: str) -> ColumnElement[bool]:
    return carts.c.token.startswith(prefix, autoescape=True)


def carts_for(seconds: int) -> int:
    """How many carts a W4 run of this many seconds gets: more than it can use."""
    return math.ceil(seconds * CARTS_PER_SECOND) + SPARE_CARTS


async def make_carts(engine: AsyncEngine, count: int, prefix: str = TOKEN_PREFIX) -> list[str]:
    """Make `count` empty open guest carts; their GraphQL IDs."""
    tokens = [prefix + new_secret() for _ in range(count)]
    now = utcnow()
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            made = await connection.execute(_INSERT_FROM_ARRAY, {"tokens": tokens, "now": now})
        else:
            rows = [{"token": token, "status": "OPEN", "created_at": now, "updated_at": now} for token in tokens]
            made = await connection.execute(insert(carts).returning(carts.c.token), rows)
        return [cart_id_of(row) for row in made]


async def delete_carts(engine: AsyncEngine, prefix: str = TOKEN_PREFIX) -> None:
    """Delete every cart the benchmark made (for the requests, or for the other shoppers), with its lines."""
    made = _made_with(prefix)
    async with engine.begin() as connection:
        await connection.execute(delete(lines).where(lines.c.cart_id.in_(select(carts.c.id).where(made))))
        await connection.execute(delete(carts).where(made))


async def make_shoppers(engine: AsyncEngine) -> None:
    """The other shoppers' carts, each with lines of the catalog's last variants, unless they are there."""
    shoppers = _made_with(SHOPPER_PREFIX)
    async with engine.connect() as connection:
        if (await connection.execute(select(func.count()).where(shoppers))).scalar_one() == SHOPPER_CARTS:
            return
    await delete_carts(engine, SHOPPER_PREFIX)
    await make_carts(engine, SHOPPER_CARTS, SHOPPER_PREFIX)
    some = select(variants.c.id).order_by(variants.c.id.desc()).limit(LINES_PER_SHOPPER).subquery()
    filled = select(carts.c.id, some.c.id, literal(1), literal(utcnow())).join(some, true()).where(shoppers)
    async with engine.begin() as connection:
        await connection.execute(insert(lines).from_select(["cart_id", "variant_id", "quantity", "created_at"], filled))


async def tidy_cart_tables(engine: AsyncEngine) -> None:
    """Statistics of the cart tables as they are now (and, on PostgreSQL, the dead rows of the last run
    vacuumed away), so each W4 run starts from the same state whichever server it measures."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql":
            await autocommit.execute(text("VACUUM ANALYZE carts, cart_lines"))
        else:
            await autocommit.execute(text("ANALYZE carts"))
            await autocommit.execute(text("ANALYZE cart_lines"))


@dataclass(frozen=True)
class CartUse:
    """What requests left in the benchmark's carts."""

    carts: int  # carts with a line
    lines: int
    largest_quantity: int


async def cart_use(engine: AsyncEngine) -> CartUse:
    """Count the lines in the benchmark's carts."""
    statement = (
        select(func.count(func.distinct(lines.c.cart_id)), func.count(), func.coalesce(func.max(lines.c.quantity), 0))
        .select_from(lines.join(carts, carts.c.id == lines.c.cart_id))
        .where(_made_with(TOKEN_PREFIX))
    )
    async with engine.connect() as connection:
        with_lines, line_count, largest = (await connection.execute(statement)).one()
    return CartUse(int(with_lines), int(line_count), int(largest))


class CartStock:
    """The W4 carts of one database, for the synchronous harness (its own engine and event loop)."""

    def __init__(self, database_url: str, ids_file: Path) -> None:
        self.ids_file = ids_file
        self.provisioned = 0
        self._runner = asyncio.Runner()
        self._engine = create_async_engine(database_url)

    def _run(self, work: Any) -> Any:
        return self._runner.run(work)

    def provision(self, seconds: int) -> Path:
        """Replace the benchmark's carts by fresh ones, more than a run of `seconds` can use; the file of
        their IDs, one a line."""
        count = carts_for(seconds)
        self._run(make_shoppers(self._engine))
        self._run(delete_carts(self._engine))
        ids = self._run(make_carts(self._engine, count))
        self._run(tidy_cart_tables(self._engine))
        self.ids_file.write_text("\n".join(ids) + "\n")
        self.provisioned = count
        return self.ids_file

    def take(self, count: int) -> list[str]:
        """`count` more fresh carts, for single requests (the gate's); their IDs."""
        return self._run(make_carts(self._engine, count))  # type: ignore[no-any-return]

    def check_run(self, requests: int, in_flight: int, label: str) -> CartUse:
        """After a run on provisioned carts: each of the `requests` completed (and at most `in_flight` more
        that wrk did not wait for) added one line of quantity 1 to its own cart, and nothing else did."""
        use: CartUse = self._run(cart_use(self._engine))
        if use.largest_quantity > 1 or use.lines != use.carts:
            raise GateFailure(f"{label}: a cart was used twice ({use}): requests must each have their own")
        if not requests <= use.carts <= requests + in_flight:
            raise GateFailure(
                f"{label}: {requests} requests completed, but {use.carts} of the {self.provisioned} carts got "
                f"a line (expected {requests} to {requests + in_flight})"
            )
        return use

    def close(self) -> None:
        """Delete the benchmark's carts (and the file of their IDs) and let go of the database."""
        self.ids_file.unlink(missing_ok=True)
        try:
            self._run(delete_carts(self._engine))
            self._run(delete_carts(self._engine, SHOPPER_PREFIX))
            self._run(self._engine.dispose())
        finally:
            self._runner.close()
