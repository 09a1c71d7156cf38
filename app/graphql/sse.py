"""GraphQL over Server-Sent Events: the graphql-sse protocol's distinct connections mode, on /graphql.

(https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md) A GET or POST to /graphql that prefers
`Accept: text/event-stream` is read as the HTTP transport reads it, run through `Pipeline.subscribe`, and
answered 200 `text/event-stream`: an `event: next` per result, then `event: complete`. A comment line
(`:`) every `keepalive` seconds keeps proxies from dropping an idle stream. When the client disconnects,
the stream's task is cancelled and the pipeline's iterator closed.

What the client must fix before anything runs is answered as the HTTP transport answers it, in JSON with
its status: malformed parameters (400), refused credentials (401, 403), a mutation over GET (405), a
failure outside any resolver (500, 503). What GraphQL says about the document (parse, validation, variable
errors) is streamed as a `next` event with the errors, then `complete`, as the protocol requires: an
EventSource gets nothing readable from a 400.

Headers go out with the first result, or with the first keep-alive when no result comes before it (a
subscription whose first event is a while away), so an idle subscription is never left without a response.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Literal, cast

import anyio
import orjson
from graphql import OperationType, get_operation_ast
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.context import ResponseCookies
from app.graphql.http import (
    GRAPHQL_RESPONSE,
    QUERY_METHODS,
    GraphQLHTTP,
    RequestError,
    _apply_cookies,
    _quality,
    negotiate,
    read_params,
)
from app.graphql.pipeline import ANY_OPERATION, GraphQLParams, Outcome, Pipeline, PipelineResult
from app.graphql.websocket import OriginCheck

__all__ = ["EVENT_STREAM", "GraphQLSSE", "wants_event_stream"]
NO_MUTATIONS = frozenset({OperationType.QUERY, OperationType.SUBSCRIPTION})  # what a GET may run

log = logging.getLogger("storefront.graphql")

EVENT_STREAM = "text/event-stream"
KEEPALIVE_SECONDS = 15.0
KEEPALIVE_COMMENT = b":\n\n"
COMPLETE_EVENT = b"event: complete\ndata:\n\n"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # nginx: do not buffer the stream
STREAM_TASK = "graphql-sse stream"
JSON_MEDIA = frozenset({"application/json", GRAPHQL_RESPONSE, "application/*", "*/*"})


def wants_event_stream(request: Request) -> bool:
    """True for a GET or POST whose Accept prefers `text/event-stream` to JSON (ties go to the one named first)."""
    if request.method not in ("GET", "POST"):
        return False
    ranks = _media_ranks(request.headers.get("accept", ""))
    stream = ranks.get(EVENT_STREAM)
    if stream is None:
        return False
    best_json = max((rank for media, rank in ranks.items() if media in JSON_MEDIA), default=None)
    return best_json is None or stream > best_json


def _media_ranks(accept: str) -> dict[str, tuple[float, int]]:
    """Each acceptable media type of an Accept header with its (quality, -position); q=0 ones left out."""
    ranks: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        quality = _quality(params)
        if quality > 0:
            ranks.setdefault(media.strip().lower(), (quality, -position))
    return ranks


class _End(enum.Enum):
    END = "end"


END = _End.END
Item = PipelineResult | None | Literal[_End.END]  # a result, a keep-alive's turn (None), or the end


class ResultPump:
    """An operation's results, pulled by a task of their own (the whole stream in one task, one context)
    into a queue of one, so a reader can wait for the next with a timeout without disturbing the stream."""

    def __init__(self, results: AsyncIterator[PipelineResult]) -> None:
        self._queue: asyncio.Queue[PipelineResult | Literal[_End.END]] = asyncio.Queue(maxsize=1)
        stream = cast(AsyncGenerator[PipelineResult, None], results)
        self._task = asyncio.create_task(self._pump(stream), name=STREAM_TASK)

    async def _pump(self, results: AsyncGenerator[PipelineResult, None]) -> None:
        try:
            async with aclosing(results):
                async for result in results:
                    await self._queue.put(result)
        except Exception:  # the pipeline answers its own failures: this is a bug of the transport
            log.exception("unexpected error in a GraphQL event stream")
        await self._queue.put(END)

    async def next(self, timeout: float) -> Item:
        """The next result, END once there are no more, or None when none came within `timeout` seconds."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def first(self, timeout: float, started: asyncio.Event) -> Item:
        """The first result; None once the subscription is established with no result yet (its headers can
        go out now), or when nothing happened within `timeout` seconds."""
        result = asyncio.ensure_future(self._queue.get())
        ready = asyncio.ensure_future(started.wait())
        await asyncio.wait({result, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if result.done():
            return result.result()
        result.cancel()
        return None

    async def aclose(self) -> None:
        """Cancel the task, which closes the pipeline's iterator, and wait until it has ended."""
        self._task.cancel()
        await asyncio.wait([self._task])


class EventStreamResponse(StreamingResponse):
    """A 200 `text/event-stream` of an operation's results, whose task ends with the response, however it
    ends: the stream completed, the client disconnected, or the server is shutting down."""

    def __init__(self, results: ResultPump, first: Item, keepalive: float) -> None:
        super().__init__(_events(results, first, keepalive), media_type=EVENT_STREAM, headers=STREAM_HEADERS)
        self.results = results

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the events (Starlette stops it when the client disconnects), then close the results."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.results.aclose()


async def _events(results: ResultPump, first: Item, keepalive: float) -> AsyncIterator[bytes]:
    item = first
    while item is not END:
        yield KEEPALIVE_COMMENT if item is None else next_event(item)
        item = await results.next(keepalive)
    yield COMPLETE_EVENT


def next_event(result: PipelineResult) -> bytes:
    """A result as a `next` event (orjson writes no newline, so the data is one line)."""
    return b"event: next\ndata: " + orjson.dumps(result.payload()) + b"\n\n"


class GraphQLSSE:
    """Answers the /graphql requests that ask for an event stream (see `wants_event_stream`).

    `origin_allowed(origin, headers)`, when given, must allow the Origin of a request that carries one.
    """

    def __init__(
        self, pipeline: Pipeline, *, origin_allowed: OriginCheck | None = None, keepalive: float = KEEPALIVE_SECONDS
    ) -> None:
        self.pipeline = pipeline
        self.origin_allowed = origin_allowed
        self.keepalive = keepalive
        self.http = GraphQLHTTP(pipeline)  # its responses for refusals

    async def handle(self, request: Request) -> Response:
        """Answer one request with an event stream, or with the HTTP transport's JSON refusal."""
        media_type = negotiate(request.headers.get("accept")) or GRAPHQL_RESPONSE
        if not self._origin_ok(request):
            error = {"message": "This origin may not use the GraphQL endpoint", "extensions": {"code": "FORBIDDEN"}}
            return self.http.respond({"errors": [error]}, 403, media_type)
        try:
            params = await read_params(request)
        except RequestError as error:
            return self.http._error_response(error, media_type)
        if request.method in QUERY_METHODS:
            refused = self._mutation_refused(params)
            if refused is not None:
                return self.http._status_response(refused, media_type)
        cookies = request.state.response_cookies = ResponseCookies()  # the context factory hands it on
        response = await self._respond(params, request, media_type)
        if cookies.changes:  # those set before the headers went out (by a query or mutation)
            _apply_cookies(response, cookies)
        return response

    async def _respond(self, params: GraphQLParams, request: Request, media_type: str) -> Response:
        started = asyncio.Event()
        allowed = NO_MUTATIONS if request.method in QUERY_METHODS else ANY_OPERATION
        results = ResultPump(self.pipeline.subscribe(params, request, on_started=started.set, allowed=allowed))
        try:
            first = await results.first(self.keepalive, started)
        except BaseException:  # cancelled before the first result: the stream must not outlive the request
            await results.aclose()
            raise
        if isinstance(first, PipelineResult) and _refused_before_streaming(first):
            await results.aclose()
            return self.http._status_response(first, media_type)
        return EventStreamResponse(results, first, self.keepalive)

    def _origin_ok(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or self.origin_allowed is None or self.origin_allowed(origin, request.headers)

    def _mutation_refused(self, params: GraphQLParams) -> PipelineResult | None:
        """A mutation over GET is refused as HTTP refuses it (405), decided on the parsed document."""
        document = self.pipeline.documents.parse(params.query).document
        operation = get_operation_ast(document, params.operation_name) if document is not None else None
        if operation is not None and operation.operation is OperationType.MUTATION:
            return PipelineResult(Outcome.NOT_ALLOWED, operation_type=operation.operation)
        return None


def _refused_before_streaming(result: PipelineResult) -> bool:
    """Whether a first result is answered in JSON: refused with no data, for a reason other than the
    document's own errors (which the protocol streams)."""
    return not result.executed and result.outcome is not Outcome.REQUEST_ERROR
