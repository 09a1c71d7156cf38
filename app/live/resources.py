"""What one live-update event's executions share: a database handle and a loader set, fresh for the event."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.database import RequestDatabase
from app.db.loaders import Loaders

__all__ = ["EventResources"]


class EventResources:
    """A database handle (its connection opened at the first statement) and loaders over it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.db = RequestDatabase(engine)
        self.loaders = Loaders(self.db)

    async def close(self) -> None:
        """Drop the loaders and return the connection."""
        self.loaders.close()
        await self.db.close()
