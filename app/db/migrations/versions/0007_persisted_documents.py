"""Trusted documents: operations imported from clients' manifests.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persisted_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("client_name", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persisted_documents")),
        sa.UniqueConstraint("document_id", name=op.f("uq_persisted_documents_document_id")),
    )
    op.create_index(op.f("ix_persisted_documents_sha256"), "persisted_documents", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_persisted_documents_sha256"), table_name="persisted_documents")
    op.drop_table("persisted_documents")
