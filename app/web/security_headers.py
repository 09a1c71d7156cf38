"""Security headers on every HTTP response, as pure ASGI middleware: no MIME sniffing, no framing, no
referrer sent on, and HSTS outside development. A header a route set itself (the playground's CSP) is kept."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HSTS", "security_headers"]

HSTS = "max-age=31536000; includeSubDomains"
BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def security_headers(app: ASGIApp, *, hsts: bool) -> ASGIApp:
    """Wrap an app so each HTTP response carries the security headers it does not set itself."""
    headers = dict(BASE_HEADERS)
    if hsts:
        headers["strict-transport-security"] = HSTS

    async def with_headers(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = MutableHeaders(scope=message)
                for name, value in headers.items():
                    if name not in present:
                        present[name] = value
            await send(message)

        await app(scope, receive, send_with_headers)

    return with_headers
