"""Throttles: exponential back-off per key (an email, a client address) after a number of free attempts.

Counts are shared by every instance through Redis when `REDIS_URL` is set (keys hashed, so no email is
stored there) and kept in process otherwise. When Redis cannot be reached the throttle carries on with
its in-process counts and logs a warning (once a minute), never an error to the client.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["BackOff", "MemoryCounts", "RedisCounts", "Throttle", "redis_client"]

log = logging.getLogger("storefront.throttle")
MAX_MEMORY_KEYS = 100_000  # an attacker cycling through emails must not grow the process without bound
WARN_EVERY_SECONDS = 60.0
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class BackOff:
    """`free` attempts within `window_seconds`, then a wait doubling from `base_seconds` up to `max_seconds`."""

    free: int
    window_seconds: float
    base_seconds: float = 1.0
    max_seconds: float = 900.0

    def delay(self, attempts: int) -> float:
        """How long after the last attempt the next one may come, after `attempts` counted attempts."""
        if attempts < self.free:
            return 0.0
        return min(self.max_seconds, self.base_seconds * 2 ** (attempts - self.free))


class Counts(Protocol):
    """Where a throttle keeps, per key, how many attempts it counted and when the last one was."""

    async def read(self, key: str) -> tuple[int, float]:
        """(attempts, time of the last) of a key; (0, 0) when unknown or forgotten."""

    async def add(self, key: str, now: float, ttl: float) -> None:
        """Count one more attempt, made at `now`; forget the key `ttl` seconds after its last attempt."""

    async def clear(self, key: str) -> None:
        """Forget a key."""


class MemoryCounts:
    """Counts in this process, the oldest dropped past `MAX_MEMORY_KEYS`."""

    def __init__(self) -> None:
        self._counts: OrderedDict[str, tuple[int, float, float]] = OrderedDict()

    async def read(self, key: str) -> tuple[int, float]:
        """See `Counts.read`."""
        found = self._counts.get(key)
        if found is None or found[2] < time.time():
            return 0, 0.0
        return found[0], found[1]

    async def add(self, key: str, now: float, ttl: float) -> None:
        """See `Counts.add`."""
        attempts, _ = await self.read(key)
        self._counts[key] = (attempts + 1, now, now + ttl)
        self._counts.move_to_end(key)
        while len(self._counts) > MAX_MEMORY_KEYS:
            self._counts.popitem(last=False)

    async def clear(self, key: str) -> None:
        """See `Counts.clear`."""
        self._counts.pop(key, None)


class RedisCounts:
    """Counts in Redis, shared by every instance; falls back to `MemoryCounts` while Redis is unreachable."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.fallback = MemoryCounts()
        self._warned_at = -math.inf

    async def read(self, key: str) -> tuple[int, float]:
        """See `Counts.read`."""
        try:
            attempts, last = await self.client.hmget(key, "attempts", "last")
        except (RedisError, OSError) as exc:
            self._warn(exc)
            return await self.fallback.read(key)
        return (int(attempts), float(last)) if attempts is not None and last is not None else (0, 0.0)

    async def add(self, key: str, now: float, ttl: float) -> None:
        """See `Counts.add`."""
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, "attempts", 1)
                pipe.hset(key, "last", repr(now))
                pipe.expire(key, math.ceil(ttl))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._warn(exc)
            await self.fallback.add(key, now, ttl)

    async def clear(self, key: str) -> None:
        """See `Counts.clear`."""
        try:
            await self.client.delete(key)
        except (RedisError, OSError) as exc:
            self._warn(exc)
        await self.fallback.clear(key)

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("Redis is unreachable (%s); throttling with this process's counts", type(exc).__name__)


def redis_client(url: str) -> Redis:
    """A Redis client for throttles: short timeouts, so an unreachable Redis costs little per request."""
    return Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS)


class Throttle:
    """One throttle (sign-in per email, say): how long a key must wait, and counting its attempts."""

    def __init__(self, name: str, backoff: BackOff, counts: Counts) -> None:
        self.name = name
        self.backoff = backoff
        self.counts = counts

    def _key(self, key: str) -> str:
        return f"sf:throttle:{self.name}:{hashlib.sha256(key.encode()).hexdigest()}"

    async def retry_after(self, key: str) -> int:
        """Whole seconds the key must still wait; 0 when it may try now."""
        attempts, last = await self.counts.read(self._key(key))
        wait = last + self.backoff.delay(attempts) - time.time()
        return math.ceil(wait) if wait > 0 else 0

    async def count(self, key: str) -> None:
        """Count an attempt (a failed sign-in, a recovery request)."""
        ttl = self.backoff.window_seconds + self.backoff.max_seconds
        await self.counts.add(self._key(key), time.time(), ttl)

    async def clear(self, key: str) -> None:
        """Forget a key's attempts (a successful sign-in)."""
        await self.counts.clear(self._key(key))
