"""CSRF prevention for requests with ambient credentials, the rule Apollo Server and GraphQL Yoga apply: a
request a browser could send from another site without a preflight (a GET, or a POST with a simple content
type such as text/plain or a form's) that carries the session cookie must also carry a header only script
can set on a same-origin or CORS-approved request. Requests without the cookie are not affected, so plain
GETs stay cacheable."""

from __future__ import annotations

from collections.abc import Collection

from starlette.requests import Request

__all__ = ["PREFLIGHT_HEADERS", "SIMPLE_CONTENT_TYPES", "csrf_suspect"]

PREFLIGHT_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight", "x-csrf-token")
SIMPLE_CONTENT_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


def csrf_suspect(request: Request, ambient_cookies: Collection[str]) -> bool:
    """Whether the request could be a cross-site forgery riding on the browser's cookies."""
    if not any(name in request.cookies for name in ambient_cookies):
        return False
    if any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return False
    if request.method != "POST":
        return True
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return content_type == "" or content_type in SIMPLE_CONTENT_TYPES
