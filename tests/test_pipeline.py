"""The request pipeline: each stage's hook, through HTTP and directly, on both executors.

Tiny schemas are built inline (as Starlette's tests build tiny apps): a Query, a Mutation and a
Subscription that say what reached them. The catalog schema and the real context factory are used where
the database matters (a refused request costs no SQL; the viewer reaches the real `Context`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLError, ValidationRule
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from app.asgi import request_context
from app.db.database import create_engine
from app.errors import Unauthenticated, UserInputError
from app.graphql.http import GraphQLHTTP
from app.graphql.pipeline import GraphQLParams, Operation, Outcome, Pipeline, RequestState
from app.web.request_id import RequestIdMiddleware
from schema.root import build_schema
from tests.conftest import settings_for
from tests.guarded_schema import GuardedQuery

JSON_UTF8 = "application/json; charset=utf-8"
GRAPHQL_RESPONSE = "application/graphql-response+json"

# --------------------------------------------------------------------------- a tiny schema

appended: list[str] = []


@strawberry.type(description="Reads what the pipeline handed the resolvers.")
class Query:
    @strawberry.field(description="The viewer `authenticate` found, as the context holds it.")
    def viewer(self, info: Info) -> str | None:
        return info.context.viewer

    @strawberry.field(description="The name of the context's class.")
    def context_type(self, info: Info) -> str:
        return type(info.context).__name__

    @strawberry.field(description="A constant.")
    def hello(self) -> str:
        return "world"


@strawberry.type(description="Writes, one after another.")
class Mutation:
    @strawberry.mutation(description="Append a word; the first one waits, so a parallel run would reorder them.")
    async def append(self, word: str) -> list[str]:
        await asyncio.sleep(0.02 if word == "first" else 0)
        appended.append(word)
        return list(appended)

    @strawberry.mutation(description="An expected failure.")
    def reject(self) -> str | None:
        raise UserInputError("Words must be short", field="word")

    @strawberry.mutation(description="An unexpected failure.")
    def explode(self) -> str | None:
        raise RuntimeError("secret internals: postgres://u:p@db")


@strawberry.type(description="Counts.")
class Subscription:
    @strawberry.subscription(description="1, 2, ... up to `to`.")
    async def count(self, to: int) -> AsyncGenerator[int, None]:
        for number in range(1, to + 1):
            yield number


hook_calls: list[str] = []
PREPARED = ["parse", "/parse", "validate", "/validate"]  # the hooks around parsing and validation


class Recorder(SchemaExtension):
    """Records each hook as it opens and closes, and reports the count in the response."""

    def on_operation(self) -> Iterator[None]:
        hook_calls.append("operation")
        yield
        hook_calls.append("/operation")

    def on_parse(self) -> Iterator[None]:
        hook_calls.append("parse")
        yield
        hook_calls.append("/parse")

    async def on_validate(self) -> AsyncIterator[None]:
        hook_calls.append("validate")
        yield
        hook_calls.append("/validate")

    def on_execute(self) -> Iterator[None]:
        hook_calls.append(f"execute:{self.execution_context.context.viewer}")
        yield
        hook_calls.append("/execute")

    def get_results(self) -> dict[str, Any]:
        return {"hooks": len(hook_calls)}


def tiny_schema(*extensions: type[SchemaExtension]) -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions)


@asynccontextmanager
async def plain_context(request: Any, viewer: Any) -> AsyncIterator[Any]:
    yield SimpleNamespace(request=request, viewer=viewer)


def bearer(request: Any, _operation: Any = None) -> str | None:
    """Reads `Authorization: Bearer <name>`, as a real authenticate reads a token: headers only."""
    header = request.headers.get("authorization", "") if request is not None else ""
    return header.removeprefix("Bearer ") or None


def kind(executor: str) -> Any:
    return "planned" if executor == "fast" else "reference"


@pytest.fixture(autouse=True)
def _clear() -> None:
    appended.clear()
    hook_calls.clear()


@asynccontextmanager
async def client_of(pipeline: Pipeline) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Route("/graphql", GraphQLHTTP(pipeline).handle, methods=["GET", "POST"])])
    transport = httpx.ASGITransport(app=RequestIdMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class CountingFast:
    """Counts the operations the planned executor ran, so a test knows which executor answered."""

    def __init__(self, pipeline: Pipeline) -> None:
        assert pipeline.fast is not None
        self.runs = 0
        execute = pipeline.fast.execute

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.runs += 1
            return await execute(*args, **kwargs)

        pipeline.fast.execute = counted  # type: ignore[method-assign]


# --------------------------------------------------------------------------- validation rules


class NoListings(ValidationRule):
    """A custom rule: documents that select `products` are refused."""

    def enter_field(self, node: Any, *_args: Any) -> None:
        if node.name.value == "products":
            self.report_error(GraphQLError("Listings are closed today", node))


async def test_a_rule_in_the_pipeline_s_list_refuses_a_document_before_any_sql(catalog_url: str, executor: str) -> None:
    settings = settings_for(catalog_url, fast_executor=executor == "fast")
    engine = create_engine(settings)
    statements: list[str] = []  # everything that reaches the database, as the suite's counter sees it
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    listing = {"query": "{ products(first: 2) { nodes { title } } }"}
    strict = Pipeline(build_schema(), request_context(settings, engine), rules=[NoListings], executor=kind(executor))
    lenient = Pipeline(build_schema(), request_context(settings, engine), executor=kind(executor))
    try:
        async with client_of(strict) as client:
            refused = await client.post("/graphql", json=listing)
            assert (refused.status_code, statements) == (200, [])
            assert refused.json() == {
                "errors": [
                    {
                        "message": "Listings are closed today",
                        "locations": [{"line": 1, "column": 3}],
                        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
                    }
                ]
            }
            # The rule refuses only what it names: another document runs, and takes SQL.
            other = await client.post("/graphql", json={"query": "{ categories(first: 1) { nodes { name } } }"})
            assert list(other.json()) == ["data"] and statements
        # The same text through a pipeline without the rule runs: the cached outcome belongs to the rule set.
        statements.clear()
        async with client_of(lenient) as client:
            answered = (await client.post("/graphql", json=listing)).json()
        assert len(answered["data"]["products"]["nodes"]) == 2 and statements
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- context and authentication


async def test_the_viewer_authenticate_finds_reaches_the_context(catalog_url: str, executor: str) -> None:
    settings = settings_for(catalog_url)
    engine = create_engine(settings)
    seen: list[Any] = []
    operations: list[Operation] = []

    def authenticate(request: Any, operation: Operation) -> str | None:
        seen.append(request)
        operations.append(operation)
        return bearer(request)

    pipeline = Pipeline(
        tiny_schema(), request_context(settings, engine), authenticate=authenticate, executor=kind(executor)
    )
    try:
        async with client_of(pipeline) as client:
            alice = await client.post(
                "/graphql", json={"query": "{ viewer contextType }"}, headers={"authorization": "Bearer alice"}
            )
            nobody = await client.get("/graphql", params={"query": "{ viewer }"})
            refused = await client.post("/graphql", json={"query": "{ nosuchfield }"})
    finally:
        await engine.dispose()
    assert alice.json() == {"data": {"viewer": "alice", "contextType": "Context"}}
    assert nobody.json() == {"data": {"viewer": None}}
    assert refused.json()["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    # authenticate got the transport's request and what it runs, and never ran for the refused document.
    assert [request.method for request in seen] == ["POST", "GET"]
    assert operations == [
        Operation("query", frozenset({"viewer", "contextType"})),
        Operation("query", frozenset({"viewer"})),
    ]


async def test_authenticate_sees_root_fields_through_fragments() -> None:
    operations: list[Operation] = []

    def record(_request: Any, operation: Operation) -> None:
        operations.append(operation)

    pipeline = Pipeline(tiny_schema(), plain_context, authenticate=record)
    query = (
        "query { ...Top ... on Query { contextType } } "
        "fragment Top on Query { hello ...Top2 } fragment Top2 on Query { viewer }"
    )
    result = await pipeline.run(GraphQLParams(query))
    assert "errors" not in result.payload()
    assert operations == [Operation("query", frozenset({"hello", "contextType", "viewer"}))]


async def test_refused_credentials_answer_401_with_a_bearer_challenge(executor: str) -> None:
    opened: list[Any] = []

    def expired(_request: Any, _operation: Operation) -> None:
        raise Unauthenticated("The access token has expired", bearer=True)

    @asynccontextmanager
    async def context(request: Any, viewer: Any) -> AsyncIterator[Any]:
        opened.append(request)
        yield None

    pipeline = Pipeline(tiny_schema(), context, authenticate=expired, executor=kind(executor))
    async with client_of(pipeline) as client:
        response = await client.post("/graphql", json={"query": "{ hello }"})
    assert (response.status_code, opened) == (401, [])
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="The access token has expired"'
    )
    assert response.json() == {
        "errors": [{"message": "The access token has expired", "extensions": {"code": "UNAUTHENTICATED"}}]
    }


# --------------------------------------------------------------------------- mutations


async def test_a_mutation_runs_in_order_through_the_same_stages(executor: str) -> None:
    def stage(state: RequestState) -> dict[str, Any]:
        return {"stage": "executed" if state.result is not None else "refused"}

    pipeline = Pipeline(
        tiny_schema(Recorder), plain_context, executor=kind(executor), authenticate=bearer, response_extensions=[stage]
    )
    async with client_of(pipeline) as client:
        response = await client.post(
            "/graphql",
            json={"query": 'mutation { a: append(word: "first") b: append(word: "second") }'},
            headers={"authorization": "Bearer ann"},
        )
    assert response.status_code == 200
    assert response.json() == {
        "data": {"a": ["first"], "b": ["first", "second"]},
        "extensions": {"stage": "executed", "hooks": 8},
    }
    assert hook_calls == [
        "operation",
        "parse",
        "/parse",
        "validate",
        "/validate",
        "execute:ann",
        "/execute",
        "/operation",
    ]


async def test_a_mutation_s_domain_error_keeps_its_code(executor: str) -> None:
    async with client_of(Pipeline(tiny_schema(), plain_context, executor=kind(executor))) as client:
        response = await client.post("/graphql", json={"query": "mutation { reject }"})
    assert response.status_code == 200
    assert response.json() == {
        "data": {"reject": None},
        "errors": [
            {
                "message": "Words must be short",
                "locations": [{"line": 1, "column": 12}],
                "path": ["reject"],
                "extensions": {"code": "BAD_USER_INPUT", "field": "word"},
            }
        ],
    }


async def test_a_mutation_s_unexpected_error_is_masked_with_the_request_id_and_logged(
    executor: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_of(Pipeline(tiny_schema(), plain_context, executor=kind(executor))) as client:
        with caplog.at_level(logging.ERROR, logger="storefront.graphql"):
            response = await client.post(
                "/graphql", json={"query": "mutation { explode }"}, headers={"x-request-id": "req-42"}
            )
    assert response.status_code == 200
    assert response.json() == {
        "data": {"explode": None},
        "errors": [
            {
                "message": "Internal server error",
                "locations": [{"line": 1, "column": 12}],
                "path": ["explode"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"},
            }
        ],
    }
    assert "secret" not in response.text
    [record] = [r for r in caplog.records if r.name == "storefront.graphql"]
    assert record.getMessage() == "unexpected error at ['explode']"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "RuntimeError: secret internals" in caplog.text


# --------------------------------------------------------------------------- response extensions


async def test_a_response_extensions_hook_adds_to_extensions(executor: str) -> None:
    def operation_type(state: RequestState) -> dict[str, Any] | None:
        if state.operation is None:
            return {"refusedAt": "validation"}
        return {"operationType": state.operation.operation.value}

    pipeline = Pipeline(tiny_schema(), plain_context, executor=kind(executor), response_extensions=[operation_type])
    async with client_of(pipeline) as client:
        query = await client.post("/graphql", json={"query": "{ hello }"})
        mutation = await client.post("/graphql", json={"query": "mutation { reject }"})
        refused = await client.post("/graphql", json={"query": "{ nosuchfield }"})
    assert query.json() == {"data": {"hello": "world"}, "extensions": {"operationType": "query"}}
    assert mutation.json()["extensions"] == {"operationType": "mutation"}
    assert refused.json()["extensions"] == {"refusedAt": "validation"}


# --------------------------------------------------------------------------- strawberry extensions


async def test_strawberry_extension_hooks_run_once_per_request(executor: str) -> None:
    pipeline = Pipeline(tiny_schema(Recorder), plain_context, executor=kind(executor), authenticate=bearer)
    fast = CountingFast(pipeline) if executor == "fast" else None
    async with client_of(pipeline) as client:
        first = await client.post("/graphql", json={"query": "{ hello }"}, headers={"authorization": "Bearer bo"})
        assert first.json() == {"data": {"hello": "world"}, "extensions": {"hooks": 8}}
        assert hook_calls == [
            "operation",
            "parse",
            "/parse",
            "validate",
            "/validate",
            "execute:bo",
            "/execute",
            "/operation",
        ]
        hook_calls.clear()
        refused = await client.post("/graphql", json={"query": "{ nosuchfield }"})
    # A refused document: the hooks around parsing and validation ran, execution never did.
    assert hook_calls == ["operation", *PREPARED, "/operation"]
    assert refused.json()["extensions"] == {"hooks": 6}
    if fast is not None:
        assert fast.runs == 1  # the query ran on the planned executor, inside the hooks


class CachedAnswer(SchemaExtension):
    """An `on_execute` that answers from a cache: the executor never runs."""

    def on_execute(self) -> Iterator[None]:
        from graphql import ExecutionResult

        self.execution_context.result = ExecutionResult({"hello": "from the cache"})
        yield


class Shout(SchemaExtension):
    """An `on_parse` that supplies its own document."""

    def on_parse(self) -> Iterator[None]:
        from graphql import parse

        self.execution_context.graphql_document = parse("{ shout: hello }")
        yield


@pytest.mark.parametrize(
    ("extension", "expected"),
    [(CachedAnswer, {"hello": "from the cache"}), (Shout, {"shout": "world"})],
)
async def test_strawberry_extensions_may_supply_the_document_or_the_result(
    executor: str, extension: type[SchemaExtension], expected: dict[str, Any]
) -> None:
    pipeline = Pipeline(tiny_schema(extension), plain_context, executor=kind(executor))
    result = await pipeline.run(GraphQLParams("{ hello }"))
    assert (result.outcome, result.payload()) == (Outcome.OK, {"data": expected})


# --------------------------------------------------------------------------- subscriptions


async def test_a_subscription_streams_through_the_same_stages(executor: str) -> None:
    def numbered(state: RequestState) -> dict[str, Any]:
        return {"viewer": state.viewer}

    pipeline = Pipeline(tiny_schema(Recorder), plain_context, executor=kind(executor), response_extensions=[numbered])
    request = SimpleNamespace(headers={"authorization": "Bearer sub"})
    pipeline.authenticate = bearer
    results = [r.payload() async for r in pipeline.subscribe(GraphQLParams("subscription { count(to: 3) }"), request)]
    assert results == [
        {"data": {"count": 1}, "extensions": {"viewer": "sub", "hooks": 6}},
        {"data": {"count": 2}, "extensions": {"viewer": "sub", "hooks": 6}},
        {"data": {"count": 3}, "extensions": {"viewer": "sub", "hooks": 6}},
    ]
    assert hook_calls == ["operation", *PREPARED, "execute:sub", "/execute", "/operation"]


async def test_a_subscription_over_http_is_a_request_error(executor: str) -> None:
    async with client_of(Pipeline(tiny_schema(), plain_context, executor=kind(executor))) as client:
        posted = await client.post("/graphql", json={"query": "subscription { count(to: 1) }"})
        got = await client.get("/graphql", params={"query": "subscription { count(to: 1) }"})
    assert (posted.status_code, posted.headers["content-type"]) == (200, JSON_UTF8)
    assert posted.json() == {
        "errors": [
            {
                "message": "Subscriptions need a streaming transport (a WebSocket, or Accept: text/event-stream), "
                "not a single response",
                "extensions": {"code": "OPERATION_NOT_SUPPORTED"},
            }
        ]
    }
    assert (got.status_code, got.headers["allow"]) == (405, "POST")


class Upper(SchemaExtension):
    """A `resolve` hook (graphql-core middleware): upper-cases every string."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


