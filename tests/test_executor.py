"""The planned executor on a tiny schema: per-level resolvers, their guards, and the trampoline."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
import strawberry
from graphql import ExecutionResult, execute, get_operation_ast, parse, validate
from graphql.execution.values import get_variable_values
from strawberry.permission import BasePermission

from app.graphql.executor import BATCH_METADATA_KEY, FastExecutor
from app.graphql.executor.settle import Pending, settle
from tests.guarded_schema import GUARDED

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


# -- guards, context isolation and argument conversion, through both executors ---------------------


async def _through_both(schema: Any, query: str, context: Any = None) -> dict[str, Any]:
    """The result of the planned executor, after checking that graphql-core's is exactly the same."""
    document = parse(query)
    assert validate(schema, document) == []
    operation = get_operation_ast(document)
    assert operation is not None
    planned = await FastExecutor(schema).execute(document, operation, get_variable_values(schema, [], {}), context)
    reference = execute(schema, document, context_value=context)
    if not isinstance(reference, ExecutionResult):
        reference = await reference
    assert _sorted_errors(planned.formatted) == _sorted_errors(reference.formatted)
    return _sorted_errors(planned.formatted)


def _sorted_errors(result: dict[str, Any]) -> dict[str, Any]:
    if "errors" in result:
        return {**result, "errors": sorted(result["errors"], key=lambda error: str(error["path"]))}
    return result


def _denied(path: list[Any], line: int, column: int, message: str = "Not allowed") -> dict[str, Any]:
    return {"message": message, "locations": [{"line": line, "column": column}], "path": path}


async def test_a_permission_on_a_resolver_less_field_is_checked_on_the_planned_path():
    result = await _through_both(GUARDED, "{ me { email } }", {"viewer": "bob"})
    assert result == {"data": None, "errors": [_denied(["me", "email"], 1, 8)]}


async def test_permissions_allow_the_owner_on_every_kind_of_field():
    query = "{ me { email phone tags secret note address { city } } }"
    result = await _through_both(GUARDED, query, {"viewer": "ada"})
    assert result == {
        "data": {
            "me": {
                "email": "ada@example.com",
                "phone": "555",
                "tags": ["a", "b"],
                "secret": "secret of ada",
                "note": "note of ada",
                "address": {"city": "Oslo"},
            }
        }
    }


async def test_a_denied_non_null_resolver_field_nulls_its_parent():
    result = await _through_both(GUARDED, "{ me { name secret } }", {"viewer": "bob"})
    assert result == {"data": None, "errors": [_denied(["me", "secret"], 1, 13)]}


async def test_permissions_deny_per_object_on_lists():
    query = "{ accounts { name phone tags note } }"
    result = await _through_both(GUARDED, query, {"viewer": "ada"})
    ada = {"name": "ada's account", "phone": "555", "tags": ["a", "b"], "note": "note of ada"}
    bob = {"name": "bob's account", "phone": None, "tags": None, "note": None}
    assert result == {
        "data": {"accounts": [ada, bob]},
        "errors": [
            _denied(["accounts", 1, "note"], 1, 30, "Not allowed (async)"),
            _denied(["accounts", 1, "phone"], 1, 19, "Not allowed (async)"),
            _denied(["accounts", 1, "tags"], 1, 25),
        ],
    }


async def test_a_denied_nested_field_errors_at_its_own_position():
    result = await _through_both(GUARDED, "{ accounts { address { city } } }", {"viewer": "ada"})
    assert result == {
        "data": {"accounts": [{"address": {"city": "Oslo"}}, {"address": None}]},
        "errors": [_denied(["accounts", 1, "address"], 1, 14)],
    }


async def test_field_extensions_run_on_fields_with_and_without_resolvers():
    result = await _through_both(GUARDED, "{ me { shout loudName } }", {"viewer": "ada"})
    assert result == {"data": {"me": {"shout": "HI", "loudName": "ADA'S ACCOUNT"}}}


CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="unset")


