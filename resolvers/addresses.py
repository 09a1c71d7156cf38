"""Address use cases: a signed-in customer's postal addresses and which one is the default.

Every input field is checked and every problem reported at once (an `AccountFailures` of one failure
per field), so a form can mark them all. Only the owner reaches an address through these: another
customer's address is NOT_FOUND, exactly like one that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.accounts import sql
from app.accounts.countries import COUNTRY_CODES
from app.accounts.loaders import (
    AddressByIdLoader,
    AddressCountByCustomerLoader,
    AddressPageByCustomerLoader,
    CustomerByIdLoader,
    DefaultAddressByCustomerLoader,
)
from app.context import Context
from app.db.base import utcnow
from app.db.ids import pk_of
from app.db.pagination import PageArgs, PageOfRows, validate_window
from resolvers.accounts import AccountFailure, AccountFailures, signed_in_viewer

__all__ = [
    "ADDRESS_COLUMNS",
    "ADDRESS_TYPE",
    "AddressFields",
    "address_visible",
    "clean_address",
    "customer_address_create",
    "customer_address_delete",
    "customer_address_update",
    "customer_addresses",
    "customer_default_address_update",
    "default_addresses",
]

ADDRESS_TYPE = "MailingAddress"
# (input name, column, label, longest, required)
FIELDS = (
    ("firstName", "first_name", "First name", 100, True),
    ("lastName", "last_name", "Last name", 100, True),
    ("company", "company", "Company", 200, False),
    ("address1", "address1", "Address line 1", 200, True),
    ("address2", "address2", "Address line 2", 200, False),
    ("city", "city", "City", 100, True),
    ("province", "province", "Province", 100, False),
    ("zip", "zip", "Zip", 20, True),
    ("country", "country", "Country", 2, True),
    ("phone", "phone", "Phone", 40, False),
)
ADDRESS_COLUMNS = tuple(column for _, column, _, _, _ in FIELDS)
ZIP_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]*$")
PHONE_SHAPE = re.compile(r"^\+?[0-9 ()\-.]+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AddressFields:
    """An address as the client sent it: None for a field left out."""

    values: dict[str, str | None]  # by input name


def clean_address(fields: AddressFields, *, creating: bool, at: tuple[str, ...] = ("input",)) -> dict[str, str]:
    """The columns to write, every field checked; AccountFailures naming each one at fault (under `at`)."""
    columns: dict[str, str] = {}
    failures: list[AccountFailure] = []
    for name, column, label, longest, required in FIELDS:
        raw = fields.values.get(name)
        if raw is None:
            if creating and required:
                failures.append(_invalid(at, name, f"{label} is required"))
            continue
        value = raw.strip()
        problem = _problem(name, label, value, longest, required)
        if problem is not None:
            failures.append(_invalid(at, name, problem))
            continue
        columns[column] = value.upper() if name == "country" else value
    if failures:
        raise AccountFailures(failures)
    return columns


def _problem(name: str, label: str, value: str, longest: int, required: bool) -> str | None:
    if CONTROL.search(value):
        return f"{label} must not contain control characters"
    if required and not value:
        return f"{label} is required"
    if len(value) > longest:
        return f"{label} must be at most {longest} characters long"
    if name == "country" and value.upper() not in COUNTRY_CODES:
        return "Country must be an ISO 3166-1 alpha-2 code, such as US or FR"
    if name == "zip" and not ZIP_SHAPE.match(value):
        return "Zip may hold only letters, digits, spaces and hyphens"
    if name == "phone" and value and (not PHONE_SHAPE.match(value) or sum(c.isdigit() for c in value) < 5):
        return "Phone must be a phone number, such as +1 555 0100"
    return None


def _invalid(at: tuple[str, ...], name: str, message: str) -> AccountFailure:
    return AccountFailure("INVALID", message, (*at, name))


def _address_id(id: str) -> int:
    pk = pk_of(id, ADDRESS_TYPE)
    if pk is None:
        raise AccountFailure("NOT_FOUND", "No address of yours has this ID", ("id",))
    return pk


async def _lock_customer(ctx: Context, customer_id: int) -> None:
    """Every address change locks the customer row first: changes to one customer's addresses (and which is
    the default, which a unique index allows once) apply one after another, in the same order."""
    if await sql.customer_with_hash(ctx.db, customer_id) is None:
        raise AccountFailure("UNAUTHENTICATED", "The signed-in account no longer exists")


def _forget_addresses(ctx: Context) -> None:
    """After a write: the addresses read before it are stale."""
    for loader in (
        AddressByIdLoader,
        AddressCountByCustomerLoader,
        AddressPageByCustomerLoader,
        DefaultAddressByCustomerLoader,
    ):
        ctx.loaders.clear_all(loader)


async def customer_address_create(ctx: Context, fields: AddressFields, make_default: bool) -> Any:
    """Add an address to the viewer's; the first one, or one asked to be, becomes the default."""
    viewer = signed_in_viewer(ctx)
    columns = clean_address(fields, creating=True)
    async with ctx.db.transaction():
        await _lock_customer(ctx, viewer.customer_id)
        count = await sql.count_addresses(ctx.db, viewer.customer_id)
        if count >= sql.MAX_ADDRESSES:
            raise AccountFailure("INVALID", f"A customer may keep at most {sql.MAX_ADDRESSES} addresses")
        row = await sql.insert_address(ctx.db, viewer.customer_id, columns, utcnow())
        if make_default or count == 0:
            await sql.make_default_address(ctx.db, viewer.customer_id, row.id)
            row = await sql.lock_address(ctx.db, viewer.customer_id, row.id)
    _forget_addresses(ctx)
    return row


