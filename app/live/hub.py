"""The live-update hub of one process: subscriptions by topic, events fanned out to them, published through a
broker (in process, or Redis so that every instance hears every event).

Publishing never waits: `publish` puts the event on a bounded outbox that a task drains into the broker.
Each subscription has a bounded queue; when a subscriber does not keep up, its oldest event is dropped (and
counted), so a slow or vanished subscriber never holds memory or a publisher.

An event reaches the subscribers of this process as one `EventScope`: the payload plus one database handle
and one loader set, fresh for the event and shared by every subscriber executing it, so a burst of 1,000
subscribers costs batched SQL, not 1,000 times each statement. The scope is released (its connection
returned) when the last subscriber is done with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["Broker", "EventScope", "LiveHub", "Resources", "Subscription", "TooManySubscriptions"]

log = logging.getLogger("storefront.live")

QUEUE_SIZE = 32  # events waiting per subscription before the oldest is dropped
OUTBOX_SIZE = 10_000  # events waiting to be published before new ones are dropped
MAX_SUBSCRIPTIONS = 10_000  # per process


class TooManySubscriptions(Exception):
    """The process holds as many subscriptions as it may."""


class Resources(Protocol):
    """What an event's execution shares: a database handle and its loaders, released once."""

    db: Any
    loaders: Any

    async def close(self) -> None:
        """Return the connection and close the loaders."""


class Broker(Protocol):
    """Carries events between processes (or within one)."""

    async def start(self, deliver: Callable[[str, dict[str, Any]], None]) -> None:
        """Begin handing every event published (by any process) to `deliver(topic, payload)`."""

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Send an event to every process; raises when it could not be sent."""

    async def stop(self) -> None:
        """Stop listening and release connections."""


class EventScope:
    """One event as this process's subscribers of its topic execute it."""

    __slots__ = ("_executing", "_holders", "_open", "_resources", "payload", "topic")

    def __init__(self, topic: str, payload: dict[str, Any], holders: int, open_resources: Callable[[], Resources]):
        self.topic = topic
        self.payload = payload
        self._holders = holders
        self._executing = 0
        self._open = open_resources
        self._resources: Resources | None = None

    def resources(self) -> Resources:
        """The event's database handle and loaders for a subscriber that executes it now (call `finished`
        after), opened when the first needs them."""
        if self._resources is None:
            self._resources = self._open()
        self._executing += 1
        return self._resources

    async def finished(self) -> None:
        """A subscriber's execution of the event is over. With none executing, the connection goes back to
        the pool (the loaders' rows stay): subscribers still to come, however late, hold none."""
        self._executing -= 1
        if self._executing == 0 and self._resources is not None:
            await self._resources.db.release_connection()

    async def release(self) -> None:
        """One subscriber is done with the event; the last one closes its resources."""
        resources = self._let_go()
        if resources is not None:
            await resources.close()

    def _let_go(self) -> Resources | None:
        """One holder fewer; the resources to close when it was the last and any were opened."""
        self._holders -= 1
        if self._holders == 0 and self._resources is not None:
            resources, self._resources = self._resources, None
            return resources
        return None


class Subscription:
    """One subscriber's events of its topics, oldest first; iterate it, close it when done."""

    def __init__(self, hub: LiveHub, topics: frozenset[str], size: int) -> None:
        self.topics = topics
        self._hub = hub
        self._events: deque[EventScope] = deque()
        self._size = size
        self._ready = asyncio.Event()
        self.closed = False

    def _offer(self, scope: EventScope) -> EventScope | None:
        """Queue an event; the event dropped to make room (the oldest), if any."""
        dropped = self._events.popleft() if len(self._events) >= self._size else None
        self._events.append(scope)
        self._ready.set()
        return dropped

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> EventScope:
        while not self._events:
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._events.popleft()

    async def close(self) -> None:
        """Stop receiving; release the events still queued."""
        if self.closed:
            return
        self.closed = True
        self._ready.set()
        self._hub._forget(self)
        while self._events:
            await self._events.popleft().release()


