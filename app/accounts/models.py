"""SQLAlchemy models of accounts: customers, their sign-in sessions and the sessions' refresh tokens,
password-reset tokens, and addresses.

A session is one sign-in: every refresh token rotated from it belongs to it (its "family"), so revoking the
session refuses every token it ever issued. Tokens are stored as SHA-256 digests, never as issued.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

__all__ = ["ROLES", "Customer", "CustomerAddress", "CustomerSession", "PasswordReset", "RefreshToken"]

ROLES = ("CUSTOMER", "STAFF")


class Customer(Base):
    """A shopper or a member of staff; email is unique whatever its case."""

    __tablename__ = "customers"
    __table_args__ = (CheckConstraint("role IN ('CUSTOMER', 'STAFF')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # None for a customer who never set a password (the demo catalog's reviewers): they cannot sign in.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[str] = mapped_column(String(16), default="CUSTOMER", server_default="CUSTOMER")


Index("uq_customers_email_lower", func.lower(Customer.email), unique=True)


class CustomerSession(Base):
    """One sign-in of a customer, by bearer tokens or by the session cookie."""

    __tablename__ = "customer_sessions"
    __table_args__ = (Index(None, "customer_id"), Index(None, "revoked_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, the access token's `sid`
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    cookie: Mapped[bool] = mapped_column(Boolean, default=False)


class RefreshToken(Base):
    """A refresh token of a session, by digest; `used_at` is set when it is rotated."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index(None, "session_id"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("customer_sessions.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class PasswordReset(Base):
    """A single-use password-reset token, by digest, valid for an hour."""

    __tablename__ = "password_resets"
    __table_args__ = (Index(None, "customer_id"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class CustomerAddress(Base):
    """A postal address of a customer; at most one of a customer's addresses is the default."""

    __tablename__ = "customer_addresses"
    __table_args__ = (
        Index(None, "customer_id", "id"),
        Index(
            "uq_customer_addresses_default",
            "customer_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    company: Mapped[str] = mapped_column(String(200), default="")
    address1: Mapped[str] = mapped_column(String(200))
    address2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100))
    province: Mapped[str] = mapped_column(String(100), default="")
    zip: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    phone: Mapped[str] = mapped_column(String(40), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
