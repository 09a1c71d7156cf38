"""The SQL of accounts: customers by email, sessions and the rotation of their refresh tokens.

Statements are built once per dialect (cached) and run on the request's database handle; every write runs
inside the caller's `db.transaction()`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Select, Table, bindparam, delete, func, insert, select, update

from app.accounts.models import Customer, CustomerAddress, CustomerSession, PasswordReset, RefreshToken
from app.accounts.tokens import REFRESH_TOKEN_LIFETIME, RESET_TOKEN_LIFETIME, digest
from app.db.database import RequestDatabase
from app.db.loaders import keys_in
from app.db.pagination import Keyset, Window, partitioned_pages

__all__ = [
    "ADDRESS_ORDER",
    "CUSTOMER_COLUMNS",
    "MAX_ADDRESSES",
    "RefreshedSession",
    "add_password_reset",
    "address_counts",
    "address_pages",
    "addresses_by_id",
    "count_addresses",
    "create_customer",
    "create_session",
    "customer_by_email",
    "customer_with_hash",
    "customers_by_id",
    "default_addresses_by_customer",
    "delete_address",
    "find_refresh_token",
    "insert_address",
    "lock_address",
    "make_default_address",
    "revoke_session",
    "revoke_sessions",
    "rotate_refresh_token",
    "session_of_refresh_token",
    "set_password_hash",
    "update_address",
    "update_customer",
    "use_password_reset",
    "use_refresh_token",
    "void_password_resets",
]

customers: Table = Customer.__table__  # type: ignore[assignment]
sessions: Table = CustomerSession.__table__  # type: ignore[assignment]
refresh_tokens: Table = RefreshToken.__table__  # type: ignore[assignment]
password_resets: Table = PasswordReset.__table__  # type: ignore[assignment]

CUSTOMER_COLUMNS = (
    customers.c.id,
    customers.c.email,
    customers.c.display_name,
    customers.c.created_at,
    customers.c.role,
)


@cache
def customers_by_id(dialect: str) -> Select[Any]:
    """Customers (without their password hash) by id, for the keyed loader."""
    return select(*CUSTOMER_COLUMNS).where(keys_in(customers.c.id, dialect))


async def customer_by_email(db: RequestDatabase, email: str) -> Any:
    """The customer with this email whatever its case (with the password hash), or None."""
    statement = select(*CUSTOMER_COLUMNS, customers.c.password_hash).where(
        func.lower(customers.c.email) == email.lower()
    )
    rows = await db.fetch_all(statement)
    return rows[0] if rows else None


async def create_customer(db: RequestDatabase, email: str, display_name: str, password_hash: str, now: datetime) -> Any:
    """Insert a customer; the row (IntegrityError when the email is taken, whatever its case)."""
    statement = (
        insert(customers)
        .values(email=email, display_name=display_name, password_hash=password_hash, role="CUSTOMER", created_at=now)
        .returning(*CUSTOMER_COLUMNS)
    )
    return (await db.fetch_all(statement))[0]


async def set_password_hash(db: RequestDatabase, customer_id: int, password_hash: str) -> None:
    """Replace a customer's password hash (a rehash with current parameters, or a new password)."""
    await db.execute(update(customers).where(customers.c.id == customer_id).values(password_hash=password_hash))


async def create_session(
    db: RequestDatabase, session_id: str, customer_id: int, refresh_token: str, *, cookie: bool, now: datetime
) -> None:
    """Start a session with its first refresh token."""
    expires_at = now + REFRESH_TOKEN_LIFETIME
    await db.execute(
        insert(sessions).values(
            id=session_id, customer_id=customer_id, created_at=now, expires_at=expires_at, cookie=cookie
        )
    )
    await _add_refresh_token(db, session_id, refresh_token, now)


async def _add_refresh_token(db: RequestDatabase, session_id: str, refresh_token: str, now: datetime) -> None:
    await db.execute(
        insert(refresh_tokens).values(
            digest=digest(refresh_token),
            session_id=session_id,
            created_at=now,
            expires_at=now + REFRESH_TOKEN_LIFETIME,
        )
    )