class LiveHub:
    """Subscriptions of one process, and the events published to them through the broker."""

    def __init__(
        self,
        broker: Broker,
        open_resources: Callable[[], Resources],
        *,
        registry: CollectorRegistry | None = None,
        queue_size: int = QUEUE_SIZE,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
    ) -> None:
        self.broker = broker
        self._open = open_resources
        self._queue_size = queue_size
        self._max = max_subscriptions
        self._topics: dict[str, set[Subscription]] = {}
        self._count = 0
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None  # made in the serving loop
        self._sender: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()
        self._metrics = _Metrics(registry or CollectorRegistry())

    @property
    def subscription_count(self) -> int:
        """How many subscriptions are open in this process."""
        return self._count

    async def start(self) -> None:
        """Listen to the broker and start publishing."""
        self._outbox = asyncio.Queue(OUTBOX_SIZE)
        await self.broker.start(self._deliver)
        self._sender = asyncio.create_task(self._send(self._outbox), name="live-publisher")

    async def stop(self) -> None:
        """Stop publishing and listening; subscriptions still open end."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        self._outbox = None
        await self.broker.stop()
        for subscription in {s for subs in self._topics.values() for s in subs}:
            await subscription.close()
        await asyncio.gather(*self._releases, return_exceptions=True)

    def subscribe(self, topics: list[str]) -> Subscription:
        """A new subscription to the events of `topics`; TooManySubscriptions when the process is full."""
        if self._count >= self._max:
            raise TooManySubscriptions(f"This server holds {self._max} subscriptions already; try again later")
        subscription = Subscription(self, frozenset(topics), self._queue_size)
        for topic in subscription.topics:
            self._topics.setdefault(topic, set()).add(subscription)
        self._count += 1
        self._metrics.subscriptions.set(self._count)
        return subscription

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Publish an event (without waiting): call it after the transaction that caused it commits."""
        if self._outbox is None:  # not serving: nobody can be subscribed
            return
        try:
            self._outbox.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self._metrics.dropped.labels("outbox").inc()
            log.warning("live-update outbox full: an event of %s was dropped", topic.split(":", 1)[0])

    def _forget(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self._topics.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._topics[topic]
        self._count -= 1
        self._metrics.subscriptions.set(self._count)

    def _deliver(self, topic: str, payload: dict[str, Any]) -> None:
        """Fan an event out to this process's subscribers of its topic (called by the broker)."""
        subscribers = self._topics.get(topic)
        if not subscribers:
            return
        scope = EventScope(topic, payload, len(subscribers), self._open)
        for subscription in subscribers:
            dropped = subscription._offer(scope)
            if dropped is not None:
                self._metrics.dropped.labels("slow_subscriber").inc()
                self._drop(dropped)
        self._metrics.delivered.inc(len(subscribers))

    def _drop(self, scope: EventScope) -> None:
        """Let go of an event a subscriber will never see: at once, unless it is the last holder of opened
        resources, whose closing (it awaits the database) gets a task of its own."""
        resources = scope._let_go()
        if resources is not None:
            task = asyncio.create_task(resources.close())
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    async def _send(self, outbox: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        while True:
            topic, payload = await outbox.get()
            try:
                await self.broker.publish(topic, payload)
                self._metrics.published.inc()
            except Exception as exc:  # the broker is away: this process's subscribers still hear it
                self._metrics.publish_failures.inc()
                log.warning("could not publish a live update (%s); delivered in this process only", type(exc).__name__)
                self._deliver(topic, payload)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.subscriptions = Gauge(
            "storefront_live_subscriptions", "Open GraphQL subscriptions in this process", registry=registry
        )
        self.published = Counter("storefront_live_events_published", "Live-update events published", registry=registry)
        self.publish_failures = Counter(
            "storefront_live_publish_failures", "Live-update events the broker did not take", registry=registry
        )
        self.delivered = Counter(
            "storefront_live_events_delivered", "Events queued to subscribers of this process", registry=registry
        )
        self.dropped = Counter(
            "storefront_live_events_dropped",
            "Events dropped: by a subscriber that did not keep up, or from a full outbox",
            ["reason"],
            registry=registry,
        )
