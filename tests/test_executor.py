"""The planned executor on a tiny schema: per-level resolvers, their guards, and the trampoline."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from graphql import get_operation_ast, parse, validate
from graphql.execution.values import get_variable_values
from strawberry.permission import BasePermission

from app.executor import BATCH_METADATA_KEY, FastExecutor

CALLS: list[tuple[str, list[int]]] = []


async def _doubles(_context: Any, sources: list[Any], _arguments: dict[str, Any]) -> list[int]:
    CALLS.append(("batch", [source.n for source in sources]))
    await asyncio.sleep(0)
    return [source.n * 2 for source in sources]


async def _wrong_size(_context: Any, sources: list[Any], _arguments: dict[str, Any]) -> list[int]:
    return [1]


class Deny(BasePermission):
    message = "Not allowed"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    n: int

    @strawberry.field(metadata={BATCH_METADATA_KEY: _doubles})
    async def double(self) -> int:
        CALLS.append(("single", [self.n]))
        return self.n * 2

    @strawberry.field(metadata={BATCH_METADATA_KEY: _wrong_size})
    async def broken(self) -> int | None:
        return self.n

    @strawberry.field(metadata={BATCH_METADATA_KEY: _doubles}, permission_classes=[Deny])
    async def guarded(self) -> int | None:
        return self.n


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(n=n) for n in range(1, 4)]


SCHEMA = strawberry.Schema(query=Query)._schema


async def _run(query: str) -> dict[str, Any]:
    document = parse(query)
    assert validate(SCHEMA, document) == []
    operation = get_operation_ast(document)
    assert operation is not None
    result = await FastExecutor(SCHEMA).execute(document, operation, get_variable_values(SCHEMA, [], {}), None)
    return result.formatted


async def test_a_per_level_resolver_runs_once_for_all_objects_of_the_level():
    CALLS.clear()
    assert await _run("{ items { double } }") == {"data": {"items": [{"double": 2}, {"double": 4}, {"double": 6}]}}
    assert CALLS == [("batch", [1, 2, 3])]


async def test_a_wrong_sized_answer_is_an_error_at_every_position():
    result = await _run("{ items { broken } }")
    assert result["data"] == {"items": [{"broken": None}] * 3}
    assert [error["path"] for error in result["errors"]] == [["items", i, "broken"] for i in range(3)]
    assert {error["message"] for error in result["errors"]} == {
        "The batch resolver of Item.broken returned a wrong-sized list"
    }


async def test_fields_with_permissions_never_take_the_per_level_path():
    CALLS.clear()
    result = await _run("{ items { guarded } }")
    assert result["data"] == {"items": [{"guarded": None}] * 3}
    assert {error["message"] for error in result["errors"]} == {"Not allowed"}
    assert CALLS == []
