"""Operator tasks on accounts, for the command line: making staff accounts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts import sql
from app.accounts.passwords import Passwords, password_weakness
from app.db.base import utcnow
from app.db.database import request_database

__all__ = ["StaffError", "create_staff"]


class StaffError(Exception):
    """The staff account cannot be made as asked (a weak password, an email already taken)."""


async def create_staff(
    engine: AsyncEngine, email: str, password: str | None, display_name: str, *, promote: bool = False
) -> str:
    """Make a staff account, or with `promote` make an existing account staff (its password unchanged);
    what was done, in words."""
    email = email.strip().lower()
    async with request_database(engine) as db, db.transaction():
        found = await sql.customer_by_email(db, email)
        if found is not None:
            if not promote:
                raise StaffError(f"an account with {email} exists; pass --promote to make it staff")
            await sql.update_customer(db, found.id, role="STAFF")
            return f"{email} is now staff"
        if password is None:
            raise StaffError("a new staff account needs a password")
        weakness = password_weakness(password, email)
        if weakness is not None:
            raise StaffError(weakness)
        row = await sql.create_customer(db, email, display_name, await Passwords().hash(password), utcnow())
        await sql.update_customer(db, row.id, role="STAFF")
    return f"created the staff account {email}"
