"""SQLAlchemy models of orders, their lines (prices, titles and SKUs copied at checkout) and status history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

__all__ = ["ORDER_STATUSES", "Order", "OrderLine", "OrderStatusChange", "PaymentEvent"]

ORDER_STATUSES = ("PAYMENT_PENDING", "PAID", "FULFILLED", "DELIVERED", "CANCELLED")
MONEY = Numeric(12, 2)


class Order(Base):
    """An order made by a checkout; `idempotency_key` is unique, so a retried checkout finds it again."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN {ORDER_STATUSES!r}", name="status"),
        Index(None, "customer_id", "created_at", "id"),
        Index("ix_orders_status_created_at", "status", "created_at"),  # the sweeper's pending orders
        Index("ix_orders_payment", "payment_provider", "payment_reference"),  # a webhook's order
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="RESTRICT"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    access_digest: Mapped[str] = mapped_column(String(64), unique=True)  # of the guest's access token
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16))
    currency_code: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(MONEY)
    total: Mapped[Decimal] = mapped_column(MONEY)
    shipping_address: Mapped[dict[str, Any]] = mapped_column()
    payment_provider: Mapped[str] = mapped_column(String(32))
    payment_reference: Mapped[str | None] = mapped_column(String(200), default=None)
    # A network provider may keep a failed answer under an idempotency key (Stripe does for its 500s): each
    # attempt that could not be made asks again under a key of its own.
    payment_attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class OrderLine(Base):
    """A line of an order, as it was bought: titles, SKU and prices are copies, not references."""

    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"), Index(None, "order_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("product_variants.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(255))
    variant_title: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    total_price: Mapped[Decimal] = mapped_column(MONEY)


class OrderStatusChange(Base):
    """When an order entered a status."""

    __tablename__ = "order_status_changes"
    __table_args__ = (Index(None, "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PaymentEvent(Base):
    """A payment provider's webhook event, recorded once: a replayed or duplicated event changes nothing."""

    __tablename__ = "payment_events"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
