"""Errors the use cases raise on purpose; the GraphQL layer shows them to clients with a code."""

from __future__ import annotations

__all__ = ["DomainError", "UserInputError"]


class DomainError(Exception):
    """An expected failure with a message safe to show to any client."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def extensions(self) -> dict[str, str]:
        """The GraphQL error extensions describing this failure."""
        extensions = {"code": self.code}
        if self.field:
            extensions["field"] = self.field
        return extensions


class UserInputError(DomainError):
    """An argument is malformed or out of range."""

    code = "BAD_USER_INPUT"
