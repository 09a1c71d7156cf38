"""SQLAlchemy 2.0 typed models of the catalog; constraints live in the database, not only in code."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.accounts.models import Customer  # noqa: F401  (reviews reference customers: same metadata)
from app.db.base import Base, utcnow

__all__ = [
    "PRODUCT_STATUSES",
    "Category",
    "Product",
    "ProductImage",
    "ProductVariant",
    "Review",
]

PRODUCT_STATUSES = ("ACTIVE", "DRAFT", "ARCHIVED")
MONEY = Numeric(12, 2)


class Category(Base):
    """A node of the category tree."""

    __tablename__ = "categories"
    __table_args__ = (Index(None, "parent_id", "position", "id"), Index(None, "position", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(160), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Product(Base):
    """A product; min_price and the rating columns are kept in step with variants and reviews for sorting."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint(f"status IN {PRODUCT_STATUSES!r}", name="status"),
        CheckConstraint("min_price >= 0", name="min_price_not_negative"),
        Index(None, "category_id"),
        Index(None, "vendor"),
        Index(None, "status", "title", "id"),
        Index(None, "status", "min_price", "id"),
        Index(None, "status", "created_at", "id"),
        Index(None, "status", "rating_average", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    vendor: Mapped[str] = mapped_column(String(120))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    min_price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    rating_average: Mapped[Decimal] = mapped_column(Numeric(4, 3), default=Decimal("0"))
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ProductVariant(Base):
    """A purchasable variant of a product (one size and colour, say)."""

    __tablename__ = "product_variants"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("compare_at_price IS NULL OR compare_at_price >= 0", name="compare_at_not_negative"),
        CheckConstraint("stock_quantity >= 0", name="stock_not_negative"),
        Index(None, "product_id", "position", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    selected_options: Mapped[list[Any]] = mapped_column(default=list)
    price: Mapped[Decimal] = mapped_column(MONEY)
    compare_at_price: Mapped[Decimal | None] = mapped_column(MONEY)
    stock_quantity: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ProductImage(Base):
    """An image of a product, in display order."""

    __tablename__ = "product_images"
    __table_args__ = (
        CheckConstraint("width > 0 AND height > 0", name="positive_size"),
        Index(None, "product_id", "position", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(1000))
    alt_text: Mapped[str] = mapped_column(String(500), default="")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Review(Base):
    """A customer's review of a product, rated 1 to 5."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index(None, "product_id", "created_at", "id"),
        Index(None, "customer_id", "created_at", "id"),
        UniqueConstraint("product_id", "customer_id"),  # one review per customer and product
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