@strawberry.type
class ContextItem:
    n: int

    @strawberry.field
    async def first(self) -> str:
        seen = CURRENT.get()
        CURRENT.set(f"set by {self.n}")
        await asyncio.sleep(0)
        return seen

    @strawberry.field
    async def second(self) -> str:
        await asyncio.sleep(0)
        return CURRENT.get()


@strawberry.type
class ContextQuery:
    @strawberry.field
    def items(self) -> list[ContextItem]:
        return [ContextItem(n=1), ContextItem(n=2)]


async def test_each_resolver_call_has_its_own_contextvars_context():
    result = await _through_both(strawberry.Schema(query=ContextQuery)._schema, "{ items { first second } }")
    assert result == {"data": {"items": [{"first": "unset", "second": "unset"}] * 2}}
    assert CURRENT.get() == "unset"  # nothing a resolver set outlives the operation


@strawberry.input(description="Text options.")
class TextOptions:
    max_length: int
    suffix: str = "…"


def _clip(text: str, max_length: int, options: TextOptions | None) -> str:
    suffix = options.suffix if options else ""
    return text[:max_length] + suffix


async def _clip_level(_context: Any, sources: list[Any], arguments: dict[str, Any]) -> list[str]:
    CALLS.append(("batch", sorted(arguments)))
    assert options_are_converted(arguments.get("options"))
    return [_clip(source.text, arguments["max_length"], arguments.get("options")) for source in sources]


def options_are_converted(options: Any) -> bool:
    return options is None or isinstance(options, TextOptions)


@strawberry.type
class Text:
    text: str

    @strawberry.field(metadata={BATCH_METADATA_KEY: _clip_level})
    def clipped(self, max_length: int, options: TextOptions | None = None) -> str:
        return _clip(self.text, max_length, options)


@strawberry.type
class TextQuery:
    @strawberry.field
    def texts(self) -> list[Text]:
        return [Text(text="storefront"), Text(text="graphql")]


async def test_per_level_resolvers_get_python_names_and_strawberry_inputs():
    CALLS.clear()
    schema = strawberry.Schema(query=TextQuery)._schema
    query = '{ texts { a: clipped(maxLength: 5) b: clipped(maxLength: 3, options: { maxLength: 9, suffix: "!" }) } }'
    result = await _through_both(schema, query)
    assert result == {"data": {"texts": [{"a": "store", "b": "sto!"}, {"a": "graph", "b": "gra!"}]}}
    # strawberry passes an argument's default (`options=None`) as well
    assert CALLS == [("batch", ["max_length", "options"])] * 2


CLEANED_UP: list[str] = []


@strawberry.type
class SlowQuery:
    @strawberry.field
    async def slow(self) -> int:
        try:
            await asyncio.sleep(30)
        finally:
            # Cleanup that awaits, as SQLAlchemy's greenlet bridge does when a statement is interrupted:
            # closing the coroutine (GeneratorExit) instead of cancelling it would break here.
            await asyncio.sleep(0)
            CLEANED_UP.append("slow")
        return 1

    @strawberry.field
    async def yields(self) -> int:
        try:
            while True:
                await asyncio.sleep(0)
        finally:
            CLEANED_UP.append("yields")

    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(n=1)]


async def test_a_cancelled_request_cancels_its_resolvers_as_tasks_would():
    # given: a request whose resolvers are blocked on a future and yielding bare
    CLEANED_UP.clear()
    schema = strawberry.Schema(query=SlowQuery)._schema
    document = parse("{ slow yields items { double } }")
    operation = get_operation_ast(document)
    assert operation is not None
    variables = get_variable_values(schema, [], {})
    request = asyncio.ensure_future(FastExecutor(schema).execute(document, operation, variables, None))
    await asyncio.sleep(0.01)
    # when
    request.cancel()
    # then: the cancellation propagates, and each resolver ran its cleanup
    with pytest.raises(asyncio.CancelledError):
        await request
    assert sorted(CLEANED_UP) == ["slow", "yields"]