async def test_an_extension_s_resolve_hook_runs_whichever_executor_is_chosen(executor: str) -> None:
    # The planned executor runs no middleware, so a schema with a `resolve` hook executes on graphql-core.
    pipeline = Pipeline(tiny_schema(Upper), plain_context, executor=kind(executor))
    result = await pipeline.run(GraphQLParams("{ hello }"))
    assert result.payload() == {"data": {"hello": "WORLD"}}


async def test_authenticate_may_refuse_with_a_domain_error_before_any_context(executor: str) -> None:
    opened: list[Any] = []

    def malformed(_request: Any, _operation: Any) -> None:
        raise UserInputError("The bearer token is malformed")

    @asynccontextmanager
    async def context(request: Any, viewer: Any) -> AsyncIterator[Any]:
        opened.append(request)
        yield None

    pipeline = Pipeline(tiny_schema(), context, authenticate=malformed, executor=kind(executor))
    async with client_of(pipeline) as client:
        response = await client.post("/graphql", json={"query": "{ hello }"}, headers={"accept": GRAPHQL_RESPONSE})
    assert (response.status_code, opened) == (400, [])
    assert response.json() == {
        "errors": [{"message": "The bearer token is malformed", "extensions": {"code": "BAD_USER_INPUT"}}]
    }


async def test_a_permission_denial_reaches_the_client_with_its_message_and_forbidden(executor: str) -> None:
    # given: a resolver-less field guarded by a permission class, read by someone else
    pipeline = Pipeline(strawberry.Schema(query=GuardedQuery), guarded_context, executor=kind(executor))
    async with client_of(pipeline) as client:
        # when
        response = await client.post("/graphql", json={"query": "{ me { name email } }"})
    # then: the denial is neither masked as an internal error nor logged as one
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "Not allowed",
                "locations": [{"line": 1, "column": 13}],
                "path": ["me", "email"],
                "extensions": {"code": "FORBIDDEN"},
            }
        ],
    }


@asynccontextmanager
async def guarded_context(request: Any, viewer: Any) -> AsyncIterator[Any]:
    yield {"viewer": "bob"}
