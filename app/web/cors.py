"""Cross-origin access: the browser origins on CORS_ORIGINS may call the API with credentials (Starlette's
CORSMiddleware), and the same list decides which origins may open a WebSocket or an event stream."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

__all__ = ["ALLOWED_HEADERS", "EXPOSED_HEADERS", "cors", "origin_check"]

# what a storefront's requests carry: JSON bodies, bearer tokens, the CSRF header of cookie sessions, and
# the headers Apollo Client sends to pass the CSRF-prevention rule
ALLOWED_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-csrf-token",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-request-id",
)
EXPOSED_HEADERS = ("x-request-id", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining")
PREFLIGHT_MAX_AGE = 600  # seconds a browser may keep a preflight's answer

OriginCheck = Callable[[str | None, Mapping[str, str]], bool]


def cors(app: ASGIApp, origins: tuple[str, ...]) -> ASGIApp:
    """Wrap the app so listed origins get CORS answers (preflights included) with credentials allowed;
    any other origin gets none, and its preflight is refused."""
    return CORSMiddleware(
        app,
        allow_origins=list(origins),  # exact origins, echoed back: never "*" with credentials
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        allow_credentials=True,
        max_age=PREFLIGHT_MAX_AGE,
    )


def origin_check(origins: tuple[str, ...], *, any_origin: bool = False) -> OriginCheck:
    """Which browser origins may open a WebSocket or an event stream: none given (not a browser), the app's
    own (the Host addressed), or one on the list; with `any_origin` (development), all."""
    listed = {origin.lower() for origin in origins}

    def allowed(origin: str | None, headers: Mapping[str, str]) -> bool:
        if origin is None or any_origin:
            return True
        if origin.lower() in listed:
            return True
        return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()

    return allowed