async def test_a_resolver_whose_future_is_done_when_the_request_is_cancelled_does_not_go_on():
    # given: a resolver whose loader answers in the same loop turn as the request's deadline fires
    loop = asyncio.get_running_loop()
    answered, other = loop.create_future(), loop.create_future()
    went_on: list[str] = []

    async def resolver() -> None:
        await answered
        went_on.append("issued its next statement")
        await asyncio.sleep(30)

    async def waiting() -> None:
        await other

    request = asyncio.ensure_future(settle([Pending(resolver(), None, None), Pending(waiting(), None, None)]))
    await asyncio.sleep(0.01)
    # when
    answered.set_result(1)
    request.cancel()
    # then: it is cancelled where it waited, as a task would be, and the others too
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(request, timeout=10)
    assert went_on == []
    assert other.cancelled()


async def test_a_request_cancelled_again_while_cleaning_up_still_ends_cancelled(caplog):
    # given: resolvers whose cleanup awaits, so they cannot be closed
    async def resolver() -> None:
        try:
            try:
                await asyncio.sleep(30)
            finally:
                await asyncio.sleep(5)
        finally:
            await asyncio.sleep(0)  # an outer `async with` whose exit awaits

    request = asyncio.ensure_future(settle([Pending(resolver(), None, None), Pending(resolver(), None, None)]))
    await asyncio.sleep(0.01)
    request.cancel()
    await asyncio.sleep(0.01)
    # when: cancelled a second time during their cleanup
    request.cancel()
    # then: the request ends cancelled (not with the RuntimeError of the resolver that could not be closed)
    with pytest.raises(asyncio.CancelledError):
        await request
    assert "could not finish its cleanup" in caplog.text


async def test_plain_fields_are_compiled_into_one_fill_and_the_rest_resolved_per_level():
    # given: a selection of plain fields (with a nested plain object and list) and one resolved field
    from graphql import get_operation_ast, parse

    from app.graphql.executor.plan import Planner
    from tests.plain_schema import PLAIN

    document = parse("{ things { title price { amount currency } tags doubled __typename } }")
    operation = get_operation_ast(document)
    assert operation is not None
    planner = Planner(PLAIN, operation, {}, {}, {})
    thing = PLAIN.get_type("Thing")
    nodes = planner.plan(PLAIN.query_type, None)[0].nodes  # type: ignore[arg-type]
    # when
    object_plan = planner.object_plan(thing, nodes)  # type: ignore[arg-type]
    # then
    assert object_plan.fill is not None
    assert [field.key for field in object_plan.fields] == ["title", "price", "tags", "doubled", "__typename"]
    assert [field.key for field in object_plan.resolved] == ["doubled"]


async def test_each_operation_of_a_document_runs_its_own_selection():
    # given: one document, two operations, executed by one executor that keeps the document's plans
    document = parse("query A { items { n } } query B { items { double } }")
    executor = FastExecutor(SCHEMA)
    operations = {definition.name.value: definition for definition in document.definitions}  # type: ignore[attr-defined]
    variables = get_variable_values(SCHEMA, [], {})
    # when
    results = [(await executor.execute(document, operations[name], variables, None)).formatted for name in "ABA"]
    # then
    a = {"data": {"items": [{"n": 1}, {"n": 2}, {"n": 3}]}}
    assert results == [a, {"data": {"items": [{"double": 2}, {"double": 4}, {"double": 6}]}}, a]


@strawberry.type
class GridQuery:
    @strawberry.field
    def grid(self) -> list[list[int | None]]:
        return [[1, 2], [3, None], []]


async def test_a_list_of_lists_completes_as_the_reference_executor_does():
    # given
    schema = strawberry.Schema(query=GridQuery)._schema
    document = parse("{ grid }")
    operation = get_operation_ast(document)
    assert operation is not None
    # when
    planned = await FastExecutor(schema).execute(document, operation, get_variable_values(schema, [], {}), None)
    # then
    assert planned.formatted == execute(schema, document).formatted == {"data": {"grid": [[1, 2], [3, None], []]}}  # type: ignore[union-attr]
