"""The loaders of carts (see `app.db.loaders`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select

from app.cart import sql
from app.db.loaders import BaseLoader, PageLoader, by_key

__all__ = ["CartByTokenLoader", "CartLinePageByCartLoader", "CartTotalsByCartLoader"]


class CartByTokenLoader(BaseLoader):
    """Carts by their secret token, whatever their status."""

    async def batch_load_fn(self, keys: Sequence[str]) -> list[Any]:
        return by_key(await self.fetch(sql.carts_by_token(self.dialect), keys), keys, "token")


class CartLinePageByCartLoader(PageLoader):
    """A page of each cart's lines, oldest first, with the variant's price and availability now."""

    keyset = sql.LINE_ORDER

    def pages(self, keys: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
        """A window of each cart's lines."""
        return sql.line_pages(self.window, self.dialect), {}


class CartTotalsByCartLoader(BaseLoader):
    """Each cart's total quantity and the subtotal of the lines that can be bought now (None: no lines)."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        return by_key(await self.fetch(sql.cart_totals(self.dialect), keys), keys, "cart_id")