class RefreshedSession:
    """The session a refresh token belonged to, with its customer's id and role."""

    __slots__ = ("customer_id", "role", "session_id")

    def __init__(self, session_id: str, customer_id: int, role: str) -> None:
        self.session_id = session_id
        self.customer_id = customer_id
        self.role = role


_TOKEN: BindParameter[str] = bindparam("token_digest")


@cache
def _use_token_statement() -> Any:
    # One conditional UPDATE marks the token used: of two concurrent refreshes with it, exactly one wins.
    return (
        update(refresh_tokens)
        .where(refresh_tokens.c.digest == _TOKEN, refresh_tokens.c.used_at.is_(None))
        .where(refresh_tokens.c.expires_at > bindparam("now"))
        .values(used_at=bindparam("now"))
        .returning(refresh_tokens.c.session_id)
    )


async def use_refresh_token(db: RequestDatabase, refresh_token: str, now: datetime) -> str | None:
    """Mark an unused, unexpired refresh token used and return its session id; None when it was not one."""
    rows = await db.fetch_all(_use_token_statement(), {"token_digest": digest(refresh_token), "now": now})
    return rows[0].session_id if rows else None


async def find_refresh_token(db: RequestDatabase, refresh_token: str) -> Any:
    """The stored token (its session id and whether it was used), or None when it was never issued."""
    statement = select(refresh_tokens.c.session_id, refresh_tokens.c.used_at).where(
        refresh_tokens.c.digest == digest(refresh_token)
    )
    rows = await db.fetch_all(statement)
    return rows[0] if rows else None


async def session_of_refresh_token(db: RequestDatabase, session_id: str, now: datetime) -> RefreshedSession | None:
    """The live (unrevoked, unexpired) session with its customer; None when it is not live."""
    statement = (
        select(sessions.c.id, sessions.c.customer_id, customers.c.role)
        .join(customers, customers.c.id == sessions.c.customer_id)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
    )
    rows = await db.fetch_all(statement)
    if not rows:
        return None
    return RefreshedSession(rows[0].id, rows[0].customer_id, rows[0].role)


async def rotate_refresh_token(db: RequestDatabase, session_id: str, refresh_token: str, now: datetime) -> None:
    """Give the session its next refresh token."""
    await _add_refresh_token(db, session_id, refresh_token, now)


async def revoke_session(db: RequestDatabase, session_id: str, now: datetime) -> bool:
    """Revoke a session (its whole family of tokens); whether it was live until now."""
    statement = update(sessions).where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
    return await db.execute(statement.values(revoked_at=now)) == 1


async def customer_with_hash(db: RequestDatabase, customer_id: int) -> Any:
    """A customer by id with the password hash, locked until the transaction ends; None when gone."""
    statement = select(*CUSTOMER_COLUMNS, customers.c.password_hash).where(customers.c.id == customer_id)
    rows = await db.lock_rows(statement)
    return rows[0] if rows else None


async def update_customer(db: RequestDatabase, customer_id: int, **values: Any) -> Any:
    """Change a customer's columns; the row as it is now."""
    statement = update(customers).where(customers.c.id == customer_id).values(**values).returning(*CUSTOMER_COLUMNS)
    return (await db.fetch_all(statement))[0]


async def revoke_sessions(
    db: RequestDatabase, customer_id: int, now: datetime, *, keep: str | None = None
) -> list[str]:
    """Revoke every live session of a customer but `keep`; the ids revoked."""
    statement = update(sessions).where(sessions.c.customer_id == customer_id, sessions.c.revoked_at.is_(None))
    if keep is not None:
        statement = statement.where(sessions.c.id != keep)
    rows = await db.fetch_all(statement.values(revoked_at=now).returning(sessions.c.id))
    return [row.id for row in rows]


async def add_password_reset(db: RequestDatabase, customer_id: int, token: str, now: datetime) -> None:
    """Store a reset token's digest, valid for an hour."""
    await db.execute(
        insert(password_resets).values(
            digest=digest(token), customer_id=customer_id, created_at=now, expires_at=now + RESET_TOKEN_LIFETIME
        )
    )


