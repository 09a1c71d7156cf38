"""Prometheus metrics of HTTP requests, as pure ASGI middleware, and their /metrics endpoint."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics"]


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
