"""Live-update events, published once the transaction that caused them commits (never for a rolled-back
change). Topics name one thing that changed: `order:<id>`, `variant:<id>`, `cart:<id>`.

A variant's event is sent when its stock crosses what a storefront shows (sold out, low stock below
LOW_STOCK, in stock) or its price changes, not for every unit sold.
"""

from __future__ import annotations

from typing import Any

from app.db.database import RequestDatabase
from app.live.hub import LiveHub

__all__ = [
    "LOW_STOCK",
    "availability_band",
    "publish_cart",
    "publish_order",
    "publish_price",
    "publish_stock",
    "publish_stock_returned",
]

LOW_STOCK = 5


def _after_commit(db: RequestDatabase, hub: LiveHub | None, topic: str, payload: dict[str, Any]) -> None:
    if hub is not None:
        db.after_commit(lambda: hub.publish(topic, payload))


def publish_order(db: RequestDatabase, hub: LiveHub | None, order_id: int) -> None:
    """An order's status moved: its subscribers hear it once the transaction commits."""
    _after_commit(db, hub, f"order:{order_id}", {"id": order_id})


def publish_cart(db: RequestDatabase, hub: LiveHub | None, cart_id: int, token: str) -> None:
    """A cart changed (lines, buyer, closed by checkout)."""
    _after_commit(db, hub, f"cart:{cart_id}", {"id": cart_id, "token": token})


def availability_band(stock: int) -> int:
    """What a storefront shows of a stock: 0 sold out, 1 low, 2 in stock."""
    return 0 if stock <= 0 else 1 if stock < LOW_STOCK else 2


def publish_stock(db: RequestDatabase, hub: LiveHub | None, variant_id: int, before: int, after: int) -> None:
    """A variant's stock moved from `before` to `after`: an event when that crosses a band."""
    if availability_band(before) != availability_band(after):
        _after_commit(db, hub, f"variant:{variant_id}", {"id": variant_id})


def publish_price(db: RequestDatabase, hub: LiveHub | None, variant_id: int) -> None:
    """A variant's price changed."""
    _after_commit(db, hub, f"variant:{variant_id}", {"id": variant_id})


def publish_stock_returned(db: RequestDatabase, hub: LiveHub | None, returned: list[tuple[int, int, int]]) -> None:
    """Stock went back (variant, stock now, quantity returned): events where that crosses a band."""
    for variant_id, after, quantity in returned:
        publish_stock(db, hub, variant_id, after - quantity, after)
