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

from app.persisted.models import PersistedDocument

__all__ = ["MAX_QUERY_CHARS", "QueryStore", "TrustedDocuments", "sha256_of"]

log = logging.getLogger("storefront.persisted")
MAX_QUERY_CHARS = 100_000  # a longer query is not kept (the request body limit is 1 MiB)
MEMORY_QUERIES = 10_000
QUERY_TTL_SECONDS = 7 * 86400
RELOAD_EVERY_SECONDS = 1.0
WARN_EVERY_SECONDS = 60.0


def sha256_of(query: str) -> str:
    """The hex SHA-256 of a query's UTF-8 text, as Apollo's clients and manifests compute it."""
    return hashlib.sha256(query.encode()).hexdigest()


class TrustedDocuments:
    """The trusted documents, loaded from the database and kept in process.

    A lookup that misses loads the documents added since the last load, at most once a second, so a
    manifest imported while instances run is seen by all of them within a second, and unknown IDs sent in a
    stream cost at most one query a second.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._by_id: dict[str, str] = {}
        self._hashes: set[str] = set()
        self._last = 0  # the largest row id loaded
        self._loaded_at = -math.inf
        self._lock = asyncio.Lock()

    async def find(self, document_id: str) -> str | None:
        """The text of the trusted document with this ID; None when there is none."""
        found = self._by_id.get(document_id)
        if found is None and await self._reload():
            found = self._by_id.get(document_id)
        return found

    async def trusts(self, query: str) -> bool:
        """Whether a query's text is that of a trusted document (a client sending the text, not the ID)."""
        digest = sha256_of(query)
        if digest in self._hashes:
            return True
        return await self._reload() and digest in self._hashes

    async def _reload(self) -> bool:
        """Load the documents added since the last load, unless one ran within the second; whether it ran."""
        async with self._lock:
            if time.monotonic() - self._loaded_at < RELOAD_EVERY_SECONDS:
                return False
            columns = (PersistedDocument.id, PersistedDocument.document_id, PersistedDocument.sha256)
            query = select(*columns, PersistedDocument.body).where(PersistedDocument.id > self._last)
            async with self.engine.connect() as connection:
                rows = (await connection.execute(query.order_by(PersistedDocument.id))).all()
            for row in rows:
                self._by_id[row.document_id] = row.body
                self._hashes.add(row.sha256)
                self._last = max(self._last, row.id)
            self._loaded_at = time.monotonic()
            return True


class QueryStore:
    """Automatic persisted queries by SHA-256: in Redis when given one (shared, kept a week), and in a
    bounded in-process cache in front of it; while Redis is unreachable, in process only, with a warning."""

    def __init__(self, redis: Redis | None = None, prefix: str = "sf:apq:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._warned_at = -math.inf

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
        self._memory[digest] = query
        self._memory.move_to_end(digest)
        while len(self._memory) > MEMORY_QUERIES:
            self._memory.popitem(last=False)

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("Redis is unreachable (%s); persisted queries are kept in this process", type(exc).__name__)
