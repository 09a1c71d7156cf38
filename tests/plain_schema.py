"""A schema of plain (default-resolver) fields whose values are sometimes wrong: the planned executor's compiled
fills must give exactly the reference executor's result and errors for each of them.

`Query.things` holds one object per kind of trouble (by index), besides well-behaved ones: a null in a
non-null position, an out-of-range Int, a NaN Float, a value of the wrong type, a bad enum value, a reader
that raises, an awaitable value, a nested object of the wrong class, a list with a null item, and one object
of a subclass (its type's own class is what a fill compiles for).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, NewType

import strawberry
from graphql.pyutils import Undefined
from strawberry.schema.config import StrawberryConfig

from app.graphql.executor import inline_object
from schema.lazy import LazyFields, lazy_fields

__all__ = ["PLAIN", "TROUBLES"]

# Index of `Query.things` -> what goes wrong in that object.
TROUBLES = (
    "none",
    "null title",
    "huge count",
    "nan score",
    "text flag",
    "bad colour",
    "raising amount",
    "awaitable count",
    "price of wrong class",
    "null price",
    "null in tags",
    "subclass",
    "text amount",
    "undefined amount",
    "null amount in price",
    "code without a serialized form",
    "no cost",
    "raising cost",
    "cost in text cents",
    "none",
)


@strawberry.enum(description="A colour.")
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


Code = NewType("Code", str)
CODE_SCALAR = strawberry.scalar(
    name="Code",
    description="A code whose serializer gives no value for the empty code.",
    serialize=lambda value: value.upper() or None,
    parse_value=str,
)


@strawberry.type(description="A price.")
class Price:
    amount: Decimal = strawberry.field(description="The amount.")
    currency: str = strawberry.field(description="The currency.")
    cents: int = strawberry.field(description="The amount in cents.")
    label: str | None = strawberry.field(default=None, description="A label.")


@strawberry.type(description="Looks like a price, is not one.")
class NotAPrice:
    amount: Decimal = strawberry.field(description="The amount.")
    currency: str = strawberry.field(description="The currency.")
    cents: int = strawberry.field(description="The amount in cents.")
    label: str | None = strawberry.field(default=None, description="A label.")


@strawberry.type(description="An inner object with a list of prices.")
class Inner:
    name: str = strawberry.field(description="A name.")
    prices: list[Price] = strawberry.field(description="Some prices.")


def _trouble(thing: Any, kind: str) -> bool:
    return TROUBLES[thing.n] == kind


async def _later(value: Any) -> Any:
    await asyncio.sleep(0)
    return value


def _count(thing: Any) -> Any:
    if _trouble(thing, "awaitable count"):
        return _later(thing.n)
    return 2**40 if _trouble(thing, "huge count") else thing.n


def _amount(thing: Any) -> Any:
    if _trouble(thing, "raising amount"):
        raise ValueError("no amount")
    if _trouble(thing, "undefined amount"):
        return Undefined
    return "12.5" if _trouble(thing, "text amount") else Decimal(thing.n) / 4


def _price(thing: Any) -> Any:
    if _trouble(thing, "null price"):
        return None
    kind = NotAPrice if _trouble(thing, "price of wrong class") else Price
    amount = None if _trouble(thing, "null amount in price") else Decimal(thing.n)
    return kind(amount=amount, currency="EUR", cents=thing.n * 100, label=None if thing.n % 2 else "sale")


def _cost_amount(thing: Any) -> Decimal | None:
    if _trouble(thing, "raising cost"):
        raise ValueError("no cost")
    return None if _trouble(thing, "no cost") else Decimal(thing.n) * 3


def _cost_cents(thing: Any) -> Any:
    return "300" if _trouble(thing, "cost in text cents") else thing.n * 300


def _cost(thing: Any) -> Price | None:
    amount = _cost_amount(thing)
    return None if amount is None else Price(amount=amount, currency="USD", cents=_cost_cents(thing), label=None)


# A Price made from the thing's own values, declared inline: compiled code never makes the Price.
_COST = inline_object(
    _cost,
    present=lambda thing: _cost_amount(thing) is not None,
    amount=_cost_amount,
    currency=lambda _thing: "USD",
    cents=_cost_cents,
    label=lambda _thing: None,
)


@lazy_fields
@strawberry.type(description="A thing with plain fields of every kind.")
class Thing(LazyFields):
    READERS = {
        "title": lambda thing: None if _trouble(thing, "null title") else f"thing {thing.n}",
        "count": _count,
        "score": lambda thing: float("nan") if _trouble(thing, "nan score") else thing.n / 3,
        "flag": lambda thing: "yes" if _trouble(thing, "text flag") else thing.n % 2 == 0,
        "colour": lambda thing: "green" if _trouble(thing, "bad colour") else [Colour.RED, Colour.BLUE][thing.n % 2],
        "amount": _amount,
        "price": _price,
        "maybe_price": lambda thing: None if thing.n % 3 else _price(thing),
        "tags": lambda thing: ["a", None] if _trouble(thing, "null in tags") else ["a", str(thing.n)],
        "inner": lambda thing: Inner(name=f"inner {thing.n}", prices=[_price(thing), _price(thing)]),
        "cost": _COST,
        "total": _COST,
        "code": lambda thing: "" if _trouble(thing, "code without a serialized form") else f"c{thing.n}",
        "created_at": lambda thing: datetime(2026, 1, 1 + thing.n, tzinfo=UTC),
    }
    n: strawberry.Private[int]
    title: str = strawberry.field(description="A title.")
    count: int = strawberry.field(description="A count.")
    score: float = strawberry.field(description="A score.")
    flag: bool = strawberry.field(description="A flag.")
    colour: Colour = strawberry.field(description="A colour.")
    amount: Decimal | None = strawberry.field(description="An amount.")
    price: Price = strawberry.field(description="A price.")
    maybe_price: Price | None = strawberry.field(description="Perhaps a price.")
    tags: list[str] | None = strawberry.field(description="Tags.")
    inner: Inner = strawberry.field(description="An inner object.")
    cost: Price | None = strawberry.field(description="A price made inline from the thing's values.")
    total: Price = strawberry.field(description="The same, where it must be there.")
    code: Code = strawberry.field(description="A code.")
    created_at: datetime = strawberry.field(description="When.")

    @strawberry.field(description="A resolved field among the plain ones.")
    def doubled(self) -> int:
        return self.n * 2


class SpecialThing(Thing):
    """Of a subclass, which reads its title its own way: the type's own class is what fills compile for."""

    title = "special"  # type: ignore[assignment]


@strawberry.type(description="The root.")
class PlainQuery:
    @strawberry.field(description="One thing per kind of trouble.")
    def things(self) -> list[Thing | None]:
        return [
            (SpecialThing if kind == "subclass" else Thing).wrap(n=n)  # type: ignore[misc]
            for n, kind in enumerate(TROUBLES)
        ]

    @strawberry.field(description="A thing that must be there.")
    def thing(self) -> Thing:
        return Thing.wrap(n=1)


PLAIN = strawberry.Schema(query=PlainQuery, config=StrawberryConfig(scalar_map={Code: CODE_SCALAR}))._schema
