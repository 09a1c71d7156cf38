"""SQLAlchemy models of carts and their lines. A cart stores no prices: they are read from the catalog."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

__all__ = ["CART_STATUSES", "Cart", "CartLine"]

CART_STATUSES = ("OPEN", "MERGED", "CLOSED")


class Cart(Base):
    """A guest's or a customer's cart; its `token` is its ID's secret (random, never a sequence)."""

    __tablename__ = "carts"
    __table_args__ = (
        CheckConstraint(f"status IN {CART_STATUSES!r}", name="status"),
        # a customer has one open cart: two concurrent first carts cannot both be created
        Index(
            "uq_carts_open_per_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("status = 'OPEN'"),
            postgresql_where=text("status = 'OPEN'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CartLine(Base):
    """A variant and how many of it; one line per variant and cart."""

    __tablename__ = "cart_lines"
    __table_args__ = (
        CheckConstraint("quantity BETWEEN 1 AND 99", name="quantity_range"),
        UniqueConstraint("cart_id", "variant_id"),
        Index(None, "variant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    # RESTRICT: a line is never dropped silently; an archived product's line stays, unavailable
    variant_id: Mapped[int] = mapped_column(ForeignKey("product_variants.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
