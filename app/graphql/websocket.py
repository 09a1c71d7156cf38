"""GraphQL over WebSocket: the subscription transport, speaking both protocols clients use.

- `graphql-transport-ws`, the protocol of the npm `graphql-ws` client
  (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md): connection_init/connection_ack,
  ping/pong both ways, subscribe/next/error/complete, and its close codes (4400 bad message, 4401 subscribe
  before the ack, 4403 forbidden, 4406 no acceptable subprotocol, 4408 no connection_init in time, 4409 an id
  in use, 4429 a second connection_init, 4500 an unexpected server error).
- the legacy `subscriptions-transport-ws` protocol, whose subprotocol is named `graphql-ws`:
  connection_init/connection_ack (or connection_error), `ka` keep-alives, start/data/error/complete, stop and
  connection_terminate.

The socket's Origin is checked before the handshake is accepted (a refusal is an HTTP 403). The protocol is
the first of the client's offered subprotocols we speak, preferring `graphql-transport-ws`.

Each operation runs in a task of its own through `Pipeline.subscribe`, with a request-like `SocketRequest`:
the handshake's headers and cookies, with the connection_init payload's `authorization` as the
`authorization` header, so `authenticate` reads a socket as it reads an HTTP request. A first result the
pipeline refused (one with no `data` to deliver: parse, validation and variable errors, refused
credentials) is an `error`; every later result is a `next` (`data`), even one that carries errors, then the
end of the stream is a `complete`. A client's `complete` (`stop`) cancels the operation's task, which closes
its stream; closing the socket cancels all of them and waits until they have finished. Nothing here logs a
token or a payload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import URL, Address, Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.graphql.http import JSON, MAX_BODY_BYTES, RequestError, _check_params
from app.graphql.pipeline import GraphQLParams, Pipeline, PipelineResult

__all__ = [
    "GRAPHQL_TRANSPORT_WS",
    "GRAPHQL_WS",
    "GraphQLWebSocket",
    "OriginCheck",
    "SocketRequest",
    "same_origin",
    "select_subprotocol",
]

log = logging.getLogger("storefront.graphql")

GRAPHQL_TRANSPORT_WS = "graphql-transport-ws"
GRAPHQL_WS = "graphql-ws"  # the legacy subscriptions-transport-ws protocol
SUBPROTOCOLS = (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS)  # in order of preference
KEEPALIVE_SECONDS = 15.0
OPERATION_TASK = "graphql-ws operation"
KEEPALIVE_TASK = "graphql-ws keep-alive"
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a control frame's payload is at most 125 bytes, 2 of them the code

OriginCheck = Callable[[str | None, Mapping[str, str]], bool]


def same_origin(origin: str | None, headers: Mapping[str, str]) -> bool:
    """An origin check for `GraphQLWebSocket`: no Origin (not a browser), or the one of the Host addressed."""
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


def select_subprotocol(offered: Sequence[str]) -> str | None:
    """The subprotocol to speak among those a client offers, or None when it offers neither of ours."""
    return next((name for name in SUBPROTOCOLS if name in offered), None)


@dataclass(frozen=True, slots=True)
class SocketRequest:
    """What `authenticate` and the context factory see of a WebSocket connection, as of an HTTP request.

    `headers` are the handshake's, with the connection_init payload's `authorization` in place of its own.
    """

    headers: Headers
    cookies: Mapping[str, str]
    client: Address | None
    url: URL


class InitRefused(Exception):
    """A connection_init payload the connection cannot go on with; the message says why."""


class GraphQLWebSocket:
    """The WebSocket endpoint of /graphql, an ASGI app for a `WebSocketRoute`.

    `origin_allowed(origin, headers)` decides before the handshake is accepted. A client must send its
    connection_init within `init_timeout` seconds; once acknowledged, the server sends a keep-alive (a
    `ping`, or the legacy `ka`) every `keepalive` seconds (None: never). A connection runs at most
    `max_subscriptions` operations at once.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        origin_allowed: OriginCheck,
        *,
        init_timeout: float = 10.0,
        keepalive: float | None = KEEPALIVE_SECONDS,
        max_subscriptions: int = 50,
    ) -> None:
        self.pipeline = pipeline
        self.origin_allowed = origin_allowed
        self.init_timeout = init_timeout
        self.keepalive = keepalive
        self.max_subscriptions = max_subscriptions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection (the ASGI interface)."""
        await self.handle(WebSocket(scope, receive, send))

    async def handle(self, websocket: WebSocket) -> None:
        """Check the origin, agree on a subprotocol, then speak it until either side closes."""
        if not self.origin_allowed(websocket.headers.get("origin"), websocket.headers):
            log.info("refused a GraphQL WebSocket from an origin that is not allowed")
            await _refuse_origin(websocket)
            return
        protocol = select_subprotocol(websocket.scope.get("subprotocols") or ())
        await websocket.accept(subprotocol=protocol)
        if protocol is None:
            await websocket.close(4406, "Subprotocol not acceptable: offer graphql-transport-ws or graphql-ws")
            return
        connection = TransportWSConnection if protocol == GRAPHQL_TRANSPORT_WS else LegacyWSConnection
        await connection(self, websocket).serve()


async def _refuse_origin(websocket: WebSocket) -> None:
    """Refuse the handshake: a 403 with a GraphQL error body where the server can send one, else a bare 403."""
    if "websocket.http.response" not in websocket.scope.get("extensions", {}):
        await websocket.close(4403, "Forbidden")  # before the handshake: the server answers 403
        return
    error = {"message": "This origin may not open a GraphQL WebSocket", "extensions": {"code": "FORBIDDEN"}}
    body = orjson.dumps({"errors": [error]})
    await websocket.send_denial_response(Response(body, 403, media_type=f"{JSON}; charset=utf-8"))


class Connection:
    """One accepted WebSocket: its frames in and out, and its operations, each a task of its own.

    A subclass speaks one protocol: it decodes each text frame (`on_text`) and says how results are sent.
    """

    keepalive_message: dict[str, str]

    def __init__(self, endpoint: GraphQLWebSocket, websocket: WebSocket) -> None:
        self.pipeline = endpoint.pipeline
        self.keepalive = endpoint.keepalive
        self.max_operations = endpoint.max_subscriptions
        self.websocket = websocket
        self.init_deadline = asyncio.get_running_loop().time() + endpoint.init_timeout
        self.request: SocketRequest | None = None  # set by connection_init
        self.operations: dict[str, asyncio.Task[None]] = {}  # by the client's id
        self.tasks: set[asyncio.Task[None]] = set()  # every task still running, stopped ones included
        self.closed = False

    async def serve(self) -> None:
        """Read frames until either side closes, then cancel every operation and wait for them to end."""
        try:
            while not self.closed:
                text = await self._receive_text()
                if text is None:
                    break
                await self.on_text(text)
        except Exception:
            log.exception("unexpected error on a GraphQL WebSocket")
            await self.close(4500, "Internal server error")
        finally:
            await self._shutdown()

    async def on_text(self, text: str) -> None:
        """Handle one text frame of the protocol."""
        raise NotImplementedError

    async def _receive_text(self) -> str | None:
        """The next text frame; None once the socket is closed (by the client, a timeout or a bad frame)."""
        try:
            if self.request is None:
                async with asyncio.timeout_at(self.init_deadline):
                    message = await self.websocket.receive()
            else:
                message = await self.websocket.receive()
        except TimeoutError:
            await self.close(4408, "Connection initialisation timeout")
            return None
        if message["type"] == "websocket.disconnect":
            self.closed = True
            return None
        text = message.get("text")
        if text is None:
            await self.close(4400, "Only text frames are accepted")
            return None
        if len(text) > MAX_BODY_BYTES:
            await self.close(1009, f"A message may be at most {MAX_BODY_BYTES} characters")
            return None
        return cast(str, text)

    # ------------------------------------------------------------------ frames out

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send one JSON message; nothing once the socket is closed (a late result of a stopped operation)."""
        if self.closed:
            return
        try:
            await self.websocket.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect:
            self.closed = True

    async def close(self, code: int, reason: str = "") -> None:
        """Close the socket with a code and a reason (cut to what a close frame holds)."""
        if self.closed:
            return
        self.closed = True
        with suppress(WebSocketDisconnect):
            await self.websocket.close(code, _close_reason(reason))

    async def send_result(self, operation_id: str, payload: dict[str, Any]) -> None:
        """Send one result of an operation."""
        raise NotImplementedError

    async def send_refusal(self, operation_id: str, errors: list[dict[str, Any]]) -> None:
        """Say an operation was refused before it ran; nothing follows for its id."""
        raise NotImplementedError

    async def send_complete(self, operation_id: str) -> None:
        """Say an operation's stream has ended."""
        await self.send({"id": operation_id, "type": "complete"})

    # ------------------------------------------------------------------ operations

    def start(self, operation_id: str, params: GraphQLParams) -> None:
        """Run an operation in a task of its own."""
        task = asyncio.create_task(self._run(operation_id, params), name=OPERATION_TASK)
        self.operations[operation_id] = task
        self._track(task)

    def stop(self, operation_id: str) -> bool:
        """Cancel an operation (its task closes its stream); False when no operation has this id."""
        task = self.operations.pop(operation_id, None)
        if task is None:
            return False
        task.cancel()
        return True

    async def begin(self, operation_id: str, payload: Any) -> None:
        """Start the operation a subscribe (start) message asks for, or refuse it: over the connection's
        limit, or with a payload that is not GraphQL parameters."""
        if len(self.operations) >= self.max_operations:
            message = f"At most {self.max_operations} operations may run at once on a connection; complete one first"
            await self.send_refusal(operation_id, [_error(message, "TOO_MANY_SUBSCRIPTIONS")])
            return
        try:
            params = operation_params(payload)
        except RequestError as error:
            await self.send_refusal(operation_id, [_error(error.message, "BAD_REQUEST")])
            return
        self.start(operation_id, params)

    async def _run(self, operation_id: str, params: GraphQLParams) -> None:
        task = asyncio.current_task()
        try:
            results = cast(AsyncGenerator[PipelineResult, None], self.pipeline.subscribe(params, self.request))
            async with aclosing(results):
                first = True
                async for result in results:
                    if first and not result.executed:  # refused before it ran: no data to deliver
                        self._forget(operation_id, task)
                        await self.send_refusal(operation_id, result.errors or [])
                        return
                    first = False
                    await self.send_result(operation_id, result.payload())
            self._forget(operation_id, task)  # before `complete`, so the client may reuse the id at once
            await self.send_complete(operation_id)
        except Exception:
            log.exception("unexpected error in a GraphQL WebSocket operation")
            await self.close(4500, "Internal server error")

    def _forget(self, operation_id: str, task: asyncio.Task[Any] | None) -> None:
        if self.operations.get(operation_id) is task:
            del self.operations[operation_id]

    def start_keepalive(self, *, at_once: bool) -> None:
        """Send the protocol's keep-alive every `keepalive` seconds until the socket closes."""
        if self.keepalive is not None:
            self._track(asyncio.create_task(self._keep_alive(self.keepalive, at_once), name=KEEPALIVE_TASK))

    async def _keep_alive(self, interval: float, at_once: bool) -> None:
        if at_once:
            await self.send(self.keepalive_message)
        while not self.closed:
            await asyncio.sleep(interval)
            await self.send(self.keepalive_message)

    def _track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _shutdown(self) -> None:
        self.closed = True
        self.operations.clear()
        running = set(self.tasks)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)

    # ------------------------------------------------------------------ reading messages

    def accept_init(self, message: Mapping[str, Any]) -> None:
        """Take a connection_init: its payload's authorization joins the handshake's headers.

        Raises InitRefused when the payload is not an object or its authorization not a string.
        """
        payload = message.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise InitRefused("The connection_init payload must be a JSON object")
        self.request = socket_request(self.websocket, _authorization(payload))


