"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.db.database import RequestDatabase
from app.db.loaders import Loaders
from app.settings import Settings

__all__ = ["Context"]


@dataclass
class Context:
    """One request's settings, database handle, fresh loaders and viewer."""

    settings: Settings
    db: RequestDatabase
    loaders: Loaders
    request: Any = None
    viewer: Any = None
    request_id: str = ""

    @classmethod
    def for_request(cls, settings: Settings, db: RequestDatabase, request: Any = None, request_id: str = "") -> Context:
        """A context with loaders that belong to this request alone."""
        return cls(settings=settings, db=db, loaders=Loaders(db), request=request, request_id=request_id)
