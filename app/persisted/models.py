"""The trusted documents table: operations imported from clients' manifests, found by their ID."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

__all__ = ["PersistedDocument"]


class PersistedDocument(Base):
    """One trusted operation: the ID its client sends, its text, and the SHA-256 of its text."""

    __tablename__ = "persisted_documents"

    id: Mapped[int] = mapped_column(primary_key=True)  # increasing: instances load what is newer than they hold
    document_id: Mapped[str] = mapped_column(String(200), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[str] = mapped_column(Text)
    client_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