class TransportWSConnection(Connection):
    """A connection speaking `graphql-transport-ws` (the npm `graphql-ws` client's protocol)."""

    keepalive_message = {"type": "ping"}

    def __init__(self, endpoint: GraphQLWebSocket, websocket: WebSocket) -> None:
        super().__init__(endpoint, websocket)
        self.handlers = {
            "connection_init": self._on_init,
            "ping": self._on_ping,
            "pong": self._on_pong,
            "subscribe": self._on_subscribe,
            "complete": self._on_complete,
        }

    async def on_text(self, text: str) -> None:
        """Dispatch one message; a malformed or unexpected one closes the socket with 4400."""
        message = _decode(text)
        if message is None:
            await self.close(4400, "Invalid message: send a JSON object with a string `type`")
            return
        handler = self.handlers.get(message["type"])
        if handler is None:
            await self.close(4400, f"Unexpected message of type {message['type']!r}")
            return
        await handler(message)

    async def _on_init(self, message: dict[str, Any]) -> None:
        if self.request is not None:
            await self.close(4429, "Too many initialisation requests")
            return
        try:
            self.accept_init(message)
        except InitRefused as refused:
            await self.close(4400, str(refused))
            return
        await self.send({"type": "connection_ack"})
        self.start_keepalive(at_once=False)

    async def _on_ping(self, message: dict[str, Any]) -> None:
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.close(4400, "A ping's payload must be a JSON object")
            return
        await self.send({"type": "pong", "payload": payload} if payload else {"type": "pong"})

    async def _on_pong(self, _message: dict[str, Any]) -> None:
        """The answer to our keep-alive: the socket is alive, nothing to do."""

    async def _on_subscribe(self, message: dict[str, Any]) -> None:
        operation_id = _operation_id(message)
        if operation_id is None:
            await self.close(4400, "A subscribe message needs a non-empty string `id`")
            return
        if self.request is None:
            await self.close(4401, "Unauthorized")
            return
        if operation_id in self.operations:
            await self.close(4409, f"Subscriber for {operation_id} already exists")
            return
        await self.begin(operation_id, message.get("payload"))

    async def _on_complete(self, message: dict[str, Any]) -> None:
        operation_id = _operation_id(message)
        if operation_id is None:
            await self.close(4400, "A complete message needs a non-empty string `id`")
            return
        self.stop(operation_id)  # the client stopped listening: nothing more is sent for this id

    async def send_result(self, operation_id: str, payload: dict[str, Any]) -> None:
        """A `next` message."""
        await self.send({"id": operation_id, "type": "next", "payload": payload})

    async def send_refusal(self, operation_id: str, errors: list[dict[str, Any]]) -> None:
        """An `error` message with the list of errors."""
        await self.send({"id": operation_id, "type": "error", "payload": errors})


