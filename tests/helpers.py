"""Helpers the API tests share: posting a query, and the values GraphQL reports back."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from tests.conftest import Api, take_cost

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


def utc(value: datetime) -> datetime:
    """A timestamp as UTC; SQLite hands back naive ones, which were written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def field_location(query: str, field: str) -> dict[str, int]:
    """The line and column GraphQL reports for the first `field(` of a query."""
    index = query.index(f"{field}(")
    return {"line": query.count("\n", 0, index) + 1, "column": index - query.rfind("\n", 0, index)}


def b64(text: str) -> str:
    """base64url without padding, as opaque IDs and cursors are written."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def post(api: Api, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """POST a query and check the transport: 200 with application/json, then return the body."""
    response = await api.client.post("/graphql", json={"query": query, "variables": variables})
    assert (response.status_code, response.headers["content-type"]) == (200, JSON_MEDIA_TYPE)
    payload = response.json()
    api.last_cost = take_cost(payload)
    return payload


def without_cost(payload: Any) -> Any:
    """A response body without its `extensions.cost` (checked for consistency by `take_cost`)."""
    if isinstance(payload, dict):
        take_cost(payload)
    return payload
