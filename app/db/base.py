"""The declarative base every domain's models share, and the loading of every domain's models.

Alembic compares one `MetaData` with the database, so every domain's tables join `Base.metadata`; a domain
declares its models in `app/<domain>/models.py`, and `load_models` imports each of them without this
package naming any domain.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, MetaData
from sqlalchemy.orm import DeclarativeBase

__all__ = ["NAMING_CONVENTION", "Base", "load_models", "utcnow"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention (Alembic diffs depend on it)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def load_models(package: str = "app") -> MetaData:
    """Import the `models` module of every subpackage of `package` that has one; their tables are then
    all in `Base.metadata`, which this returns."""
    root = importlib.import_module(package)
    for info in pkgutil.iter_modules(root.__path__):
        if info.ispkg and importlib.util.find_spec(f"{package}.{info.name}.models") is not None:
            importlib.import_module(f"{package}.{info.name}.models")
    return Base.metadata