class LegacyWSConnection(Connection):
    """A connection speaking the legacy `subscriptions-transport-ws` protocol (subprotocol `graphql-ws`).

    As that protocol's server did, a malformed message is answered with `connection_error` and the socket
    stays open, a `start` with an id in use replaces that operation, and a `stop` is answered with
    `complete`. A `start` before the connection_init closes the socket with 4401, a second connection_init
    with 4429; the connection_init timeout applies as in `graphql-transport-ws`.
    """

    keepalive_message = {"type": "ka"}

    def __init__(self, endpoint: GraphQLWebSocket, websocket: WebSocket) -> None:
        super().__init__(endpoint, websocket)
        self.handlers = {
            "connection_init": self._on_init,
            "start": self._on_start,
            "stop": self._on_stop,
            "connection_terminate": self._on_terminate,
        }

    async def on_text(self, text: str) -> None:
        """Dispatch one message; a malformed one is answered with `connection_error`, an unknown one `error`."""
        message = _decode(text)
        if message is None:
            await self._connection_error("Invalid message: send a JSON object with a string `type`")
            return
        handler = self.handlers.get(message["type"])
        if handler is None:
            error = {"type": "error", "payload": {"message": f"Unknown message type {message['type']!r}"}}
            operation_id = _operation_id(message)
            await self.send(error if operation_id is None else {**error, "id": operation_id})
            return
        await handler(message)

    async def _on_init(self, message: dict[str, Any]) -> None:
        if self.request is not None:
            await self._connection_error("Too many initialisation requests")
            await self.close(4429, "Too many initialisation requests")
            return
        try:
            self.accept_init(message)
        except InitRefused as refused:
            await self._connection_error(str(refused))
            await self.close(4400, str(refused))
            return
        await self.send({"type": "connection_ack"})
        self.start_keepalive(at_once=True)

    async def _on_start(self, message: dict[str, Any]) -> None:
        operation_id = _operation_id(message)
        if operation_id is None:
            await self._connection_error("A start message needs a non-empty string `id`")
            return
        if self.request is None:
            await self.close(4401, "Unauthorized")
            return
        self.stop(operation_id)  # a start with an id in use replaces that operation
        await self.begin(operation_id, message.get("payload"))

    async def _on_stop(self, message: dict[str, Any]) -> None:
        operation_id = _operation_id(message)
        if operation_id is None:
            await self._connection_error("A stop message needs a non-empty string `id`")
            return
        if self.stop(operation_id):
            await self.send_complete(operation_id)

    async def _on_terminate(self, _message: dict[str, Any]) -> None:
        await self.close(1000)

    async def _connection_error(self, message: str) -> None:
        await self.send({"type": "connection_error", "payload": {"message": message}})

    async def send_result(self, operation_id: str, payload: dict[str, Any]) -> None:
        """A `data` message."""
        await self.send({"id": operation_id, "type": "data", "payload": payload})

    async def send_refusal(self, operation_id: str, errors: list[dict[str, Any]]) -> None:
        """An `error` message; the protocol's payload is one error, the first."""
        error = errors[0] if errors else _error("The operation was refused", "BAD_REQUEST")
        await self.send({"id": operation_id, "type": "error", "payload": error})


