"""Where persisted documents are found: trusted documents in the database (kept in process, so a lookup costs
no SQL), and automatic persisted queries in Redis when there is one (shared by every instance) and in
process otherwise."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import OrderedDict
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from app.observability import OccasionalWarning
from app.persisted.models import PersistedDocument

__all__ = ["MAX_QUERY_CHARS", "QueryStore", "TrustedDocuments", "sha256_of"]

log = logging.getLogger("storefront.persisted")
MAX_QUERY_CHARS = 20_000  # a longer query is not kept (its client sends the text each time)
MEMORY_CHARS = 8_000_000  # the in-process cache holds at most this much query text
QUERY_TTL_SECONDS = 86400
RELOAD_EVERY_SECONDS = 1.0


def sha256_of(query: str) -> str:
    """The hex SHA-256 of a query's UTF-8 text, as Apollo's clients and manifests compute it."""
    return hashlib.sha256(query.encode()).hexdigest()


class TrustedDocuments:
    """The trusted documents, loaded from the database and kept in process.

    A lookup that misses loads them all again (the table holds a few hundred operations), at most once a
    second: a manifest imported while instances run is seen by every instance within a second of its first
    request, and unknown IDs sent in a stream cost at most one query a second. While the database cannot
    be read, lookups answer from what was loaded, with a warning.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._by_id: dict[str, str] = {}
        self._by_sha256: dict[str, str] = {}
        self._loaded_at = -math.inf
        self._warn = OccasionalWarning(log, "trusted documents could not be read (%s); using those loaded")
        self._lock = asyncio.Lock()
        self.loads = 0  # how many times the table was read (for tests and metrics)

    async def find(self, document_id: str, *, by_sha256: bool = False) -> str | None:
        """The text of the trusted document with this ID (or, `by_sha256`, this text's SHA-256); None when
        there is none."""
        found = self._lookup(document_id, by_sha256)
        if found is None and await self._reload():
            found = self._lookup(document_id, by_sha256)
        return found

    async def trusts(self, query: str) -> bool:
        """Whether a query's text is that of a trusted document (a client sending the text, not the ID)."""
        digest = sha256_of(query)
        if digest in self._by_sha256:
            return True
        return await self._reload() and digest in self._by_sha256

    def _lookup(self, document_id: str, by_sha256: bool) -> str | None:
        found = self._by_id.get(document_id)
        return self._by_sha256.get(document_id) if found is None and by_sha256 else found

    async def _reload(self) -> bool:
        """Load every trusted document, unless a load was tried within the second; whether it loaded."""
        async with self._lock:
            if time.monotonic() - self._loaded_at < RELOAD_EVERY_SECONDS:
                return False
            self._loaded_at = time.monotonic()  # a failed load is not retried by every waiting request
            query = select(PersistedDocument.document_id, PersistedDocument.sha256, PersistedDocument.body)
            try:
                async with self.engine.connect() as connection:
                    rows = (await connection.execute(query)).all()
            except Exception as exc:  # the database unreachable: answer from what is loaded
                self._warn(exc)
                return False
            self._by_id = {row.document_id: row.body for row in rows}
            self._by_sha256 = {row.sha256: row.body for row in rows}
            self.loads += 1
            return True


class QueryStore:
    """Automatic persisted queries by SHA-256: in Redis when given one (shared, kept a day), and in an
    in-process cache of bounded size in front of it; while Redis is unreachable, in process only, with a
    warning. Queries over MAX_QUERY_CHARS are not kept."""

    def __init__(self, redis: Redis | None = None, prefix: str = "sf:apq:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._chars = 0  # the text the cache holds
        self._warn = OccasionalWarning(log, "Redis is unreachable (%s); persisted queries are kept in this process")

    async def get(self, digest: str) -> str | None:
        """The query registered under a SHA-256; None when unknown."""
        found = self._memory.get(digest)
        if found is not None:
            self._memory.move_to_end(digest)
            return found
        if self.redis is None:
            return None
        try:
            raw = await self.redis.get(self.prefix + digest)
        except (RedisError, OSError) as exc:
            self._warn(exc)
            return None
        if raw is None:
            return None
        query = raw.decode() if isinstance(raw, bytes) else str(raw)
        if sha256_of(query) != digest:  # never serve a text under another's hash
            return None
        self._remember(digest, query)
        return query

    async def put(self, digest: str, query: str) -> None:
        """Register a query under its SHA-256 (the caller has checked they match)."""
        if len(query) > MAX_QUERY_CHARS:
            return
        self._remember(digest, query)
        if self.redis is not None:
            try:
                await self.redis.set(self.prefix + digest, query, ex=QUERY_TTL_SECONDS)
            except (RedisError, OSError) as exc:
                self._warn(exc)

    async def close(self) -> None:
        """Close the connection to Redis, if any."""
        if self.redis is not None:
            await self.redis.aclose()

    def _remember(self, digest: str, query: str) -> None:
        previous = self._memory.pop(digest, None)
        self._chars += len(query) - (len(previous) if previous is not None else 0)
        self._memory[digest] = query
        while self._chars > MEMORY_CHARS:
            self._chars -= len(self._memory.popitem(last=False)[1])
