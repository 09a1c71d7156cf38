"""Accounts: passwords and roles of customers, sign-in sessions and their refresh tokens, password-reset
tokens and addresses; one review per customer and product, and reviews indexed by customer.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 14:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


EMAIL_INDEX = "uq_customers_email_lower"


def upgrade() -> None:
    # SQLite adds a CHECK constraint by copying the table, and cannot reflect the expression index on
    # lower(email) to copy it along: the index is dropped first and made again after.
    op.drop_index(EMAIL_INDEX, table_name="customers")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("role", sa.String(length=16), server_default="CUSTOMER", nullable=False))
        batch_op.create_check_constraint("role_known", "role IN ('CUSTOMER', 'STAFF')")
    op.create_index(EMAIL_INDEX, "customers", [sa.text("lower(email)")], unique=True)

    op.create_table(
        "customer_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cookie", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_sessions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_sessions")),
    )
    with op.batch_alter_table("customer_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_sessions_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_sessions_revoked_at"), ["revoked_at"], unique=False)

    op.create_table(
        "refresh_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["customer_sessions.id"],
            name=op.f("fk_refresh_tokens_session_id_customer_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_refresh_tokens")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_session_id"), ["session_id"], unique=False)

    op.create_table(
        "password_resets",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_password_resets_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_password_resets")),
    )
    op.create_index(op.f("ix_password_resets_customer_id"), "password_resets", ["customer_id"], unique=False)

    op.create_table(
        "customer_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("address1", sa.String(length=200), nullable=False),
        sa.Column("address2", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("province", sa.String(length=100), nullable=False),
        sa.Column("zip", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_addresses_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_addresses")),
    )
    op.create_index(
        op.f("ix_customer_addresses_customer_id_id"), "customer_addresses", ["customer_id", "id"], unique=False
    )
    op.create_index(
        "uq_customer_addresses_default",
        "customer_addresses",
        ["customer_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )


    with op.batch_alter_table("reviews", schema=None, reflect_kwargs={"resolve_fks": False}) as batch_op:
        batch_op.drop_index("ix_reviews_customer_id")
        batch_op.create_index(
            batch_op.f("ix_reviews_customer_id_created_at_id"), ["customer_id", "created_at", "id"], unique=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_reviews_product_id_customer_id"), ["product_id", "customer_id"])


def downgrade() -> None:
    with op.batch_alter_table("reviews", schema=None, reflect_kwargs={"resolve_fks": False}) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_reviews_product_id_customer_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_reviews_customer_id_created_at_id"))
        batch_op.create_index("ix_reviews_customer_id", ["customer_id"], unique=False)
    op.drop_index("uq_customer_addresses_default", table_name="customer_addresses")
    op.drop_index(op.f("ix_customer_addresses_customer_id_id"), table_name="customer_addresses")
    op.drop_table("customer_addresses")
    op.drop_index(op.f("ix_password_resets_customer_id"), table_name="password_resets")
    op.drop_table("password_resets")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_session_id"))
    op.drop_table("refresh_tokens")
    with op.batch_alter_table("customer_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_sessions_revoked_at"))
        batch_op.drop_index(batch_op.f("ix_customer_sessions_customer_id"))
    op.drop_table("customer_sessions")
    op.drop_index(EMAIL_INDEX, table_name="customers")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint("role_known", type_="check")
        batch_op.drop_column("role")
        batch_op.drop_column("password_hash")
    op.create_index(EMAIL_INDEX, "customers", [sa.text("lower(email)")], unique=True)
