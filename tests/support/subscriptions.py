"""A tiny schema served over the subscription transports (WebSocket and SSE) by a live uvicorn, and what the
tests need to watch it from outside the server's thread.

The schema's subscriptions record when their streams open and close (in their `finally`), per tag, so a test
knows the server really closed an iterator; a probe around the app knows when the server has finished
answering a connection and which tasks its event loop still runs.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.types import Info
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from app.errors import CsrfRejected, Unauthenticated
from app.graphql.http import GraphQLHTTP
from app.graphql.pipeline import Operation, Pipeline
from app.graphql.sse import GraphQLSSE, wants_event_stream
from app.graphql.websocket import GRAPHQL_TRANSPORT_WS, GraphQLWebSocket
from app.web.request_id import RequestIdMiddleware
from tests.support.live import live_server

TIMEOUT = 5.0  # the longest any test waits for the server: a bound on a failure, never a synchronisation
ALLOWED_ORIGIN = "http://shop.example"

# --------------------------------------------------------------------------- what the server did


class Streams:
    """Counts, per tag, the subscription streams opened and closed; waited on from the test's loop."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.opened: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()

    def open(self, tag: str) -> None:
        with self._changed:
            self.opened[tag] += 1
            self._changed.notify_all()

    def close(self, tag: str) -> None:
        with self._changed:
            self.closed[tag] += 1
            self._changed.notify_all()

    async def all_closed(self, tag: str, count: int = 1) -> None:
        """Wait until `count` streams of the tag were opened and all of them closed."""

        def done() -> bool:
            return self.opened[tag] == count and self.closed[tag] == count

        def wait() -> bool:
            with self._changed:
                return self._changed.wait_for(done, TIMEOUT)

        assert await asyncio.to_thread(wait), f"{tag}: opened {self.opened[tag]}, closed {self.closed[tag]}"


class Probe:
    """ASGI middleware that knows how many requests and sockets the app is still answering, and its loop."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        self._changed = threading.Condition()
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self.loop = asyncio.get_running_loop()
        with self._changed:
            self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            with self._changed:
                self.active -= 1
                self._changed.notify_all()

    async def idle(self) -> None:
        """Wait until the app has returned from every request and socket."""

        def wait() -> bool:
            with self._changed:
                return self._changed.wait_for(lambda: self.active == 0, TIMEOUT)

        assert await asyncio.to_thread(wait), f"the app is still answering {self.active} connection(s)"

    def task_names(self) -> list[str]:
        """The names of the tasks the server's event loop runs now."""
        assert self.loop is not None

        async def names() -> list[str]:
            return sorted(task.get_name() for task in asyncio.all_tasks())

        return asyncio.run_coroutine_threadsafe(names(), self.loop).result(TIMEOUT)


streams = Streams()
authorizations: list[str | None] = []  # what `authenticate` read, in order

# --------------------------------------------------------------------------- the schema


@strawberry.type(description="Reads.")
class Query:
    @strawberry.field(description="A constant.")
    def hello(self) -> str:
        return "world"


@strawberry.type(description="Writes.")
class Mutation:
    @strawberry.mutation(description="Echo a word back.")
    def echo(self, word: str) -> str:
        return word


@strawberry.type(description="Streams.")
class Subscription:
    @strawberry.subscription(description="1, 2, ... up to `to`.")
    async def count(self, to: int) -> AsyncGenerator[int, None]:
        for number in range(1, to + 1):
            yield number

    @strawberry.subscription(description="1, then nothing until cancelled.")
    async def forever(self, tag: str) -> AsyncGenerator[int, None]:
        streams.open(tag)
        try:
            yield 1
            await asyncio.Future()
        finally:
            streams.close(tag)

    @strawberry.subscription(description="1, then nothing until cancelled; its cleanup takes a while.")
    async def lingering(self, tag: str) -> AsyncGenerator[int, None]:
        streams.open(tag)
        try:
            yield 1
            await asyncio.Future()
        finally:
            await asyncio.sleep(0.05)  # as releasing a connection would: the transport must wait for it
            streams.close(tag)

    @strawberry.subscription(description="Nothing at all until cancelled.")
    async def idle(self, tag: str) -> AsyncGenerator[int, None]:
        streams.open(tag)
        try:
            await asyncio.Future()
            yield 0  # never reached: makes this an async generator
        finally:
            streams.close(tag)

    @strawberry.subscription(description="1, then an unexpected failure.")
    async def fails(self) -> AsyncGenerator[int, None]:
        yield 1
        raise RuntimeError("secret internals: postgres://u:p@db")

    @strawberry.subscription(description="1, then the session expires.")
    async def expires(self) -> AsyncGenerator[int, None]:
        yield 1
        raise Unauthenticated("The session has expired; sign in again")

    @strawberry.subscription(description="The viewer, for a signed-in viewer only.")
    async def whoami(self, info: Info) -> AsyncGenerator[str, None]:
        if info.context.viewer is None:
            raise Unauthenticated("Sign in to subscribe")
        yield info.context.viewer


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)


