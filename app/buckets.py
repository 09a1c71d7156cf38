"""Leaky buckets of points per key: each holds up to `capacity` points and refills at `rate` points a second;
taking points succeeds only when the bucket holds them all, and a refusal takes nothing.

Shared by every instance through Redis when `REDIS_URL` is set: one Lua script refills and takes in one
atomic step, on Redis's own clock (so the instances' clocks need not agree). In process otherwise. When Redis
cannot be reached the buckets carry on in process and log a warning (once a minute), never an error.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.observability import OccasionalWarning

__all__ = ["Bucket", "Buckets", "MemoryBuckets", "RedisBuckets", "Taken"]

log = logging.getLogger("storefront.buckets")
MAX_MEMORY_KEYS = 100_000  # a client cycling through addresses must not grow the process without bound
RETRY_REDIS_AFTER_SECONDS = 5.0
# KEYS[1]: the bucket; ARGV: capacity, rate (points a second), points to take (negative: give back).
# Returns {1 if taken else 0, points left}, the latter as a string: Redis would truncate a Lua float.
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local points = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'points', 'at')
local available = tonumber(held[1]) or capacity
local at = tonumber(held[2]) or now
available = math.min(capacity, available + math.max(0, now - at) * rate)
local taken = 0
if points <= available then
  available = math.min(capacity, available - points)
  taken = 1
end
redis.call('HSET', KEYS[1], 'points', string.format('%.6f', available), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - available) / rate * 1000) + 1000)
return {taken, string.format('%.6f', available)}
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket's size and refill rate."""

    capacity: float
    rate: float  # points a second

    def wait(self, points: float, available: float) -> float:
        """Seconds until a bucket holding `available` points holds `points`."""
        return max(0.0, (points - available) / self.rate)


@dataclass(frozen=True, slots=True)
class Taken:
    """The outcome of taking points: whether they were taken, and what the bucket holds now."""

    taken: bool
    available: float


class Buckets(Protocol):
    """Where buckets are kept, per key."""

    async def take(self, key: str, points: float, bucket: Bucket) -> Taken:
        """Refill the key's bucket for the time passed, then take `points` if it holds them (atomically: of
        concurrent takers each sees the ones before). Negative points give back, never past capacity."""


class MemoryBuckets:
    """Buckets in this process, the least recently used dropped past `MAX_MEMORY_KEYS` (a dropped bucket is
    full again, which only ever favours the client)."""

    def __init__(self) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (points, monotonic time)

    async def take(self, key: str, points: float, bucket: Bucket) -> Taken:
        """See `Buckets.take` (no await inside: atomic in the event loop)."""
        return self.take_now(key, points, bucket)

    def take_now(self, key: str, points: float, bucket: Bucket) -> Taken:
        """`take`, synchronously."""
        now = time.monotonic()
        held, at = self._buckets.get(key, (bucket.capacity, now))
        available = min(bucket.capacity, held + max(0.0, now - at) * bucket.rate)
        taken = points <= available
        if taken:
            available = min(bucket.capacity, available - points)
        self._buckets[key] = (available, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > MAX_MEMORY_KEYS:
            self._buckets.popitem(last=False)
        return Taken(taken, available)


class RedisBuckets:
    """Buckets in Redis, shared by every instance; in process while Redis cannot be reached."""

    def __init__(self, client: Redis, prefix: str = "sf:bucket:") -> None:
        self.client = client
        self.prefix = prefix
        self.fallback = MemoryBuckets()
        self._warn = OccasionalWarning(log, "Redis is unreachable (%s); rate limiting with this process's buckets")
        self._down_until = -math.inf  # after a failure, Redis is left alone for a while
        self._take = client.register_script(TAKE_SCRIPT)

    async def take(self, key: str, points: float, bucket: Bucket) -> Taken:
        """See `Buckets.take`: one Lua script, so every instance's requests are counted in turn."""
        if time.monotonic() < self._down_until:  # a Redis that drops packets must not cost every request
            return self.fallback.take_now(key, points, bucket)
        try:
            taken, available = await self._take(
                keys=[self.prefix + key], args=[repr(bucket.capacity), repr(bucket.rate), repr(points)]
            )
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
            self._warn(exc)
            return self.fallback.take_now(key, points, bucket)
        return Taken(bool(taken), float(available))

    async def close(self) -> None:
        """Close the connection to Redis."""
        await self.client.aclose()
