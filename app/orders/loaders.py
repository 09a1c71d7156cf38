"""The loaders of orders (see `app.db.loaders`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select

from app.db.loaders import BaseLoader, CountLoader, PageLoader, by_key, grouped
from app.orders import sql

__all__ = [
    "LineCountByOrderLoader",
    "OrderByIdLoader",
    "OrderCountByCustomerLoader",
    "OrderLinePageByOrderLoader",
    "OrderPageByCustomerLoader",
    "StatusHistoryByOrderLoader",
]


class OrderByIdLoader(BaseLoader):
    """Orders by id."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.orders_by_id(self.dialect), keys), keys, "id")


class OrderLinePageByOrderLoader(PageLoader):
    """A page of each order's lines, in order."""

    keyset = sql.LINE_ORDER

    def pages(self, keys: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
        """A window of each order's lines."""
        return sql.line_pages(self.window, self.dialect), {}


class OrderPageByCustomerLoader(PageLoader):
    """A page of each customer's orders, newest first."""

    keyset = sql.ORDER_ORDER

    def pages(self, keys: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
        """A window of each customer's orders."""
        return sql.order_pages_by_customer(self.window, self.dialect), {}


class StatusHistoryByOrderLoader(BaseLoader):
    """Each order's status changes, oldest first."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[Any]]:
        return grouped(await self.fetch(sql.status_history(self.dialect), keys), keys, "order_id")


class LineCountByOrderLoader(CountLoader):
    """How many lines each order has: one GROUP BY for a level."""

    def counted(self) -> Select[Any]:
        """Lines per order."""
        return sql.line_counts(self.dialect)


class OrderCountByCustomerLoader(CountLoader):
    """How many orders each customer has: one GROUP BY for a level."""

    def counted(self) -> Select[Any]:
        """Orders per customer."""
        return sql.order_counts(self.dialect)
