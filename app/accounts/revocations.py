"""Recently revoked sessions, held in memory, so that authenticating a request touches no database.

An access token lives 15 minutes, so a session revoked longer ago than that has no live access token
left: the list only needs the sessions revoked in the last 15 minutes, a small set. Each process adds the
sessions it revokes at once and polls `customer_sessions` every second for the others' revocations, so an
instance honours a logout elsewhere within a second. The poll runs on an engine of its own (one connection),
so it never waits behind requests for the pool, nor counts among their statements.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.models import CustomerSession
from app.accounts.tokens import ACCESS_TOKEN_LIFETIME
from app.db.base import utcnow

__all__ = ["POLL_SECONDS", "Revocations"]

POLL_SECONDS = 1.0
KEPT_FOR = ACCESS_TOKEN_LIFETIME + ACCESS_TOKEN_LIFETIME / 15  # a minute of margin for clock drift

log = logging.getLogger("storefront.accounts")


class Revocations:
    """The ids of sessions revoked within an access token's lifetime, refreshed from the database."""

    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self._revoked: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def is_revoked(self, session_id: str) -> bool:
        """Whether the session was revoked (as far as this process knows)."""
        return session_id in self._revoked

    def add(self, session_id: str, revoked_at: datetime) -> None:
        """Record a revocation made by this process, effective at once."""
        self._revoked[session_id] = revoked_at

    async def refresh(self) -> None:
        """Read the recent revocations from the database and forget those older than a token's lifetime."""
        if self.engine is None:
            return
        since = utcnow() - KEPT_FOR
        statement = select(CustomerSession.id, CustomerSession.revoked_at).where(CustomerSession.revoked_at >= since)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        recent = {row.id: row.revoked_at for row in rows}
        for session_id, revoked_at in list(self._revoked.items()):
            if _aware(revoked_at) >= since:
                recent.setdefault(session_id, revoked_at)  # made here, perhaps not yet committed
        self._revoked = recent

    async def start(self) -> None:
        """Load the recent revocations, then keep polling in the background until `stop`."""
        await self._refresh_logged()
        self._task = asyncio.create_task(self._poll(), name="session-revocations")

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self._refresh_logged()

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # the database is down: keep what is known and try again
            log.warning("could not refresh the session revocations: %s", type(exc).__name__)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
