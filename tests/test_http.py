"""GraphQL over HTTP: status codes, media types and whole response bodies, in-process.

The rules (GraphQL-over-HTTP spec): a request that is not well-formed (bad JSON, a body that is not one
JSON object, a parameter of the wrong type) gets 400 under either media type; a well-formed request
whose document does not parse or validate, names no operation, or whose variables do not coerce gets
400 under application/graphql-response+json and the legacy 200 with `errors` under application/json.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLField, GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import Route

import resolvers.catalog
from app.catalog.sql import products as products_table
from app.db import migrate
from app.graphql.http import MAX_BODY_BYTES, GraphQLHTTP
from app.graphql.pipeline import Pipeline
from tests import conftest
from tests.conftest import Api, fresh_database, serve
from tests.helpers import without_cost

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON_UTF8 = "application/json; charset=utf-8"
GRAPHQL_RESPONSE_UTF8 = "application/graphql-response+json; charset=utf-8"
BOTH = pytest.mark.parametrize(
    ("accept", "content_type"), [(JSON, JSON_UTF8), (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE_UTF8)]
)
# A well-formed request with a GraphQL request error: 200 under application/json, 400 under the new type.
REQUEST_ERROR = pytest.mark.parametrize(
    ("accept", "status", "content_type"),
    [(JSON, 200, JSON_UTF8), (GRAPHQL_RESPONSE, 400, GRAPHQL_RESPONSE_UTF8)],
)
TYPENAME = {"data": {"__typename": "Query"}}
UNAVAILABLE_MESSAGE = "The database is unavailable; try again shortly"


def bad_request(message: str, code: str = "BAD_REQUEST") -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


async def post_raw(api: Api, content: bytes, content_type: str | None = JSON, accept: str = JSON) -> httpx.Response:
    headers = {"accept": accept}
    if content_type is not None:
        headers["content-type"] = content_type
    return await api.client.post("/graphql", content=content, headers=headers)


async def first_slugs(api: Api, count: int) -> list[str]:
    """The slugs of the first visible products by ID, read straight from the database."""
    statement = (
        select(products_table.c.slug)
        .where(products_table.c.status == "ACTIVE")
        .order_by(products_table.c.id)
        .limit(count)
    )
    async with api.engine.connect() as connection:
        return list((await connection.execute(statement)).scalars())


# --------------------------------------------------------------------------- success and negotiation


async def test_post_application_json(api: Api) -> None:
    slugs = await first_slugs(api, 2)
    response = await api.client.post(
        "/graphql",
        json={"query": "{ products(first: 2) { nodes { slug } } }"},
        headers={"accept": JSON},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_UTF8
    assert without_cost(response.json()) == {"data": {"products": {"nodes": [{"slug": slug} for slug in slugs]}}}


async def test_accept_graphql_response_json(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": "{ __typename }"}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_UTF8
    assert without_cost(response.json()) == TYPENAME


async def test_missing_accept_means_application_json(api: Api) -> None:
    request = api.client.build_request("POST", "/graphql", json={"query": "{ __typename }"})
    del request.headers["accept"]  # httpx sends */* unless told otherwise
    response = await api.client.send(request)
    assert "accept" not in request.headers
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_UTF8
    assert without_cost(response.json()) == TYPENAME


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("*/*", JSON_UTF8),
        ("application/*", JSON_UTF8),
        (f"{JSON};q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE_UTF8),
        (f"{GRAPHQL_RESPONSE};q=0.1, {JSON};q=0.9", JSON_UTF8),
        (f"text/html, {GRAPHQL_RESPONSE};q=0, {JSON};q=0.2", JSON_UTF8),
    ],
)
async def test_accept_negotiation(api: Api, accept: str, content_type: str) -> None:
    response = await api.client.post("/graphql", json={"query": "{ __typename }"}, headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert without_cost(response.json()) == TYPENAME


async def test_accept_text_plain_only_is_406(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": "{ __typename }"}, headers={"accept": "text/plain"})
    assert response.status_code == 406
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json() == bad_request(f"Not acceptable; accept {GRAPHQL_RESPONSE} or {JSON}", code="NOT_ACCEPTABLE")


async def test_accept_with_every_json_type_refused_is_406(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": f"text/html, {JSON};q=0"}
    )
    assert response.status_code == 406
    assert response.headers["content-type"] == JSON_UTF8


@BOTH
async def test_get_query(api: Api, accept: str, content_type: str) -> None:
    slugs = await first_slugs(api, 3)
    response = await api.client.get(
        "/graphql",
        params={
            "query": "query Page($n: Int) { products(first: $n) { nodes { slug } } }",
            "variables": '{"n": 3}',
            "operationName": "Page",
        },
        headers={"accept": accept},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert without_cost(response.json()) == {"data": {"products": {"nodes": [{"slug": slug} for slug in slugs]}}}


@BOTH
async def test_get_mutation_is_405_even_without_a_mutation_type(api: Api, accept: str, content_type: str) -> None:
    # The method check reads the parsed document before validation, so a GET mutation is refused with
    # 405 whether or not the schema has a Mutation type (it has none yet).
    response = await api.client.get("/graphql", params={"query": "mutation { __typename }"}, headers={"accept": accept})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == content_type
    assert response.json() == bad_request(
        "Only queries may be sent with GET; send mutations with POST", code="METHOD_NOT_ALLOWED"
    )


@REQUEST_ERROR
async def test_post_subscription_is_a_request_error_without_a_stream(
    api: Api, accept: str, status: int, content_type: str
) -> None:
    # A plain POST answers once; a subscription needs a WebSocket or an event stream (Accept: text/event-stream).
    body = {"query": 'subscription { variantAvailabilityChanged(variantIds: ["x"]) { id } }'}
    response = await api.client.post("/graphql", json=body, headers={"accept": accept})
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert without_cost(response.json()) == {
        "errors": [
            {
                "message": "Subscriptions need a streaming transport (a WebSocket, or Accept: text/event-stream), "
                "not a single response",
                "extensions": {"code": "OPERATION_NOT_SUPPORTED"},
            }
        ]
    }


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(api: Api, method: str) -> None:
    response = await api.client.request(method, "/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405
    # Starlette's router answers before the view: plain text, and Allow lists the route's methods.
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "Method Not Allowed"


# --------------------------------------------------------------------------- malformed requests: 400 always


@BOTH
async def test_malformed_json_is_400(api: Api, accept: str, content_type: str) -> None:
    response = await post_raw(api, b'{"query": "{ __typename }"', accept=accept)
    assert response.status_code == 400
    assert response.headers["content-type"] == content_type
    assert response.json() == bad_request("The request body is not valid JSON: unexpected end of data")


@BOTH
async def test_batched_array_is_400(api: Api, accept: str, content_type: str) -> None:
    response = await post_raw(api, b'[{"query": "{ __typename }"}]', accept=accept)
    assert response.status_code == 400
    assert response.headers["content-type"] == content_type
    assert response.json() == bad_request("Batched requests (a JSON array) are not supported; send one JSON object")


@pytest.mark.parametrize("body", [b"null", b'"{ __typename }"', b"42"])
async def test_body_that_is_not_an_object_is_400(api: Api, body: bytes) -> None:
    response = await post_raw(api, body)
    assert response.status_code == 400
    assert response.json() == bad_request("The request body must be a JSON object with a `query`")


@pytest.mark.parametrize("body", [b"", b"  \n "])
async def test_empty_body_is_400(api: Api, body: bytes) -> None:
    response = await post_raw(api, body)
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json() == bad_request("The request body is empty; send a JSON object with a `query`")


async def test_text_plain_content_type_is_415(api: Api) -> None:
    response = await post_raw(api, b'{"query": "{ __typename }"}', content_type="text/plain")
    assert response.status_code == 415
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json() == bad_request(
        "Unsupported Content-Type 'text/plain'; send application/json", code="UNSUPPORTED_MEDIA_TYPE"
    )


async def test_missing_content_type_is_415(api: Api) -> None:
    response = await post_raw(api, b'{"query": "{ __typename }"}', content_type=None)
    assert response.status_code == 415
    assert response.json() == bad_request(
        "POST requests need `Content-Type: application/json`", code="UNSUPPORTED_MEDIA_TYPE"
    )


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", 'application/json;charset="UTF-8"', "Application/JSON"]
)
async def test_utf8_content_types_are_accepted(api: Api, content_type: str) -> None:
    response = await post_raw(api, '{"query": "{ __typename } # café"}'.encode(), content_type=content_type)
    assert response.status_code == 200
    assert without_cost(response.json()) == TYPENAME


async def test_other_charset_is_415(api: Api) -> None:
    response = await post_raw(api, b'{"query": "{ __typename }"}', content_type="application/json; charset=latin-1")
    assert response.status_code == 415
    assert response.json() == bad_request("Unsupported charset 'latin-1'; send utf-8", code="UNSUPPORTED_MEDIA_TYPE")


async def test_body_over_1mb_is_413(api: Api) -> None:
    body = b'{"query": "{ __typename }", "extensions": {"pad": "' + b"x" * MAX_BODY_BYTES + b'"}}'
    response = await post_raw(api, body)
    assert response.status_code == 413
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json() == bad_request("The request body exceeds 1000000 bytes", code="PAYLOAD_TOO_LARGE")


async def test_streamed_body_over_1mb_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "extensions": {"pad": "'
        for _ in range(11):
            yield b"x" * 100_000
        yield b'"}}'

    response = await api.client.post("/graphql", content=chunks(), headers={"content-type": JSON, "accept": JSON})
    assert response.request.headers.get("content-length") is None  # no length to check up front
    assert response.status_code == 413
    assert response.json() == bad_request("The request body exceeds 1000000 bytes", code="PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "The `query` parameter is missing"),
        ({"qeury": "{ __typename }"}, "The `query` parameter is missing"),
        ({"query": ""}, "The `query` parameter is missing"),
        ({"query": 42}, "The `query` parameter must be a string"),
        ({"query": ["{ __typename }"]}, "The `query` parameter must be a string"),
        ({"query": "{ __typename }", "variables": "{}"}, "The `variables` parameter must be a JSON object"),
        ({"query": "{ __typename }", "variables": [1]}, "The `variables` parameter must be a JSON object"),
        ({"query": "{ __typename }", "operationName": 1}, "The `operationName` parameter must be a string"),
        ({"query": "{ __typename }", "extensions": "x"}, "The `extensions` parameter must be a JSON object"),
    ],
)
@BOTH
async def test_bad_parameters_are_400(
    api: Api, body: dict[str, Any], message: str, accept: str, content_type: str
) -> None:
    response = await api.client.post("/graphql", json=body, headers={"accept": accept})
    assert response.status_code == 400
    assert response.headers["content-type"] == content_type
    assert response.json() == bad_request(message)


async def test_get_with_variables_that_are_not_json_is_400(api: Api) -> None:
    response = await api.client.get(
        "/graphql", params={"query": "{ __typename }", "variables": "{n: 1"}, headers={"accept": JSON}
    )
    assert response.status_code == 400
    assert response.json() == bad_request("The `variables` parameter is not valid JSON")


@pytest.mark.parametrize("name", ["variables", "operationName", "extensions"])
async def test_null_parameters_are_allowed(api: Api, name: str) -> None:
    response = await api.client.post("/graphql", json={"query": "{ __typename }", name: None})
    assert response.status_code == 200
    assert without_cost(response.json()) == TYPENAME


# --------------------------------------------------------------------------- GraphQL request errors


@REQUEST_ERROR
async def test_variables_of_the_wrong_type(api: Api, accept: str, status: int, content_type: str) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "query($n: Int) { products(first: $n) { nodes { id } } }", "variables": {"n": "x"}},
        headers={"accept": accept},
    )
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert without_cost(response.json()) == {
        "errors": [
            {
                "message": "Variable '$n' has invalid value: Int cannot represent non-integer value: 'x'",
                "locations": [{"line": 1, "column": 7}],
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }


@REQUEST_ERROR
async def test_syntax_error(api: Api, accept: str, status: int, content_type: str) -> None:
    response = await api.client.post(
        "/graphql", json={"query": "{ products(first: 2) { nodes { id } "}, headers={"accept": accept}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert without_cost(response.json()) == {
        "errors": [
            {
                "message": "Syntax Error: Expected Name, found <EOF>.",
                "locations": [{"line": 1, "column": 37}],
                "extensions": {"code": "GRAPHQL_PARSE_FAILED"},
            }
        ]
    }


@REQUEST_ERROR
async def test_unknown_field(api: Api, accept: str, status: int, content_type: str) -> None:
    response = await api.client.post(
        "/graphql", json={"query": "{ prodcts(first: 2) { nodes { id } } }"}, headers={"accept": accept}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert without_cost(response.json()) == {
        "errors": [
            {
                "message": "Cannot query field 'prodcts' on type 'Query'. Did you mean 'products' or 'product'?",
                "locations": [{"line": 1, "column": 3}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ]
    }


@REQUEST_ERROR
async def test_operation_name_naming_no_operation(api: Api, accept: str, status: int, content_type: str) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "query A { __typename } query B { __typename }", "operationName": "C"},
        headers={"accept": accept},
    )
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert without_cost(response.json()) == {
        "errors": [{"message": "Unknown operation named 'C'", "extensions": {"code": "OPERATION_RESOLUTION_FAILURE"}}]
    }


async def test_several_operations_without_operation_name(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": "query A { __typename } query B { __typename }"})
    assert response.status_code == 200
    assert without_cost(response.json()) == {
        "errors": [
            {
                "message": "Pass `operationName` to say which of the document's operations to run",
                "extensions": {"code": "OPERATION_RESOLUTION_FAILURE"},
            }
        ]
    }


async def test_operation_name_picks_the_operation(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "query A { a: __typename } query B { b: __typename }", "operationName": "B"},
    )
    assert response.status_code == 200
    assert without_cost(response.json()) == {"data": {"b": "Query"}}


# --------------------------------------------------------------------------- resolver errors


@BOTH
async def test_expected_resolver_error_keeps_its_message_and_code(api: Api, accept: str, content_type: str) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": '{ product(id: "not an id!") { id title } }'},
        headers={"accept": accept},
    )
    # A field error with data present: 200 under both media types.
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert without_cost(response.json()) == {
        "data": {"product": None},
        "errors": [
            {
                "message": "Malformed global ID: 'not an id!'",
                "locations": [{"line": 1, "column": 3}],
                "path": ["product"],
                "extensions": {"code": "BAD_USER_INPUT", "field": "id"},
            }
        ],
    }


async def test_unexpected_resolver_error_is_masked_and_logged(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret internals: connection string postgres://u:p@db")

    monkeypatch.setattr(resolvers.catalog, "product", broken)
    with caplog.at_level(logging.ERROR, logger="storefront.graphql"):
        response = await api.client.post("/graphql", json={"query": '{ product(slug: "anything") { id } }'})
    assert response.status_code == 200
    assert without_cost(response.json()) == {
        "data": {"product": None},
        "errors": [
            {
                "message": "Internal server error",
                "locations": [{"line": 1, "column": 3}],
                "path": ["product"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": response.headers["x-request-id"]},
            }
        ],
    }
    assert "secret" not in response.text
    [record] = [r for r in caplog.records if r.name == "storefront.graphql"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "unexpected error at ['product']"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "Traceback" in caplog.text
    assert "RuntimeError: secret internals" in caplog.text


# --------------------------------------------------------------------------- a database out of reach


@asynccontextmanager
async def dead_database_app(kind: str, tmp_path: Path) -> AsyncIterator[Api]:
    if kind == "postgresql":
        url = "postgresql+asyncpg://storefront@127.0.0.1:1/storefront"  # nothing listens on port 1
    else:
        directory = tmp_path / "not-a-file.db"
        directory.mkdir()  # SQLite cannot open a directory as its database file
        url = f"sqlite+aiosqlite:///{directory}"
    async with serve(conftest.settings_for(url)) as api:
        yield api


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
async def test_dead_database_is_503_not_500(kind: str, tmp_path: Path) -> None:
    async with dead_database_app(kind, tmp_path) as api:
        response = await api.client.post("/graphql", json={"query": "{ products(first: 1) { nodes { id } } }"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == JSON_UTF8
        assert without_cost(response.json()) == {
            "data": None,
            "errors": [
                {
                    "message": UNAVAILABLE_MESSAGE,
                    "locations": [{"line": 1, "column": 3}],
                    "path": ["products"],
                    "extensions": {"code": "SERVICE_UNAVAILABLE"},
                }
            ],
        }

        # A nullable field keeps `data`, so the response stays 200 (the spec asks for 2xx whenever
        # `data` is present and not null) with the same error.
        response = await api.client.post("/graphql", json={"query": '{ product(slug: "x") { id } }'})
        assert response.status_code == 200
        assert without_cost(response.json()) == {
            "data": {"product": None},
            "errors": [
                {
                    "message": UNAVAILABLE_MESSAGE,
                    "locations": [{"line": 1, "column": 3}],
                    "path": ["product"],
                    "extensions": {"code": "SERVICE_UNAVAILABLE"},
                }
            ],
        }

        # Queries that need no database still work.
        response = await api.client.post("/graphql", json={"query": "{ __typename }"})
        assert (response.status_code, without_cost(response.json())) == (200, TYPENAME)

        healthz = await api.client.get("/healthz")
        assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
        readyz = await api.client.get("/readyz")
        assert (readyz.status_code, readyz.json()) == (
            503,
            {"status": "unavailable", "database": "unreachable"},
        )


# --------------------------------------------------------------------------- readiness


async def test_readyz_on_a_migrated_database(api: Api) -> None:
    head = migrate.head_revision()
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": {"current": head, "head": head}}


async def test_readyz_on_a_database_never_migrated(backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend, tmp_path) as url, serve(conftest.settings_for(url)) as api:
        response = await api.client.get("/readyz")
        healthz = await api.client.get("/healthz")
    assert response.status_code == 503
    assert without_cost(response.json()) == {
        "status": "unavailable",
        "database": "ok",
        "migrations": {"current": None, "head": migrate.head_revision()},
    }
    assert healthz.status_code == 200


# --------------------------------------------------------------------------- request ids


async def test_request_id_is_generated(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": "{ __typename }"})
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32 and all(c in "0123456789abcdef" for c in request_id)


@pytest.mark.parametrize("incoming", ["abc-123", "Req_42.retry-1", "a" * 64])
async def test_sane_request_id_is_echoed(api: Api, incoming: str) -> None:
    response = await api.client.post("/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": incoming})
    assert response.headers["x-request-id"] == incoming
    assert response.headers.get_list("x-request-id") == [incoming]


@pytest.mark.parametrize(
    "incoming",
    ["a" * 65, "has space", "semi;colon", "<script>", "ü-umlaut"],
)
async def test_overlong_or_garbage_request_id_is_replaced(api: Api, incoming: str) -> None:
    response = await api.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={b"x-request-id": incoming.encode()}
    )
    request_id = response.headers["x-request-id"]
    assert request_id != incoming
    assert len(request_id) == 32 and all(c in "0123456789abcdef" for c in request_id)


async def test_request_id_on_error_responses_too(api: Api) -> None:
    response = await post_raw(api, b"{", accept=JSON)
    assert response.status_code == 400
    assert len(response.headers["x-request-id"]) == 32


# --------------------------------------------------------------------------- the view on a tiny schema


def tiny_schema() -> GraphQLSchema:
    counter = {"value": 0}

    def bump(_root: Any, _info: Any) -> int:
        counter["value"] += 1
        return counter["value"]

    return GraphQLSchema(
        query=GraphQLObjectType("Query", {"hello": GraphQLField(GraphQLString, resolve=lambda *_: "world")}),
        mutation=GraphQLObjectType("Mutation", {"bump": GraphQLField(GraphQLInt, resolve=bump)}),
    )


@asynccontextmanager
async def tiny_client(context_factory: Any = None) -> AsyncIterator[httpx.AsyncClient]:
    @asynccontextmanager
    async def no_context(_request: Any, _viewer: Any) -> AsyncIterator[None]:
        yield None

    view = GraphQLHTTP(Pipeline(tiny_schema(), context_factory or no_context))
    app = Starlette(routes=[Route("/graphql", view.handle, methods=["GET", "POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@BOTH
async def test_view_refuses_a_mutation_over_get(accept: str, content_type: str) -> None:
    async with tiny_client() as client:
        response = await client.get("/graphql", params={"query": "mutation { bump }"}, headers={"accept": accept})
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.headers["content-type"] == content_type
        assert response.json() == bad_request(
            "Only queries may be sent with GET; send mutations with POST", code="METHOD_NOT_ALLOWED"
        )
        head = await client.head("/graphql", params={"query": "mutation { bump }"})
        assert (head.status_code, head.headers["allow"]) == (405, "POST")
        # Refused before execution: the first mutation that does run sees the counter at 1.
        posted = await client.post("/graphql", json={"query": "mutation { bump }"}, headers={"accept": accept})
        assert (posted.status_code, without_cost(posted.json())) == (200, {"data": {"bump": 1}})


async def test_view_picks_the_operation_before_the_method_check() -> None:
    document = "query Q { hello } mutation M { bump }"
    async with tiny_client() as client:
        query = await client.get("/graphql", params={"query": document, "operationName": "Q"})
        assert (query.status_code, without_cost(query.json())) == (200, {"data": {"hello": "world"}})
        mutation = await client.get("/graphql", params={"query": document, "operationName": "M"})
        assert (mutation.status_code, mutation.headers["allow"]) == (405, "POST")


async def test_view_answers_503_when_the_database_fails_outside_execution(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @asynccontextmanager
    async def unreachable(_request: Any, _viewer: Any) -> AsyncIterator[None]:
        raise ConnectionRefusedError(111, "Connect call failed")
        yield None  # pragma: no cover

    async with tiny_client(unreachable) as client:
        with caplog.at_level(logging.WARNING, logger="storefront.graphql"):
            response = await client.post("/graphql", json={"query": "{ hello }"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert without_cost(response.json()) == {
        "errors": [{"message": UNAVAILABLE_MESSAGE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}]
    }
    assert "database unavailable outside execution" in caplog.text


async def test_view_masks_an_unexpected_failure_outside_execution(caplog: pytest.LogCaptureFixture) -> None:
    @asynccontextmanager
    async def broken(_request: Any, _viewer: Any) -> AsyncIterator[None]:
        raise RuntimeError("secret context failure")
        yield None  # pragma: no cover

    async with tiny_client(broken) as client:
        with caplog.at_level(logging.ERROR, logger="storefront.graphql"):
            response = await client.post("/graphql", json={"query": "{ hello }"})
    assert response.status_code == 500
    assert without_cost(response.json()) == {
        "errors": [{"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]
    }
    assert "secret" not in response.text
    assert "RuntimeError: secret context failure" in caplog.text
