"""Orders count their attempts at a network payment, and are found by their payment reference.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE on both databases (SQLite adds and drops a column in place since 3.35)
    op.add_column("orders", sa.Column("payment_attempt", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_orders_payment", "orders", ["payment_provider", "payment_reference"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_payment", table_name="orders")
    op.drop_column("orders", "payment_attempt")