async def use_password_reset(db: RequestDatabase, token: str, now: datetime) -> int | None:
    """Use up an unused, unexpired reset token (one conditional UPDATE); its customer's id, else None."""
    statement = (
        update(password_resets)
        .where(
            password_resets.c.digest == digest(token),
            password_resets.c.used_at.is_(None),
            password_resets.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(password_resets.c.customer_id)
    )
    rows = await db.fetch_all(statement)
    return rows[0].customer_id if rows else None


addresses: Table = CustomerAddress.__table__  # type: ignore[assignment]
ADDRESS_ORDER = Keyset("ID", None, addresses.c.id, ascending=True)
MAX_ADDRESSES = 50


@cache
def addresses_by_id(dialect: str) -> Select[Any]:
    """Addresses by id, for the keyed loader (the caller checks whose they are)."""
    return select(addresses).where(keys_in(addresses.c.id, dialect))


@cache
def default_addresses_by_customer(dialect: str) -> Select[Any]:
    """The default address of each customer."""
    return select(addresses).where(keys_in(addresses.c.customer_id, dialect), addresses.c.is_default.is_(True))


def address_pages(window: Window, dialect: str) -> Select[Any]:
    """The same window of each customer's addresses, oldest first, with the customer as `parent_key`."""
    base = select(addresses).where(keys_in(addresses.c.customer_id, dialect))
    return partitioned_pages(base, addresses.c.customer_id, ADDRESS_ORDER, window)


@cache
def address_counts(dialect: str) -> Select[Any]:
    """How many addresses each customer has (customers without any are absent)."""
    return (
        select(addresses.c.customer_id.label("key"), func.count().label("count"))
        .where(keys_in(addresses.c.customer_id, dialect))
        .group_by(addresses.c.customer_id)
    )


async def count_addresses(db: RequestDatabase, customer_id: int) -> int:
    """How many addresses a customer has."""
    statement = select(func.count()).select_from(addresses).where(addresses.c.customer_id == customer_id)
    return int((await db.fetch_all(statement))[0][0])


async def lock_address(db: RequestDatabase, customer_id: int, address_id: int) -> Any:
    """One of the customer's addresses, locked until the transaction ends; None when it is not theirs."""
    statement = select(addresses).where(addresses.c.id == address_id, addresses.c.customer_id == customer_id)
    rows = await db.lock_rows(statement)
    return rows[0] if rows else None


async def insert_address(db: RequestDatabase, customer_id: int, values: dict[str, Any], now: datetime) -> Any:
    """Add an address (not the default); its row."""
    statement = (
        insert(addresses)
        .values(customer_id=customer_id, created_at=now, is_default=False, **values)
        .returning(*addresses.c)
    )
    return (await db.fetch_all(statement))[0]


async def update_address(db: RequestDatabase, address_id: int, values: dict[str, Any]) -> Any:
    """Change an address; its row as it is now."""
    statement = update(addresses).where(addresses.c.id == address_id).values(**values).returning(*addresses.c)
    return (await db.fetch_all(statement))[0]


async def delete_address(db: RequestDatabase, address_id: int) -> None:
    """Remove an address."""
    await db.execute(delete(addresses).where(addresses.c.id == address_id))


async def make_default_address(db: RequestDatabase, customer_id: int, address_id: int | None) -> None:
    """Make this address the customer's default (the old default first stops being one, as the unique
    partial index allows one default per customer); with None, the customer's oldest address."""
    await db.execute(
        update(addresses)
        .where(addresses.c.customer_id == customer_id, addresses.c.is_default.is_(True))
        .values(is_default=False)
    )
    if address_id is None:
        oldest = select(func.min(addresses.c.id)).where(addresses.c.customer_id == customer_id).scalar_subquery()
        await db.execute(update(addresses).where(addresses.c.id == oldest).values(is_default=True))
        return
    await db.execute(update(addresses).where(addresses.c.id == address_id).values(is_default=True))


async def void_password_resets(db: RequestDatabase, customer_id: int, now: datetime) -> None:
    """Use up every unused reset token of a customer (their password or email changed)."""
    await db.execute(
        update(password_resets)
        .where(password_resets.c.customer_id == customer_id, password_resets.c.used_at.is_(None))
        .values(used_at=now)
    )
