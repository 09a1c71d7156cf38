"""The loaders of accounts (see `app.db.loaders`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select

from app.accounts import sql
from app.db.loaders import BaseLoader, CountLoader, PageLoader, by_key

__all__ = [
    "AddressByIdLoader",
    "AddressCountByCustomerLoader",
    "AddressPageByCustomerLoader",
    "CustomerByIdLoader",
    "DefaultAddressByCustomerLoader",
]


class CustomerByIdLoader(BaseLoader):
    """Customers by id, without their password hashes."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        rows = await self.fetch(sql.customers_by_id(self.dialect), keys)
        return by_key(rows, keys, "id")


class AddressByIdLoader(BaseLoader):
    """Addresses by id (whoever they belong to: the caller checks)."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        rows = await self.fetch(sql.addresses_by_id(self.dialect), keys)
        return by_key(rows, keys, "id")


class DefaultAddressByCustomerLoader(BaseLoader):
    """Each customer's default address, or None."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Any]:
        rows = await self.fetch(sql.default_addresses_by_customer(self.dialect), keys)
        return by_key(rows, keys, "customer_id")


class AddressCountByCustomerLoader(CountLoader):
    """How many addresses each customer has: one GROUP BY for a level."""

    def counted(self) -> Select[Any]:
        """Addresses per customer."""
        return sql.address_counts(self.dialect)


class AddressPageByCustomerLoader(PageLoader):
    """A page of each customer's addresses, oldest first."""

    keyset = sql.ADDRESS_ORDER

    def pages(self, keys: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
        """A window of each customer's addresses."""
        return sql.address_pages(self.window, self.dialect), {}
