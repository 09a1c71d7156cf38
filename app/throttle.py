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

from app.observability import OccasionalWarning

__all__ = ["BackOff", "MemoryCounts", "RedisCounts", "Throttle", "redis_client"]

log = logging.getLogger("storefront.throttle")
MAX_MEMORY_KEYS = 100_000  # an attacker cycling through emails must not grow the process without bound
# Count an attempt and return the count and last time from before it, atomically.
ADD_SCRIPT = """
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
local last = redis.call('HGET', KEYS[1], 'last') or '0'
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {attempts, last}
"""
FORGIVE_SCRIPT = """
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'attempts', -1)
end
return 0
"""
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

    async def add(self, key: str, now: float, ttl: float) -> tuple[int, float]:
        """Count one more attempt, made at `now`, and return (attempts, time of the last) from before it, in
        one atomic step: of concurrent attempts each sees the ones before it. Forget the key `ttl` seconds
        after its last attempt."""

    async def forgive(self, key: str) -> None:
        """Take one attempt back (it turned out well)."""

    async def clear(self, key: str) -> None:
        """Forget a key."""


class MemoryCounts:
    """Counts in this process, the oldest dropped past `MAX_MEMORY_KEYS`."""

    def __init__(self) -> None:
        self._counts: OrderedDict[str, tuple[int, float, float]] = OrderedDict()

    async def read(self, key: str) -> tuple[int, float]:
        """See `Counts.read`."""
        return self._current(key)

    async def add(self, key: str, now: float, ttl: float) -> tuple[int, float]:
        """See `Counts.add` (no await inside: atomic in the event loop)."""
        before = self._current(key)
        self._counts[key] = (before[0] + 1, now, now + ttl)
        self._counts.move_to_end(key)
        while len(self._counts) > MAX_MEMORY_KEYS:
            self._counts.popitem(last=False)
        return before

    async def forgive(self, key: str) -> None:
        """See `Counts.forgive`."""
        found = self._counts.get(key)
        if found is not None and found[0] > 0:
            self._counts[key] = (found[0] - 1, found[1], found[2])

    async def clear(self, key: str) -> None:
        """See `Counts.clear`."""
        self._counts.pop(key, None)

    def _current(self, key: str) -> tuple[int, float]:
        found = self._counts.get(key)
        if found is None or found[2] < time.time():
            return 0, 0.0
        return found[0], found[1]


class RedisCounts:
    """Counts in Redis, shared by every instance; falls back to `MemoryCounts` while Redis is unreachable."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.fallback = MemoryCounts()
        self._warn = OccasionalWarning(log, "Redis is unreachable (%s); throttling with this process's counts")
        self._add = client.register_script(ADD_SCRIPT)
        self._forgive = client.register_script(FORGIVE_SCRIPT)

    async def read(self, key: str) -> tuple[int, float]:
        """See `Counts.read`."""
        try:
            attempts, last = await self.client.hmget(key, "attempts", "last")
        except (RedisError, OSError) as exc:
            self._warn(exc)
            return await self.fallback.read(key)
        return (int(attempts), float(last)) if attempts is not None and last is not None else (0, 0.0)

    async def add(self, key: str, now: float, ttl: float) -> tuple[int, float]:
        """See `Counts.add`: one Lua script, so concurrent attempts on every instance are counted in turn."""
        try:
            attempts, last = await self._add(keys=[key], args=[repr(now), math.ceil(ttl)])
        except (RedisError, OSError) as exc:
            self._warn(exc)
            return await self.fallback.add(key, now, ttl)
        return int(attempts) - 1, float(last)

    async def forgive(self, key: str) -> None:
        """See `Counts.forgive`."""
        try:
            await self._forgive(keys=[key])
        except (RedisError, OSError) as exc:
            self._warn(exc)
            await self.fallback.forgive(key)

    async def clear(self, key: str) -> None:
        """See `Counts.clear`."""
        try:
            await self.client.delete(key)
        except (RedisError, OSError) as exc:
            self._warn(exc)
        await self.fallback.clear(key)


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
        """Whole seconds the key must still wait; 0 when it may try now (nothing is counted)."""
        attempts, last = await self.counts.read(self._key(key))
        return _wait(last + self.backoff.delay(attempts) - time.time())

    async def attempt(self, key: str) -> int:
        """Count an attempt before making it; the whole seconds it must wait instead, 0 when it may go on.

        Counting first, atomically, is what holds under concurrency: twenty attempts sent at once are
        counted one after another, and all but the free ones are told to wait.
        """
        now = time.time()
        ttl = self.backoff.window_seconds + self.backoff.max_seconds
        attempts, last = await self.counts.add(self._key(key), now, ttl)
        delay = self.backoff.delay(attempts)
        # Within the free attempts, never a wait: a concurrent attempt's clock may be a little ahead.
        return _wait(last + delay - now) if delay else 0

    async def forgive(self, key: str) -> None:
        """Take back an attempt that went well (a sign-in from an address shared by many)."""
        await self.counts.forgive(self._key(key))

    async def clear(self, key: str) -> None:
        """Forget a key's attempts (a successful sign-in)."""
        await self.counts.clear(self._key(key))


def _wait(seconds: float) -> int:
    return math.ceil(seconds) if seconds > 0 else 0