# ---------------------------------------------------------------------- messages


def socket_request(websocket: WebSocket, authorization: str | None) -> SocketRequest:
    """The request `authenticate` sees: the handshake's, with `authorization` (when given) as its header."""
    raw = websocket.headers.raw
    if authorization is not None:
        raw = [(name, value) for name, value in raw if name != b"authorization"]
        raw.append((b"authorization", authorization.encode("ascii")))
    return SocketRequest(Headers(raw=raw), websocket.cookies, websocket.client, websocket.url)


def operation_params(payload: Any) -> GraphQLParams:
    """The GraphQL parameters of a subscribe (start) payload, checked as HTTP checks a body; RequestError."""
    if not isinstance(payload, dict):
        raise RequestError("The payload must be a JSON object with a `query`")
    return _check_params(payload)


def _authorization(payload: Mapping[str, Any]) -> str | None:
    """The payload's `authorization` (or `Authorization`); a null one counts as absent."""
    value = payload.get("authorization")
    if value is None:
        value = payload.get("Authorization")
    if value is not None and not (isinstance(value, str) and value.isascii()):
        raise InitRefused("The connection_init payload's `authorization` must be an ASCII string")
    return value


def _decode(text: str) -> dict[str, Any] | None:
    """A message: a JSON object with a string `type`; None for anything else."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message


def _operation_id(message: Mapping[str, Any]) -> str | None:
    operation_id = message.get("id")
    return operation_id if isinstance(operation_id, str) and operation_id else None


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _close_reason(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."
