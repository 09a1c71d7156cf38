"""GraphQL over Server-Sent Events (graphql-sse, distinct connections mode), against a live uvicorn with
httpx streaming, on the tiny schema of `tests.support.subscriptions`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.requests import Request

from app.graphql.sse import wants_event_stream
from tests.support.subscriptions import ALLOWED_ORIGIN, TIMEOUT, Served, serve_subscriptions, sse_events, streams

EVENT_STREAM = {"accept": "text/event-stream"}
COMPLETE = b"event: complete\ndata:\n\n"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve_subscriptions() as running:
        yield running


@pytest.fixture
async def client(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=TIMEOUT) as client:
        yield client


def next_event(payload: dict[str, Any]) -> bytes:
    return b"event: next\ndata: " + orjson.dumps(payload) + b"\n\n"


def request_accepting(accept: str | None, method: str = "POST") -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode())]
    return Request({"type": "http", "method": method, "path": "/graphql", "headers": headers, "query_string": b""})


@pytest.mark.parametrize(
    ("accept", "method", "wanted"),
    [
        ("text/event-stream", "POST", True),
        ("text/event-stream", "GET", True),
        ("text/event-stream; charset=utf-8", "POST", True),
        ("text/event-stream, application/json", "POST", True),  # a tie: the first named wins
        ("application/json, text/event-stream", "POST", False),
        ("application/json;q=0.5, text/event-stream", "POST", True),
        ("text/event-stream;q=0", "POST", False),
        ("application/graphql-response+json", "POST", False),
        ("*/*", "POST", False),
        (None, "POST", False),
        ("text/event-stream", "PUT", False),
    ],
)
def test_wants_event_stream_reads_the_accept_header(accept: str | None, method: str, wanted: bool) -> None:
    assert wants_event_stream(request_accepting(accept, method)) is wanted


async def test_a_subscription_is_a_next_event_per_result_then_complete(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "subscription { count(to: 2) }"}, headers=EVENT_STREAM)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == (next_event({"data": {"count": 1}}) + next_event({"data": {"count": 2}}) + COMPLETE)


async def test_get_streams_too_and_a_query_is_one_next_then_complete(client: httpx.AsyncClient) -> None:
    subscription = await client.get(
        "/graphql",
        params={"query": "subscription ($to: Int!) { count(to: $to) }", "variables": '{"to": 1}'},
        headers=EVENT_STREAM,
    )
    assert (subscription.status_code, subscription.content) == (200, next_event({"data": {"count": 1}}) + COMPLETE)
    query = await client.get("/graphql", params={"query": "{ hello }"}, headers=EVENT_STREAM)
    assert query.content == next_event({"data": {"hello": "world"}}) + COMPLETE


async def test_an_error_mid_stream_is_a_next_event_then_complete(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "subscription { expires }"}, headers=EVENT_STREAM)
    error = {"message": "The session has expired; sign in again", "extensions": {"code": "UNAUTHENTICATED"}}
    assert (response.status_code, response.content) == (
        200,
        next_event({"data": {"expires": 1}}) + next_event({"errors": [error]}) + COMPLETE,
    )


async def test_the_document_s_errors_are_streamed_as_the_protocol_requires(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "subscription { nosuchfield }"}, headers=EVENT_STREAM)
    error = {
        "message": "Cannot query field 'nosuchfield' on type 'Subscription'.",
        "locations": [{"line": 1, "column": 16}],
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
    }
    assert (response.status_code, response.content) == (200, next_event({"errors": [error]}) + COMPLETE)


SUBSCRIBE = {"query": "subscription { count(to: 1) }"}
CHALLENGE = 'Bearer error="invalid_token", error_description="The access token has expired"'


@pytest.mark.parametrize(
    ("method", "options", "status", "error", "response_headers"),
    [
        (
            "POST",
            {"json": {"query": 5}},
            400,
            {"message": "The `query` parameter must be a string", "extensions": {"code": "BAD_REQUEST"}},
            {},
        ),
        (
            "POST",
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
            {
                "message": "The request body is not valid JSON: unexpected end of data",
                "extensions": {"code": "BAD_REQUEST"},
            },
            {},
        ),
        (
            "POST",
            {"json": SUBSCRIBE, "headers": {"authorization": "Bearer expired"}},
            401,
            {"message": "The access token has expired", "extensions": {"code": "UNAUTHENTICATED"}},
            {"www-authenticate": CHALLENGE},
        ),
        (
            "POST",
            {"json": {"query": "subscription { whoami }"}},
            401,
            {"message": "Sign in to subscribe", "extensions": {"code": "UNAUTHENTICATED"}},
            {},
        ),
        (
            "POST",
            {"json": SUBSCRIBE, "headers": {"authorization": "Bearer csrf"}},
            403,
            {"message": "The CSRF header is missing", "extensions": {"code": "CSRF_REJECTED"}},
            {},
        ),
        (
            "POST",
            {"json": SUBSCRIBE, "headers": {"origin": "http://evil.example"}},
            403,
            {"message": "This origin may not use the GraphQL endpoint", "extensions": {"code": "FORBIDDEN"}},
            {},
        ),
        (
            "GET",
            {"params": {"query": 'mutation { echo(word: "hi") }'}},
            405,
            {
                "message": "Only queries may be sent with GET; send mutations with POST",
                "extensions": {"code": "METHOD_NOT_ALLOWED"},
            },
            {"allow": "POST"},
        ),
    ],
)
async def test_a_refusal_before_the_stream_is_json_with_the_http_status(
    client: httpx.AsyncClient,
    method: str,
    options: dict[str, Any],
    status: int,
    error: dict[str, Any],
    response_headers: dict[str, str],
) -> None:
    headers = {**EVENT_STREAM, **options.get("headers", {})}
    body = {name: value for name, value in options.items() if name != "headers"}
    response = await client.request(method, "/graphql", headers=headers, **body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert response.json() == {"errors": [error]}
    assert {name: response.headers.get(name) for name in ("www-authenticate", "allow")} == {
        "www-authenticate": None,
        "allow": None,
        **response_headers,
    }


async def test_an_allowed_origin_and_a_mutation_over_post_stream(client: httpx.AsyncClient) -> None:
    headers = {**EVENT_STREAM, "origin": ALLOWED_ORIGIN}
    response = await client.post("/graphql", json={"query": 'mutation { echo(word: "hi") }'}, headers=headers)
    assert (response.status_code, response.content) == (200, next_event({"data": {"echo": "hi"}}) + COMPLETE)


async def test_a_client_disconnecting_closes_the_stream_and_its_task(served: Served, client: httpx.AsyncClient) -> None:
    body = {"query": 'subscription { lingering(tag: "sse-disconnect") }'}  # slow to clean up
    async with client.stream("POST", "/graphql", json=body, headers=EVENT_STREAM) as response:
        events = sse_events(response)
        assert await anext(events) == ("next", '{"data":{"lingering":1}}')
        assert "graphql-sse stream" in served.probe.task_names()
        await events.aclose()
    await served.probe.idle()  # the response returned, having waited for its task to end
    assert "graphql-sse stream" not in served.probe.task_names()
    await streams.all_closed("sse-disconnect")  # the subscription's `finally` ran


async def test_keepalives_flow_before_the_first_result_and_between_results(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=TIMEOUT) as client:
        body = {"query": 'subscription { idle(tag: "sse-idle") }'}
        async with client.stream("POST", "/sse/keepalive", json=body, headers=EVENT_STREAM) as response:
            assert response.status_code == 200  # the headers went out without any result
            events = sse_events(response)
            assert [await anext(events), await anext(events)] == [(":", ""), (":", "")]
            await events.aclose()
        body = {"query": 'subscription { forever(tag: "sse-between") }'}
        async with client.stream("POST", "/sse/keepalive", json=body, headers=EVENT_STREAM) as response:
            events = sse_events(response)
            assert [await anext(events), await anext(events)] == [("next", '{"data":{"forever":1}}'), (":", "")]
            await events.aclose()
    await streams.all_closed("sse-idle")
    await streams.all_closed("sse-between")
