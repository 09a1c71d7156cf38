"""Mutation payloads: a use case's result as the payload's fields, or its expected failures as the payload's
`errors` (`field`, `message`, `code`), the same way for every domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

from app.errors import DomainError, DomainErrors

__all__ = ["error_fields", "payload_of"]

P = TypeVar("P")
E = TypeVar("E", bound=Enum)


def error_fields(failure: DomainError, codes: type[E], fallback: E) -> dict[str, Any]:
    """The `field` (an input path), `message` and `code` of a payload error for an expected failure; a
    code the enum does not know becomes `fallback`."""
    field = failure.field
    path = [field] if isinstance(field, str) else (list(field) if field else None)
    code = codes(failure.code) if failure.code in codes._value2member_map_ else fallback
    return {"field": path, "message": failure.message, "code": code}


async def payload_of(
    payload: Callable[..., P],
    work: Awaitable[Any],
    present: Callable[[Any], Awaitable[dict[str, Any]]],
    error: Callable[[DomainError], Any],
    expected: type[DomainError],
) -> P:
    """Run a use case; its result as the payload's fields (`present`), or the `expected` failure (or several
    at once) as the payload's errors (`error` makes one)."""
    try:
        result = await work
    except expected as failure:
        return payload(errors=[error(failure)])
    except DomainErrors as failures:
        return payload(errors=[error(failure) for failure in failures.failures])
    return payload(**await present(result))
