"""How errors reach a client, decided in one place for every stage and every transport.

A `DomainError` (an expected failure a use case raised on purpose) keeps its message and code. A database
out of reach is "unavailable" (the transport may answer 503 and ask the client to retry). Anything else is
masked as "Internal server error" with the request id in its extensions, so a report from a client finds
the log record, which holds the whole exception.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from strawberry.exceptions import StrawberryGraphQLError

from app.errors import DomainError
from app.web.request_id import current_request_id

__all__ = [
    "INTERNAL_MESSAGE",
    "UNAVAILABLE_MESSAGE",
    "format_error",
    "format_failure",
    "format_request_errors",
    "is_unavailable",
]

log = logging.getLogger("storefront.graphql")

UNAVAILABLE_MESSAGE = "The database is unavailable; try again shortly"
INTERNAL_MESSAGE = "Internal server error"
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError, OSError)
NO_REQUEST_ID = "-"  # what current_request_id() answers outside a request
ARGUMENT_ERROR_PREFIX = "Argument '"  # how graphql-core's coercion of argument values words its errors


def format_error(error: GraphQLError) -> dict[str, Any]:
    """A client-safe execution error: domain errors keep their message and code, others are masked and logged."""
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if original is None:
        return formatted
    if isinstance(original, DomainError):
        formatted["message"] = original.message
        formatted["extensions"] = {**formatted.get("extensions", {}), **original.extensions()}
        return formatted
    if _is_argument_error(original):
        # an argument the client's variables made invalid (an explicit null for a non-null argument whose
        # variable has a default): graphql-core refuses it while executing, in its own words
        formatted["extensions"] = {**formatted.get("extensions", {}), "code": "BAD_USER_INPUT"}
        return formatted
    if isinstance(original, StrawberryGraphQLError):
        # Raised on purpose for the client: strawberry's permission classes raise it with the permission's
        # message and `error_extensions`; a denial without a code of its own is FORBIDDEN. (Other
        # GraphQLErrors raised during execution are the executors' own, such as a wrong return type: bugs,
        # masked below.)
        formatted["message"] = original.message
        formatted["extensions"] = {"code": "FORBIDDEN", **(original.extensions or {})}
        return formatted
    if is_unavailable(original):
        log.warning("database unavailable at %s: %s", error.path, type(original).__name__)
        formatted["message"] = UNAVAILABLE_MESSAGE
        formatted["extensions"] = {"code": "SERVICE_UNAVAILABLE"}
        return formatted
    log.error("unexpected error at %s", error.path, exc_info=original)
    formatted["message"] = INTERNAL_MESSAGE
    formatted["extensions"] = _internal_extensions()
    return formatted


def format_request_errors(errors: list[GraphQLError], code: str) -> list[dict[str, Any]]:
    """Parse, validation, operation or variable errors as the spec formats them, each with `code` unless it
    has a code of its own (a limit's, such as MAX_DEPTH_EXCEEDED)."""
    return [{**error.formatted, "extensions": {"code": code, **(error.extensions or {})}} for error in errors]


def _is_argument_error(original: BaseException) -> bool:
    """graphql-core's own refusal of an argument's value (`Argument 'x' has invalid value ...`)."""
    return (
        type(original) is GraphQLError
        and original.original_error is None
        and original.message.startswith(ARGUMENT_ERROR_PREFIX)
    )


def format_failure(exc: BaseException) -> dict[str, Any]:
    """A client-safe error for a failure outside execution (a hook, opening the request's resources)."""
    if isinstance(exc, DomainError):
        return {"message": exc.message, "extensions": exc.extensions()}
    if is_unavailable(exc):
        log.warning("database unavailable outside execution: %s", type(exc).__name__)
        return {"message": UNAVAILABLE_MESSAGE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}
    log.error("unexpected error outside execution", exc_info=exc)
    return {"message": INTERNAL_MESSAGE, "extensions": _internal_extensions()}


def is_unavailable(exc: BaseException | None) -> bool:
    """True when the exception says the database cannot be reached (the client should retry later)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, UNAVAILABLE)


def _internal_extensions() -> dict[str, str]:
    request_id = current_request_id()
    if request_id == NO_REQUEST_ID:
        return {"code": "INTERNAL_SERVER_ERROR"}
    return {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
