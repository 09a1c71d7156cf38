"""Logging, request ids and Prometheus metrics, as pure ASGI middleware."""

from __future__ import annotations

import logging
import time
import uuid
from contextvars import ContextVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "RequestIdMiddleware", "configure_logging", "current_request_id"]

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
REQUEST_ID_HEADER = "x-request-id"


def current_request_id() -> str:
    """The id of the request being served by this task ("-" outside a request)."""
    return _request_id.get()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


def configure_logging(level: str) -> None:
    """Log to stderr with the request id on every line; idempotent."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(handler, "_storefront", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._storefront = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)


class RequestIdMiddleware:
    """Gives every HTTP request an id (the client's X-Request-ID when sane) and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        token = _request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            if 0 < len(text) <= 64 and text.isascii() and all(c.isalnum() or c in "-_." for c in text):
                return text
    return None


class Metrics:
    """Prometheus metrics of one app (its own registry, so several apps in one process do not clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "storefront_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "storefront_http_request_seconds",
            "HTTP request duration by route",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Wrap an ASGI app so every HTTP request is counted and timed."""

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = {"code": 500}

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                route = scope["path"] if scope["path"] in _KNOWN_ROUTES else "other"
                self.requests.labels(route, scope["method"], str(status["code"])).inc()
                self.latency.labels(route).observe(time.perf_counter() - started)

        return measured

    async def endpoint(self, _request: Request) -> Response:
        """The /metrics endpoint in Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


_KNOWN_ROUTES = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})
