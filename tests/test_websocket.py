"""GraphQL over WebSocket, both protocols, against a live uvicorn with a real client (`websockets`).

`graphql-transport-ws` (the npm `graphql-ws` client's) and the legacy `subscriptions-transport-ws`
(subprotocol `graphql-ws`) on the tiny schema of `tests.support.subscriptions`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.typing import Origin, Subprotocol

from app.graphql.websocket import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS, same_origin, select_subprotocol
from tests.support.subscriptions import (
    ALLOWED_ORIGIN,
    Served,
    closed_with,
    initialised,
    receive,
    send,
    serve_subscriptions,
    socket_to,
    streams,
)

FOREVER = "subscription ($tag: String!) { forever(tag: $tag) }"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve_subscriptions() as running:
        yield running


@pytest.fixture
def url(served: Served) -> str:
    served.seen.clear()
    return f"{served.ws_url}/graphql"


def subscribe(operation_id: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    return {"id": operation_id, "type": "subscribe", "payload": payload}


def start(operation_id: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**subscribe(operation_id, query, variables), "type": "start"}


async def forever(
    websocket: ClientConnection, operation_id: str, tag: str, kind: str = "subscribe", field: str = "forever"
) -> None:
    """Start a `forever` subscription and wait for its first result: its stream is open on the server."""
    message = subscribe(operation_id, f"subscription ($tag: String!) {{ {field}(tag: $tag) }}", {"tag": tag})
    await send(websocket, {**message, "type": kind})
    answer = "next" if kind == "subscribe" else "data"
    assert await receive(websocket) == {"id": operation_id, "type": answer, "payload": {"data": {field: 1}}}


async def pong(websocket: ClientConnection) -> None:
    """Ping and expect the pong: the socket is open, and nothing else was sent before it."""
    await send(websocket, {"type": "ping"})
    assert await receive(websocket) == {"type": "pong"}


# --------------------------------------------------------------------------- graphql-transport-ws


def test_the_subprotocol_chosen_prefers_graphql_transport_ws() -> None:
    assert select_subprotocol([GRAPHQL_WS, GRAPHQL_TRANSPORT_WS]) == GRAPHQL_TRANSPORT_WS
    assert select_subprotocol([GRAPHQL_WS]) == GRAPHQL_WS
    assert select_subprotocol(["mqtt"]) is None


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "shop.example", True),  # not a browser: nothing to hijack
        ("https://shop.example", "shop.example", True),
        ("https://SHOP.example:8443", "shop.example:8443", True),
        ("https://evil.example", "shop.example", False),
        ("null", "shop.example", False),  # a sandboxed page
    ],
)
def test_same_origin_allows_the_host_addressed(origin: str | None, host: str, allowed: bool) -> None:
    assert same_origin(origin, {"host": host}) is allowed


async def test_connection_init_is_acknowledged_and_pings_are_answered(url: str) -> None:
    async with socket_to(url) as websocket:
        assert websocket.subprotocol == GRAPHQL_TRANSPORT_WS
        await pong(websocket)  # a ping may come before connection_init
        await initialised(websocket)
        await send(websocket, {"type": "ping", "payload": {"at": 1}})
        assert await receive(websocket) == {"type": "pong", "payload": {"at": 1}}
        await send(websocket, {"type": "pong"})  # an unsolicited pong is fine
        await pong(websocket)


async def test_the_server_pings_to_keep_the_socket_alive(served: Served) -> None:
    async with socket_to(f"{served.ws_url}/ws/keepalive") as websocket:
        await initialised(websocket)
        assert await receive(websocket) == {"type": "ping"}
        await send(websocket, {"type": "pong"})
        assert await receive(websocket) == {"type": "ping"}


async def test_a_subscription_streams_next_messages_then_complete(url: str) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await send(websocket, subscribe("1", "subscription { count(to: 3) }"))
        assert [await receive(websocket) for _ in range(4)] == [
            {"id": "1", "type": "next", "payload": {"data": {"count": 1}}},
            {"id": "1", "type": "next", "payload": {"data": {"count": 2}}},
            {"id": "1", "type": "next", "payload": {"data": {"count": 3}}},
            {"id": "1", "type": "complete"},
        ]
        # A completed id may be used again.
        await send(websocket, subscribe("1", "subscription { count(to: 1) }"))
        assert await receive(websocket) == {"id": "1", "type": "next", "payload": {"data": {"count": 1}}}
        assert await receive(websocket) == {"id": "1", "type": "complete"}


async def test_queries_and_mutations_answer_one_next_then_complete(url: str) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await send(websocket, subscribe("q", "{ hello }"))
        assert await receive(websocket) == {"id": "q", "type": "next", "payload": {"data": {"hello": "world"}}}
        assert await receive(websocket) == {"id": "q", "type": "complete"}
        await send(websocket, subscribe("m", 'mutation { echo(word: "hi") }'))
        assert await receive(websocket) == {"id": "m", "type": "next", "payload": {"data": {"echo": "hi"}}}
        assert await receive(websocket) == {"id": "m", "type": "complete"}


async def test_the_client_s_complete_cancels_the_operation_and_closes_its_stream(url: str) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await forever(websocket, "a", "client-complete")
        await send(websocket, {"id": "a", "type": "complete"})
        await streams.all_closed("client-complete")  # the subscription's `finally` ran
        await pong(websocket)  # no `complete` is sent back for an operation the client completed


@pytest.mark.parametrize("protocol", [GRAPHQL_TRANSPORT_WS, GRAPHQL_WS])
async def test_closing_the_socket_cancels_every_operation_and_leaves_no_task(served: Served, protocol: str) -> None:
    tag = f"socket-close-{protocol}"
    kind = "subscribe" if protocol == GRAPHQL_TRANSPORT_WS else "start"
    async with socket_to(f"{served.ws_url}/graphql", protocol) as websocket:
        await initialised(websocket)
        for number in range(3):
            await forever(websocket, str(number), tag, kind, field="lingering")  # slow to clean up
        assert served.probe.task_names().count("graphql-ws operation") == 3
    await served.probe.idle()  # the endpoint returned, having waited for its operations' tasks to end
    assert not [name for name in served.probe.task_names() if name.startswith("graphql-ws")]
    await streams.all_closed(tag, count=3)


async def test_no_connection_init_in_time_closes_with_4408(served: Served) -> None:
    async with socket_to(f"{served.ws_url}/ws/init-timeout") as websocket:
        await pong(websocket)  # pings do not count as initialisation
        assert await closed_with(websocket) == (4408, "Connection initialisation timeout")
    async with socket_to(f"{served.ws_url}/ws/init-timeout", GRAPHQL_WS) as websocket:
        assert await closed_with(websocket) == (4408, "Connection initialisation timeout")


async def test_an_unexpected_error_closes_with_4500(served: Served) -> None:
    async with socket_to(f"{served.ws_url}/ws/broken") as websocket:
        await initialised(websocket)
        await send(websocket, subscribe("1", "{ hello }"))
        assert await closed_with(websocket) == (4500, "Internal server error")


async def test_a_subscribe_before_the_ack_closes_with_4401(url: str) -> None:
    async with socket_to(url) as websocket:
        await send(websocket, subscribe("1", "subscription { count(to: 1) }"))
        assert await closed_with(websocket) == (4401, "Unauthorized")


async def test_an_id_in_use_closes_with_4409(url: str) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await forever(websocket, "same", "duplicate")
        await send(websocket, subscribe("same", FOREVER, {"tag": "duplicate"}))
        assert await closed_with(websocket) == (4409, "Subscriber for same already exists")
    await streams.all_closed("duplicate")


async def test_a_long_close_reason_is_cut_to_fit_a_close_frame(url: str) -> None:
    long_id = "x" * 200
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await forever(websocket, long_id, "long-id")
        await send(websocket, subscribe(long_id, FOREVER, {"tag": "long-id"}))
        code, reason = await closed_with(websocket)
    assert code == 4409 and len(reason.encode()) <= 123
    assert reason.startswith(f"Subscriber for {'x' * 50}") and reason.endswith("...")
    await streams.all_closed("long-id")


async def test_a_second_connection_init_closes_with_4429(url: str) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await send(websocket, {"type": "connection_init"})
        assert await closed_with(websocket) == (4429, "Too many initialisation requests")


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "Invalid message: send a JSON object with a string `type`"),
        ("[1, 2]", "Invalid message: send a JSON object with a string `type`"),
        ('{"payload": {}}', "Invalid message: send a JSON object with a string `type`"),
        ('{"type": 7}', "Invalid message: send a JSON object with a string `type`"),
        ('{"type": "bogus"}', "Unexpected message of type 'bogus'"),
        ('{"type": "next", "id": "1", "payload": {}}', "Unexpected message of type 'next'"),
        ('{"type": "complete"}', "A complete message needs a non-empty string `id`"),
        (
            '{"type": "subscribe", "id": "", "payload": {"query": "{ hello }"}}',
            "A subscribe message needs a non-empty string `id`",
        ),
        ('{"type": "ping", "payload": "hi"}', "A ping's payload must be a JSON object"),
        (b"\x00binary", "Only text frames are accepted"),
    ],
)
async def test_a_malformed_message_closes_with_4400(url: str, frame: str | bytes, reason: str) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await websocket.send(frame)
        assert await closed_with(websocket) == (4400, reason)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("token", "The connection_init payload must be a JSON object"),
        ({"authorization": 42}, "The connection_init payload's `authorization` must be an ASCII string"),
        ({"Authorization": ["Bearer a"]}, "The connection_init payload's `authorization` must be an ASCII string"),
    ],
)
async def test_a_bad_connection_init_payload_closes_with_4400(url: str, payload: Any, reason: str) -> None:
    async with socket_to(url) as websocket:
        await send(websocket, {"type": "connection_init", "payload": payload})
        assert await closed_with(websocket) == (4400, reason)


async def test_operations_over_the_limit_get_an_error_and_the_socket_stays_open(served: Served) -> None:
    async with socket_to(f"{served.ws_url}/ws/limited") as websocket:
        await initialised(websocket)
        await forever(websocket, "1", "limit")
        await forever(websocket, "2", "limit")
        await send(websocket, subscribe("3", "subscription { count(to: 1) }"))
        assert await receive(websocket) == {
            "id": "3",
            "type": "error",
            "payload": [
                {
                    "message": "At most 2 operations may run at once on a connection; complete one first",
                    "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
                }
            ],
        }
        await send(websocket, {"id": "1", "type": "complete"})
        await send(websocket, subscribe("3", "subscription { count(to: 1) }"))  # a slot is free again
        assert await receive(websocket) == {"id": "3", "type": "next", "payload": {"data": {"count": 1}}}
        assert await receive(websocket) == {"id": "3", "type": "complete"}
    await streams.all_closed("limit", count=2)


async def test_a_foreign_origin_is_refused_before_the_handshake(url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with socket_to(url, origin=Origin("http://evil.example")):
            pass
    assert refused.value.response.status_code == 403
    assert orjson.loads(refused.value.response.body) == {
        "errors": [{"message": "This origin may not open a GraphQL WebSocket", "extensions": {"code": "FORBIDDEN"}}]
    }
    async with socket_to(url, origin=Origin(ALLOWED_ORIGIN)) as websocket:
        await initialised(websocket)


async def test_a_socket_offering_neither_subprotocol_is_closed_with_4406(url: str) -> None:
    async with socket_to(url, "mqtt") as websocket:
        assert websocket.subprotocol is None
        code, reason = await closed_with(websocket)
    assert (code, reason) == (4406, "Subprotocol not acceptable: offer graphql-transport-ws or graphql-ws")


@pytest.mark.parametrize(
    ("payload", "headers", "viewer"),
    [
        ({"authorization": "Bearer ann"}, {"Authorization": "Bearer handshake"}, "ann"),  # the payload wins
        ({"Authorization": "Bearer bo"}, {}, "bo"),
        ({"authorization": None}, {"Authorization": "Bearer hank"}, "hank"),  # null: no authorization
        (None, {"Cookie": "sf_session=carol"}, "carol"),  # the handshake's cookies
    ],
)
async def test_credentials_reach_authenticate(
    served: Served, url: str, payload: Any, headers: dict[str, str], viewer: str
) -> None:
    async with socket_to(url, additional_headers=headers) as websocket:
        await initialised(websocket, payload)
        await send(websocket, subscribe("me", "subscription { whoami }"))
        assert await receive(websocket) == {"id": "me", "type": "next", "payload": {"data": {"whoami": viewer}}}
        assert await receive(websocket) == {"id": "me", "type": "complete"}
    authorization = None if viewer == "carol" else f"Bearer {viewer}"
    assert served.seen == [authorization]


@pytest.mark.parametrize(
    ("authorization", "query", "error"),
    [
        (
            "Bearer expired",
            "subscription { count(to: 1) }",
            {"message": "The access token has expired", "extensions": {"code": "UNAUTHENTICATED"}},
        ),
        (
            "Bearer csrf",
            "subscription { count(to: 1) }",
            {"message": "The CSRF header is missing", "extensions": {"code": "CSRF_REJECTED"}},
        ),
        (
            None,
            "subscription { whoami }",
            {"message": "Sign in to subscribe", "extensions": {"code": "UNAUTHENTICATED"}},
        ),
        (
            None,
            "subscription { nosuchfield }",
            {
                "message": "Cannot query field 'nosuchfield' on type 'Subscription'.",
                "locations": [{"line": 1, "column": 16}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            },
        ),
    ],
)
async def test_a_refused_operation_is_an_error_message(
    url: str, authorization: str | None, query: str, error: dict[str, Any]
) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket, {"authorization": authorization})
        await send(websocket, subscribe("1", query))
        assert await receive(websocket) == {"id": "1", "type": "error", "payload": [error]}
        await pong(websocket)  # nothing follows an error, and the socket stays open


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"query": 5}, "The `query` parameter must be a string"),
        ({}, "The `query` parameter is missing"),
        ({"query": "{ hello }", "variables": [1]}, "The `variables` parameter must be a JSON object"),
        ("{ hello }", "The payload must be a JSON object with a `query`"),
    ],
)
async def test_unparseable_params_are_an_error_message(url: str, payload: Any, message: str) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await send(websocket, {"id": "1", "type": "subscribe", "payload": payload})
        assert await receive(websocket) == {
            "id": "1",
            "type": "error",
            "payload": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}],
        }
        await pong(websocket)


@pytest.mark.parametrize(
    ("field", "error"),
    [
        ("fails", {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}),
        ("expires", {"message": "The session has expired; sign in again", "extensions": {"code": "UNAUTHENTICATED"}}),
    ],
)
async def test_an_error_mid_stream_is_a_next_then_complete(url: str, field: str, error: dict[str, Any]) -> None:
    async with socket_to(url) as websocket:
        await initialised(websocket)
        await send(websocket, subscribe("1", f"subscription {{ {field} }}"))
        assert await receive(websocket) == {"id": "1", "type": "next", "payload": {"data": {field: 1}}}
        last = await receive(websocket)
        assert last["type"] == "next" and last["payload"]["errors"][0]["message"] == error["message"]
        assert last["payload"]["errors"][0]["extensions"]["code"] == error["extensions"]["code"]
        assert "secret" not in orjson.dumps(last).decode()
        assert await receive(websocket) == {"id": "1", "type": "complete"}


# --------------------------------------------------------------------------- subscriptions-transport-ws (legacy)


async def test_legacy_acknowledges_then_keeps_alive(served: Served) -> None:
    async with socket_to(f"{served.ws_url}/ws/keepalive", GRAPHQL_WS) as websocket:
        assert websocket.subprotocol == Subprotocol(GRAPHQL_WS)
        await initialised(websocket, {})
        assert await receive(websocket) == {"type": "ka"}  # at once
        assert await receive(websocket) == {"type": "ka"}  # and every interval


async def test_legacy_start_streams_data_then_complete(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await initialised(websocket)
        await send(websocket, start("1", "subscription { count(to: 2) }"))
        assert [await receive(websocket) for _ in range(3)] == [
            {"id": "1", "type": "data", "payload": {"data": {"count": 1}}},
            {"id": "1", "type": "data", "payload": {"data": {"count": 2}}},
            {"id": "1", "type": "complete"},
        ]


async def test_legacy_stop_cancels_the_operation_and_answers_complete(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await initialised(websocket)
        await forever(websocket, "1", "legacy-stop", kind="start")
        await send(websocket, {"id": "1", "type": "stop"})
        assert await receive(websocket) == {"id": "1", "type": "complete"}
        await streams.all_closed("legacy-stop")


async def test_legacy_start_with_an_id_in_use_replaces_that_operation(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await initialised(websocket)
        await forever(websocket, "1", "legacy-replaced", kind="start")
        await send(websocket, start("1", "subscription { count(to: 1) }"))
        await streams.all_closed("legacy-replaced")
        assert await receive(websocket) == {"id": "1", "type": "data", "payload": {"data": {"count": 1}}}
        assert await receive(websocket) == {"id": "1", "type": "complete"}


async def test_legacy_refusal_is_an_error_with_the_first_error(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await initialised(websocket, {"authorization": "Bearer expired"})
        await send(websocket, start("1", "subscription { count(to: 1) }"))
        assert await receive(websocket) == {
            "id": "1",
            "type": "error",
            "payload": {"message": "The access token has expired", "extensions": {"code": "UNAUTHENTICATED"}},
        }


async def test_legacy_bad_init_is_a_connection_error(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await send(websocket, {"type": "connection_init", "payload": {"authorization": 1}})
        message = "The connection_init payload's `authorization` must be an ASCII string"
        assert await receive(websocket) == {"type": "connection_error", "payload": {"message": message}}
        assert await closed_with(websocket) == (4400, message)


async def test_legacy_malformed_messages_are_answered_and_the_socket_stays_open(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await websocket.send("{not json")
        assert await receive(websocket) == {
            "type": "connection_error",
            "payload": {"message": "Invalid message: send a JSON object with a string `type`"},
        }
        await send(websocket, {"type": "bogus", "id": "7"})
        assert await receive(websocket) == {
            "type": "error",
            "id": "7",
            "payload": {"message": "Unknown message type 'bogus'"},
        }
        await initialised(websocket)


async def test_legacy_second_init_is_a_connection_error_and_closes_with_4429(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await initialised(websocket)
        await send(websocket, {"type": "connection_init"})
        assert await receive(websocket) == {
            "type": "connection_error",
            "payload": {"message": "Too many initialisation requests"},
        }
        assert await closed_with(websocket) == (4429, "Too many initialisation requests")


async def test_legacy_start_before_init_closes_with_4401(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await send(websocket, start("1", "subscription { count(to: 1) }"))
        assert await closed_with(websocket) == (4401, "Unauthorized")


async def test_legacy_connection_terminate_closes_the_socket(url: str) -> None:
    async with socket_to(url, GRAPHQL_WS) as websocket:
        await initialised(websocket)
        await send(websocket, {"type": "connection_terminate"})
        with pytest.raises(ConnectionClosedOK) as closed:
            await websocket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