def authenticate(request: Any, _operation: Operation) -> str | None:
    """A fake `authenticate`: `Bearer <name>` or the `sf_session` cookie names the viewer; `Bearer expired`
    is refused (401), `Bearer csrf` forbidden (403)."""
    authorization = request.headers.get("authorization")
    authorizations.append(authorization)
    if authorization == "Bearer expired":
        raise Unauthenticated("The access token has expired", bearer=True)
    if authorization == "Bearer csrf":
        raise CsrfRejected("The CSRF header is missing")
    if authorization is not None:
        return authorization.removeprefix("Bearer ")
    return request.cookies.get("sf_session")


@asynccontextmanager
async def plain_context(request: Any, viewer: Any) -> AsyncIterator[Any]:
    yield SimpleNamespace(request=request, viewer=viewer)


def origin_allowed(origin: str | None, _headers: Mapping[str, str]) -> bool:
    return origin is None or origin == ALLOWED_ORIGIN


# --------------------------------------------------------------------------- the app


def graphql_endpoint(http: GraphQLHTTP, sse: GraphQLSSE) -> Callable[[Request], Any]:
    """/graphql as the app wires it: an event stream when asked for one, else GraphQL over HTTP."""

    async def endpoint(request: Request) -> Response:
        if wants_event_stream(request):
            return await sse.handle(request)
        return await http.handle(request)

    return endpoint


class BrokenPipeline:
    """A pipeline whose stream raises: a transport's own bug, as the real pipeline answers its failures."""

    async def subscribe(self, _params: Any, _request: Any) -> AsyncIterator[Any]:
        raise RuntimeError("a bug in the transport")
        yield  # makes this an async generator


def build_app() -> Starlette:
    """/graphql (HTTP, SSE, WebSocket) and variants of the transports with short timers or a low limit."""
    pipeline = Pipeline(schema, plain_context, authenticate=authenticate)
    http = GraphQLHTTP(pipeline)

    def socket(**options: Any) -> GraphQLWebSocket:
        return GraphQLWebSocket(pipeline, origin_allowed, **{"keepalive": None, **options})

    sse = GraphQLSSE(pipeline, origin_allowed=origin_allowed)
    sse_keepalive = GraphQLSSE(pipeline, origin_allowed=origin_allowed, keepalive=0.05)
    routes = [
        Route("/graphql", graphql_endpoint(http, sse), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", socket()),
        WebSocketRoute("/ws/init-timeout", socket(init_timeout=0.5)),
        WebSocketRoute("/ws/broken", GraphQLWebSocket(BrokenPipeline(), origin_allowed)),  # type: ignore[arg-type]
        WebSocketRoute("/ws/limited", socket(max_subscriptions=2)),
        WebSocketRoute("/ws/keepalive", socket(keepalive=0.05)),
        Route("/sse/keepalive", graphql_endpoint(http, sse_keepalive), methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)


@dataclass
class Served:
    """The live server: its HTTP origin, its WebSocket origin and the probe around its app."""

    url: str
    ws_url: str
    probe: Probe
    seen: list[str | None] = field(default_factory=lambda: authorizations)


@contextmanager
def serve_subscriptions() -> Iterator[Served]:
    """Serve the tiny schema's transports with real uvicorn (WebSockets on) until the block ends."""
    probe = Probe(RequestIdMiddleware(build_app()))
    with live_server(probe, ws="websockets-sansio") as url:
        yield Served(url, "ws" + url.removeprefix("http"), probe)


# --------------------------------------------------------------------------- clients


@asynccontextmanager
async def socket_to(url: str, protocol: str = GRAPHQL_TRANSPORT_WS, **options: Any) -> AsyncIterator[ClientConnection]:
    """A WebSocket client offering one subprotocol."""
    async with connect(url, subprotocols=[Subprotocol(protocol)], open_timeout=TIMEOUT, **options) as websocket:
        yield websocket


async def send(websocket: ClientConnection, message: Any) -> None:
    await websocket.send(orjson.dumps(message).decode())


async def receive(websocket: ClientConnection) -> Any:
    return orjson.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))


async def closed_with(websocket: ClientConnection) -> tuple[int, str]:
    """The code and reason the server closed the socket with (fails on any message before the close)."""
    try:
        message = await asyncio.wait_for(websocket.recv(), TIMEOUT)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the socket closed without a close frame"
        return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError(f"expected the socket to close, got {message!r}")


async def initialised(websocket: ClientConnection, payload: Any = None) -> None:
    """Send connection_init (with a payload when given) and expect its connection_ack."""
    await send(
        websocket, {"type": "connection_init"} if payload is None else {"type": "connection_init", "payload": payload}
    )
    assert await receive(websocket) == {"type": "connection_ack"}


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """The events of a text/event-stream response as (event, data); a comment-only block as (":", "")."""
    event, data, comment = "", None, False
    async for line in response.aiter_lines():
        if line == "":
            if event or data is not None:
                yield event, data or ""
            elif comment:
                yield ":", ""
            event, data, comment = "", None, False
        elif line.startswith(":"):
            comment = True
        elif line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data = line.removeprefix("data:").removeprefix(" ")
