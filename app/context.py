"""The per-request context every resolver receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    # per object type, the row columns the executing document reads (see app.graphql.columns)
    columns: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    def columns_of(self, type_name: str) -> frozenset[str] | None:
        """The columns of rows of this object type the document reads; None for every column."""
        return self.columns.get(type_name)

    @classmethod
    def for_request(cls, settings: Settings, db: RequestDatabase, request: Any = None, request_id: str = "") -> Context:
        """A context with loaders that belong to this request alone."""
        return cls(settings=settings, db=db, loaders=Loaders(db), request=request, request_id=request_id)