async def customer_address_update(ctx: Context, id: str, fields: AddressFields) -> Any:
    """Change some fields of one of the viewer's addresses; its row as it is now."""
    viewer = signed_in_viewer(ctx)
    address_id = _address_id(id)
    columns = clean_address(fields, creating=False)
    async with ctx.db.transaction():
        await _lock_customer(ctx, viewer.customer_id)
        found = await sql.lock_address(ctx.db, viewer.customer_id, address_id)
        if found is None:
            raise AccountFailure("NOT_FOUND", "No address of yours has this ID", ("id",))
        row = await sql.update_address(ctx.db, address_id, columns) if columns else found
    _forget_addresses(ctx)
    return row


async def customer_address_delete(ctx: Context, id: str) -> str:
    """Remove one of the viewer's addresses (the oldest left becomes the default if it was); its ID."""
    viewer = signed_in_viewer(ctx)
    address_id = _address_id(id)
    async with ctx.db.transaction():
        await _lock_customer(ctx, viewer.customer_id)
        found = await sql.lock_address(ctx.db, viewer.customer_id, address_id)
        if found is None:
            raise AccountFailure("NOT_FOUND", "No address of yours has this ID", ("id",))
        await sql.delete_address(ctx.db, address_id)
        if found.is_default:
            await sql.make_default_address(ctx.db, viewer.customer_id, None)
    _forget_addresses(ctx)
    return id


async def customer_default_address_update(ctx: Context, id: str) -> Any:
    """Make one of the viewer's addresses the default; the customer's row."""
    viewer = signed_in_viewer(ctx)
    address_id = _address_id(id)
    async with ctx.db.transaction():
        await _lock_customer(ctx, viewer.customer_id)
        if await sql.lock_address(ctx.db, viewer.customer_id, address_id) is None:
            raise AccountFailure("NOT_FOUND", "No address of yours has this ID", ("id",))
        await sql.make_default_address(ctx.db, viewer.customer_id, address_id)
    _forget_addresses(ctx)
    return await ctx.loaders.get(CustomerByIdLoader).load(viewer.customer_id)


def address_visible(ctx: Context, row: Any) -> bool:
    """Whether the request may fetch this address by ID: its owner and staff only."""
    viewer = ctx.viewer
    return viewer is not None and (viewer.is_staff or viewer.customer_id == row.customer_id)


async def default_addresses(ctx: Context, rows: list[Any]) -> list[Any]:
    """Each customer's default address, or None (one statement for the level)."""
    loader = ctx.loaders.get(DefaultAddressByCustomerLoader)
    return list(await loader.load_many([row.id for row in rows]))


async def customer_addresses(ctx: Context, row: Any, page: PageArgs) -> PageOfRows:
    """A page of a customer's addresses, oldest first."""
    keyset = sql.ADDRESS_ORDER
    window = validate_window(page, keyset, ctx.settings.max_page_size)
    result = await ctx.loaders.get(AddressPageByCustomerLoader, window).load(row.id)

    async def count() -> int:
        return int(await ctx.loaders.get(AddressCountByCustomerLoader).load(row.id))

    return PageOfRows(result, keyset, count)
