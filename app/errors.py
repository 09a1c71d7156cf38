"""Errors the use cases raise on purpose; the GraphQL layer shows them to clients with a code."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CsrfRejected", "DomainError", "DomainErrors", "Forbidden", "Unauthenticated", "UserInputError"]


class DomainError(Exception):
    """An expected failure with a message safe to show to any client.

    `field` names the input it is about: a name (`"ids"`) or an input path (`["input", "email"]`).
    `refusal` is set by the failures that refuse a whole request before execution (a bad token, a
    missing CSRF header), for the transport to answer with its own status (401, 403).
    """

    code = "BAD_REQUEST"
    refusal: str | None = None

    def __init__(self, message: str, *, field: str | Sequence[str] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def extensions(self) -> dict[str, object]:
        """The GraphQL error extensions describing this failure."""
        extensions: dict[str, object] = {"code": self.code}
        if self.field:
            extensions["field"] = self.field if isinstance(self.field, str) else list(self.field)
        return extensions

    def headers(self) -> dict[str, str]:
        """Headers a transport should add to its refusal (a bearer challenge); none by default."""
        return {}


class UserInputError(DomainError):
    """An argument is malformed or out of range."""

    code = "BAD_USER_INPUT"


class Unauthenticated(DomainError):
    """The credentials the request carries were refused: expired, tampered, revoked or malformed.

    A request with bad credentials is refused whole, never run as anonymous; over HTTP it is a 401, with a
    `WWW-Authenticate` challenge when the credentials were a bearer token (RFC 6750).
    """

    code = "UNAUTHENTICATED"
    refusal = "unauthenticated"

    def __init__(self, message: str, *, bearer: bool = False) -> None:
        super().__init__(message)
        self.bearer = bearer

    def headers(self) -> dict[str, str]:
        """The bearer challenge, for a refused bearer token."""
        if not self.bearer:
            return {}
        description = self.message.replace('"', "'")
        return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'}


class CsrfRejected(DomainError):
    """A mutation authenticated by the session cookie without the matching `X-CSRF-Token` header."""

    code = "CSRF_REJECTED"
    refusal = "forbidden"


class Forbidden(DomainError):
    """The viewer may not do this (a customer asking for staff work)."""

    code = "FORBIDDEN"


class DomainErrors(Exception):
    """Several expected failures at once (one per input at fault), for a payload to list them all."""

    def __init__(self, failures: Sequence[DomainError]) -> None:
        super().__init__("; ".join(failure.message for failure in failures))
        self.failures = list(failures)
