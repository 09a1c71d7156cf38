"""The loaders of accounts (see `app.db.loaders`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.accounts import sql
from app.db.loaders import BaseLoader, by_key

__all__ = ["CustomerByIdLoader"]


class CustomerByIdLoader(BaseLoader):
    """Customers by id, without their password hashes."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        rows = await self.fetch(sql.customers_by_id(self.dialect), keys)
        return by_key(rows, keys, "id")
