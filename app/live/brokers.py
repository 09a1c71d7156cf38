"""Brokers that carry live-update events: within one process, or between every instance through Redis pub/sub
(redis-py's asyncio client).

With Redis, every instance subscribes to one channel and picks out the topics its subscribers want: one
Redis subscription per process, however many GraphQL subscriptions it holds. When Redis goes away the
listener reconnects with a growing pause (subscribers stay connected) and delivery resumes when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from app.settings import Settings

__all__ = ["CHANNEL", "LocalBroker", "RedisBroker", "live_channel"]

CHANNEL = "storefront:live"
RECONNECT_PAUSES = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
HEALTH_CHECK_SECONDS = 15

log = logging.getLogger("storefront.live")

Deliver = Callable[[str, dict[str, Any]], None]


def live_channel(settings: Settings) -> str:
    """The Redis channel of the instances that share this database (and only those: another database's
    order 7 is another order)."""
    return f"{CHANNEL}:{settings.namespace}"


class LocalBroker:
    """Events stay in this process (no REDIS_URL): fine for one instance."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        """Hand published events to `deliver`."""
        self._deliver = deliver

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Deliver at once, in this process."""
        if self._deliver is not None:
            self._deliver(topic, payload)

    async def stop(self) -> None:
        """Nothing to release."""
        self._deliver = None


class RedisBroker:
    """Events go through one Redis pub/sub channel, so every instance hears every event."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        # the health check PINGs a quiet pub/sub connection, so a half-open one (a NAT or balancer dropped it
        # without a reset) is noticed and replaced rather than waited on forever
        self._client = redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=HEALTH_CHECK_SECONDS
        )
        self._channel = channel
        self._listener: asyncio.Task[None] | None = None

    async def start(self, deliver: Deliver) -> None:
        """Listen on the channel (in a task that outlives Redis outages)."""
        self._listener = asyncio.create_task(self._listen(deliver), name="live-redis-listener")

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """PUBLISH the event; raises RedisError when Redis is away."""
        await self._client.publish(self._channel, orjson.dumps({"topic": topic, "payload": payload}))

    async def stop(self) -> None:
        """Stop listening and close the connections."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self._client.aclose()

    async def _listen(self, deliver: Deliver) -> None:
        failures = 0
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if failures:
                    log.info("Redis pub/sub is back: live updates resume")
                failures = 0
                await _read(pubsub, deliver)
            except (RedisError, OSError) as exc:
                if failures == 0:
                    log.warning("lost Redis pub/sub (%s): reconnecting; live updates wait", type(exc).__name__)
                await asyncio.sleep(RECONNECT_PAUSES[min(failures, len(RECONNECT_PAUSES) - 1)])
                failures += 1
            except Exception:  # a bug, not an outage: say so, and keep listening
                log.exception("the Redis pub/sub listener failed; reconnecting")
                await asyncio.sleep(RECONNECT_PAUSES[min(failures, len(RECONNECT_PAUSES) - 1)])
                failures += 1
            finally:
                await _quietly_close(pubsub)


async def _read(pubsub: Any, deliver: Deliver) -> None:
    while True:
        message = await pubsub.get_message(timeout=5.0)
        if message is not None and message.get("type") == "message":
            _hand_on(message["data"], deliver)


async def _quietly_close(pubsub: Any) -> None:
    with suppress(RedisError, OSError):
        await pubsub.aclose()


def _hand_on(data: bytes, deliver: Deliver) -> None:
    try:
        event = orjson.loads(data)
        topic, payload = event["topic"], event["payload"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        log.warning("ignored a malformed live-update message")
        return
    if isinstance(topic, str) and isinstance(payload, dict):
        deliver(topic, payload)
