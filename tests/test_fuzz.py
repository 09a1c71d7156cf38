"""Property-based fuzzing of the real app over real HTTP (uvicorn on a loopback port, one server per mode).

Random and mutated GraphQL documents, variables, HTTP bodies, query strings, headers and raw HTTP requests
go to three servers on one seeded database of the backend: the test environment on the planned executor,
the test environment on graphql-core's reference executor, and the production environment (suggestions
hidden, introspection for staff only). Requests go anonymously, as a customer or as staff.

The properties, for every request:

- never a 5xx. The transport documents two: 503 when the database cannot be reached and 504 past the
  request deadline (10 s); neither can legitimately happen here (the database is up, every request is
  small), so they count as failures too;
- nothing logged at ERROR by the app or uvicorn while it was served: a masked `INTERNAL_SERVER_ERROR`
  inside a 200 is an unexpected exception the client cannot see;
- a GraphQL response is UTF-8 JSON of the negotiated media type: one object of `data`, `errors` and
  `extensions` only, with `data` or `errors`; `errors`, when present, a non-empty list of objects of
  `message` (a string), `extensions` with a non-empty string `code`, `locations` (if any) a list of
  {line, column} positive ints and `path` (if any) a list of strings and ints; `data` an object or null,
  null only with errors, every error beside it a field error (with a `path`), absent after a request
  error (parse, validation, operation resolution, limits) and absent or null with any status but 2xx;
  under application/graphql-response+json a request error is 4xx;
- in production, no error suggests a schema name ("Did you mean") and no data comes from `__schema` or
  `__type` for anyone but staff.

FUZZ_EXAMPLES (default 25) is the number of random examples per test and backend, besides each test's
explicit examples (the defects found so far, kept as regressions). Without it the examples are the same
on every run (derandomized); with it each run draws new ones. The cases run are counted per test and
written at the end of each backend's module run, with how many were executed and how many refused.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import string
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    OperationDefinitionNode,
    build_schema,
    get_named_type,
    parse,
    type_from_ast,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.accounts.tokens import AccessTokens
from app.asgi import create_app
from app.settings import Secret, Settings
from tests.conftest import seeded_database, settings_for
from tests.support.live import live_server

REPO_ROOT = Path(__file__).resolve().parent.parent
SDL = (REPO_ROOT / "schema" / "schema.graphql").read_text()
SCHEMA = build_schema(SDL)
SECRET_KEY = "fuzz-secret-key-of-at-least-forty-characters"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    # the suite's run (no FUZZ_EXAMPLES) draws the same cases every time, so CI is not a lottery; a run
    # with FUZZ_EXAMPLES explores new ones, and what it finds becomes an explicit example
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
EVENT_STREAM = "text/event-stream"
TARGETS = ("test", "reference", "production")
# codes only errors raised before execution have: no `data` may come with them (BAD_REQUEST and
# BAD_USER_INPUT are field errors' codes too)
REQUEST_ERROR_CODES = frozenset(
    {
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "OPERATION_RESOLUTION_FAILURE",
        "OPERATION_NOT_SUPPORTED",
        "MAX_DEPTH_EXCEEDED",
        "MAX_ALIASES_EXCEEDED",
        "METHOD_NOT_ALLOWED",
        "NOT_ACCEPTABLE",
        "PAYLOAD_TOO_LARGE",
        "UNSUPPORTED_MEDIA_TYPE",
    }
)
# graphql-core's suggestions of schema names ("Did you mean 'products'?"), not its hints that only echo the
# client's own text: the lexer's (which knows no schema) and "Did you mean 'node { ... }'?" for a field
# without subfields
SUGGESTION = re.compile(r"[Dd]id you mean\b(?! '\w+ \{ \.\.\. \}'\?)")
ERROR_KEYS = frozenset({"message", "locations", "path", "extensions"})
CASES: Counter[str] = Counter()  # examples run, by test
OUTCOMES: Counter[str] = Counter()  # what became of them: executed, request error, refused
_running = ["-"]


def case(name: str) -> None:
    """Count an example of a test; the outcomes of its requests are counted under the same name."""
    CASES[name] += 1
    _running[0] = name


# --------------------------------------------------------------------------- the servers


class ErrorLog(logging.Handler):
    """Collects what the app and uvicorn log at ERROR, whichever thread logs it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.records.append(record)

    def take(self) -> list[str]:
        with self._lock:
            taken, self.records = self.records, []
        return [_describe(record) for record in taken]


def _describe(record: logging.LogRecord) -> str:
    text = f"{record.levelname} {record.name}: {record.getMessage()}"
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text


class Shop:
    """The servers of one backend and what its seeded database holds (IDs, cursors, a customer)."""

    def __init__(self, clients: dict[str, httpx.Client], errors: ErrorLog) -> None:
        self.clients = clients
        self.errors = errors
        self.known: dict[str, list[str]] = {}
        self.customer_id = 0

    def __repr__(self) -> str:
        return "Shop(...)"

    def pick(self, kind: str, index: int) -> str:
        values = self.known.get(kind) or ["UHJvZHVjdDox"]
        return values[index % len(values)]


SHOP: Shop | None = None  # the running backend's: strategies draw known IDs and cursors from it


def current() -> Shop:
    assert SHOP is not None, "the shop fixture has not started"
    return SHOP


@pytest.fixture(scope="module")
async def fuzz_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A seeded database of its own: the fuzzed mutations write to it (carts, accounts, stock, products)."""
    async with seeded_database(backend, tmp_path_factory.mktemp(f"fuzz-{backend}"), products=24, seed=5) as url:
        yield url


@pytest.fixture(scope="module")
def shop(fuzz_url: str, request: pytest.FixtureRequest) -> Iterator[Shop]:
    """The three servers on the backend's fuzzing database, once per module and backend."""
    global SHOP
    secret = Secret(SECRET_KEY)
    modes: dict[str, Settings] = {
        "test": settings_for(fuzz_url, secret_key=secret),
        "reference": settings_for(fuzz_url, secret_key=secret, fast_executor=False),
        "production": Settings(
            database_url=fuzz_url, environment="production", secret_key=secret, db_pool_size=3, db_max_overflow=2
        ),
    }
    errors = ErrorLog()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]  # uvicorn's do not propagate to the root
    started = time.monotonic()
    with ExitStack() as stack:
        clients = {}
        for name, mode in modes.items():
            origin = stack.enter_context(live_server(create_app(mode)))
            clients[name] = stack.enter_context(httpx.Client(base_url=origin, timeout=30.0))
        for logger in loggers:  # after uvicorn configured its loggers
            logger.addHandler(errors)
        try:
            SHOP = Shop(clients, errors)
            _learn(SHOP)
            errors.take()
            yield SHOP
        finally:
            SHOP = None
            for logger in loggers:
                logger.removeHandler(errors)
    _report(request, time.monotonic() - started)


def _report(request: pytest.FixtureRequest, seconds: float) -> None:
    total = sum(CASES.values())
    per_test = ", ".join(f"{name}: {count}" for name, count in sorted(CASES.items()))
    outcomes = ", ".join(f"{name}: {count}" for name, count in sorted(OUTCOMES.items()))
    lines = [
        f"fuzz: {total} cases so far ({per_test}); this backend's servers ran {seconds:.1f} s",
        f"fuzz outcomes so far: {outcomes}",
    ]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    report = os.environ.get("FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps({"total": total, "cases": CASES, "outcomes": OUTCOMES}, indent=1))


def _gql(shop: Shop, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = shop.clients["test"].post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


LEARN_CATALOG = """{
  products(first: 8) { edges { cursor node { id featuredImage { id } variants { id }
    reviews(first: 2) { edges { cursor node { id } } } } } }
  byTitle: products(first: 2, sortKey: TITLE) { edges { cursor } }
  byPrice: products(first: 2, sortKey: PRICE) { edges { cursor } }
  byDate: products(first: 2, sortKey: CREATED_AT) { edges { cursor } }
  byRating: products(first: 2, sortKey: BEST_RATED) { edges { cursor } }
  categories(first: 5) { edges { cursor node { id slug } } }
}"""
CUSTOMER_CREATE = "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } } }"
LOGIN = "mutation($e: String!, $p: String!) { customerLogin(email: $e, password: $p) { accessToken } }"
CART_CREATE = """mutation($i: CartInput!) {
  cartCreate(input: $i) { cart { id lines(first: 5) { edges { cursor node { id } } } } }
}"""
ADDRESS_CREATE = "mutation($i: MailingAddressInput!) { customerAddressCreate(input: $i) { address { id } } }"
CHECKOUT = "mutation($i: CheckoutInput!) { checkoutComplete(input: $i) { accessToken order { id } errors { code } } }"


def _learn(shop: Shop) -> None:
    """Read IDs and cursors to fuzz with; make a customer with a cart and an address, and a guest's order."""
    known = shop.known
    data = _gql(shop, LEARN_CATALOG)
    products = [edge["node"] for edge in data["products"]["edges"]]
    known["product"] = [p["id"] for p in products]
    known["variant"] = [v["id"] for p in products for v in p["variants"]]
    known["image"] = [p["featuredImage"]["id"] for p in products if p["featuredImage"]]
    known["review"] = [e["node"]["id"] for p in products for e in p["reviews"]["edges"]]
    known["category"] = [edge["node"]["id"] for edge in data["categories"]["edges"]]
    known["slug"] = [edge["node"]["slug"] for edge in data["categories"]["edges"]]
    connections = ("products", "byTitle", "byPrice", "byDate", "byRating", "categories")
    known["cursor"] = [edge["cursor"] for key in connections for edge in data[key]["edges"]]
    known["cursor"] += [e["cursor"] for p in products for e in p["reviews"]["edges"]]

    email, password = f"fuzz-{uuid.uuid4().hex[:8]}@example.com", "a fuzzing password of some length"
    created = _gql(shop, CUSTOMER_CREATE, {"i": {"email": email, "password": password, "displayName": "Fuzz"}})
    known["customer"] = [created["customerCreate"]["customer"]["id"]]
    token = _gql(shop, LOGIN, {"e": email, "p": password})["customerLogin"]["accessToken"]
    shop.customer_id = int(jwt.decode(token, SECRET_KEY, algorithms=["HS256"])["sub"])
    lines = [{"merchandiseId": known["variant"][0], "quantity": 1}]
    cart = _gql(shop, CART_CREATE, {"i": {"lines": lines}}, token)["cartCreate"]["cart"]
    known["cart"] = [cart["id"]]
    known["line"] = [edge["node"]["id"] for edge in cart["lines"]["edges"]]
    known["cursor"] += [edge["cursor"] for edge in cart["lines"]["edges"]]
    address = {"firstName": "F", "lastName": "Z", "address1": "1 Road", "city": "Town", "zip": "1", "country": "US"}
    known["address"] = [_gql(shop, ADDRESS_CREATE, {"i": address}, token)["customerAddressCreate"]["address"]["id"]]

    lines = [{"merchandiseId": known["variant"][1], "quantity": 1}]
    guest_cart = _gql(shop, CART_CREATE, {"i": {"lines": lines}})["cartCreate"]["cart"]
    checkout = {
        "cartId": guest_cart["id"],
        "idempotencyKey": uuid.uuid4().hex,
        "email": "guest@example.com",
        "shippingAddress": {**address, "firstName": "G"},
        "payment": {"provider": "test", "token": "tok_visa"},
    }
    order = _gql(shop, CHECKOUT, {"i": checkout})["checkoutComplete"]
    assert order["order"], order
    known["order"] = [order["order"]["id"]]
    known["order_token"] = [order["accessToken"]]
    known["id"] = [value for kind in ("product", "variant", "image", "review", "category") for value in known[kind]]
    known["id"] += known["customer"] + known["cart"] + known["line"] + known["address"] + known["order"]


# --------------------------------------------------------------------------- sending and checking


@dataclass
class Sent:
    """What was sent, for the failure message."""

    target: str
    method: str
    url: str
    headers: dict[str, Any]
    body: bytes | None

    def __str__(self) -> str:
        body = None if self.body is None else self.body[:2000]
        return f"{self.method} {self.url} on {self.target}\nheaders: {self.headers}\nbody: {body!r}"


def send(
    target: str,
    method: str = "POST",
    *,
    body: Any = None,
    headers: dict[str, Any] | None = None,
    params: Any = None,
    url: Any = "/graphql",
    viewer: str = "anonymous",
) -> tuple[httpx.Response, Sent]:
    """Send one request to a server: never a 5xx, nothing logged at ERROR."""
    shop = current()
    headers = dict(headers or {})
    token = _token_for(viewer)
    if token is not None and not any(name.lower() == "authorization" for name in headers):
        headers["authorization"] = f"Bearer {token}"
    client = shop.clients[target]
    request = client.build_request(method, url, content=body, headers=headers, params=params)
    sent = Sent(target, method, str(request.url), headers, body if isinstance(body, bytes) else None)
    shop.errors.take()
    response = client.send(request)
    logged = "\n".join(shop.errors.take())
    assert response.status_code < 500, f"{response.status_code} for\n{sent}\nresponse: {response.text[:2000]}\n{logged}"
    assert not logged, f"the server logged errors for\n{sent}\nresponse: {response.text[:2000]}\n{logged}"
    return response, sent


def _token_for(viewer: str) -> str | None:
    """A fresh access token of the fuzzing customer, for a session of its own (no logout revokes the next)."""
    if viewer == "anonymous":
        return None
    role = "STAFF" if viewer == "staff" else "CUSTOMER"
    token, _ = AccessTokens(SECRET_KEY).issue(current().customer_id, role, uuid.uuid4().hex, datetime.now(UTC))
    return token


def check(response: httpx.Response, sent: Sent, *, viewer: str = "anonymous") -> Any:
    """Check a response of the GraphQL endpoint; its payload (None for a response without a GraphQL body)."""
    context = f"for\n{sent}\nstatus {response.status_code}, response: {response.text[:3000]}"
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent.method == "HEAD" or (response.status_code == 405 and media == "text/plain"):
        OUTCOMES[f"{_running[0]}: refused"] += 1
        return None  # no body, or Starlette's own answer to a method the route does not take
    if media == EVENT_STREAM:
        assert response.status_code == 200, context
        for payload in _events(response.text, context):
            _check_payload(payload, response.status_code, sent, viewer, context, streamed=True)
        OUTCOMES[f"{_running[0]}: streamed"] += 1
        return None
    assert media in (JSON, GRAPHQL_RESPONSE), context
    assert response.headers["content-type"].lower().endswith("charset=utf-8"), context
    try:
        payload = json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise AssertionError(f"the body is not UTF-8 JSON ({error}) {context}") from None
    _check_payload(payload, response.status_code, sent, viewer, context, media=media)
    if isinstance(payload, dict) and "data" in payload:
        outcome = "executed"
    else:
        outcome = "request error" if response.status_code in (200, 400) else "refused"
    OUTCOMES[f"{_running[0]}: {outcome}"] += 1
    return payload


def _events(text: str, context: str) -> list[Any]:
    """The payloads of a graphql-sse stream's `next` events (it must end with `complete`)."""
    payloads = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        event = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        assert event in ("next", "complete"), context
        if event == "next":
            payloads.append(json.loads("\n".join(line[5:].lstrip() for line in lines if line.startswith("data:"))))
    assert "event: complete" in text, context
    return payloads


def _check_payload(
    payload: Any, status: int, sent: Sent, viewer: str, context: str, *, media: str = JSON, streamed: bool = False
) -> None:
    assert isinstance(payload, dict), context
    assert set(payload) <= {"data", "errors", "extensions"}, context
    assert "data" in payload or "errors" in payload, context
    errors = payload.get("errors")
    if "errors" in payload:
        assert isinstance(errors, list) and errors, context
        for error in errors:
            _check_error(error, context)
    codes = {error["extensions"]["code"] for error in errors or ()}
    if "data" in payload:
        data = payload["data"]
        assert data is None or isinstance(data, dict), context
        assert data is not None or errors, context
        assert not codes & REQUEST_ERROR_CODES, f"data with a request error {context}"
        assert all("path" in error for error in errors or ()), f"an error beside data without a path {context}"
        assert streamed or 200 <= status < 300 or data is None, context
    elif not streamed and media == GRAPHQL_RESPONSE:
        assert status >= 400, f"a request error under {GRAPHQL_RESPONSE} must be 4xx {context}"
    if "extensions" in payload:
        assert isinstance(payload["extensions"], dict), context
    if sent.target == "production":
        for error in errors or ():
            if error["extensions"]["code"] != "GRAPHQL_PARSE_FAILED":
                assert not SUGGESTION.search(error["message"]), f"a suggestion in production {context}"
        if viewer != "staff" and "data" in payload:
            assert not _introspected(payload["data"]), f"introspection in production {context}"


def _check_error(error: Any, context: str) -> None:
    assert isinstance(error, dict), context
    assert set(error) <= ERROR_KEYS, f"unexpected error entries {context}"
    assert isinstance(error.get("message"), str), context
    extensions = error.get("extensions")
    assert isinstance(extensions, dict), context
    assert isinstance(extensions.get("code"), str) and extensions["code"], context
    if "locations" in error:
        assert isinstance(error["locations"], list), context
        for location in error["locations"]:
            assert isinstance(location, dict) and set(location) == {"line", "column"}, context
            assert all(type(value) is int and value >= 1 for value in location.values()), context
    if "path" in error:
        assert isinstance(error["path"], list), context
        assert all(type(part) in (str, int) for part in error["path"]), context


# Keys only introspection answers with (no storefront type has such a field); aliases hide the root field's
# name, so the introspection probes below select these.
INTROSPECTION_KEYS = frozenset({"__schema", "__type", "queryType", "kind", "specifiedByURL"})


def _introspected(value: Any, keys: frozenset[str] = frozenset({"__schema", "__type"})) -> bool:
    if isinstance(value, dict):
        return any(key in keys or _introspected(item, keys) for key, item in value.items())
    if isinstance(value, list):
        return any(_introspected(item, keys) for item in value)
    return False


def post_json(target: str, body: Any, *, accept: str = JSON, viewer: str = "anonymous") -> Any:
    """POST a JSON body to a server, check the response and return its payload."""
    content = json.dumps(body).encode()
    response, sent = send(target, body=content, headers={"content-type": JSON, "accept": accept}, viewer=viewer)
    return check(response, sent, viewer=viewer)


def run_document(
    target: str,
    query: str,
    variables: Any = None,
    *,
    method: str = "POST",
    accept: str = JSON,
    viewer: str = "anonymous",
    operation_name: str | None = None,
) -> Any:
    """Send a GraphQL document (POST as JSON, or GET in the query string), check the response, return it."""
    if method == "GET":
        params = {"query": query}
        if variables is not None:
            params["variables"] = json.dumps(variables)
        if operation_name is not None:
            params["operationName"] = operation_name
        response, sent = send(target, "GET", params=params, headers={"accept": accept}, viewer=viewer)
        return check(response, sent, viewer=viewer)
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    return post_json(target, body, accept=accept, viewer=viewer)


# --------------------------------------------------------------------------- strategies: values


INTERESTING_INTS = [0, 1, -1, 2, 5, 99, 100, 101, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**53, 2**63, 10**30]
# primary keys as text: str.isdigit() accepts some that int() refuses (superscripts, circled digits) and
# some that int() reads (Arabic-Indic); NUL, which PostgreSQL's text refuses; the ends of the ranges
LOOKALIKE_DIGITS = ["\u00b2", "\u00b3", "\u00b9", "\u2070", "\u2460", "\u2461", "1\u00b2"]  # int() refuses these
LOOKALIKE_DIGITS += ["\u0661\u0662", "\U0001d7d9", "\u07c1", "\u0663" * 19]  # and reads these
NUL_KEYS = ["1\x00", "a\x00b", "\x00", "\x00" * 3]
ODD_KEYS = ["1", "01", "0", " 1", "1 ", "+1", "-1", "1e3", "1.0", "2147483647", "2147483648", "9" * 18, "9" * 19]
ODD_KEYS += ["9" * 30, "", ":", "1:2", "\u00e9", "%00"]
TRICKY_KEYS = LOOKALIKE_DIGITS + NUL_KEYS + ODD_KEYS
tricky_keys = st.one_of(st.sampled_from(LOOKALIKE_DIGITS), st.sampled_from(NUL_KEYS), st.sampled_from(ODD_KEYS))
NODE_TYPES = ["Product", "ProductVariant", "Category", "Image", "Review", "Customer", "MailingAddress", "Order"]
ID_KINDS = [*NODE_TYPES, "Cart", "CartLine", "Query", "Node", "product", "", "Product:1"]


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, chosen in proportion to its weight. (st.one_of flattens nested one_ofs into one
    list of equally likely branches, so repeating a branch, or nesting, does not weigh it.)"""
    table = [strategy for weight, strategy in options for _ in range(weight)]
    return st.sampled_from(table).flatmap(lambda strategy: strategy)


unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
small_text = st.one_of(
    unicode_text,
    st.sampled_from(["", " ", "\x00", "'", '"', "\\", "%", "_", "%_%", "' OR 1=1 --", "\u00e9", "\U0001f600"]),
    st.sampled_from(["\u202e", "a" * 300, "x\x00y"]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(INTERESTING_INTS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    small_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(small_text, inner, max_size=4),
    max_leaves=12,
)


def b64(text: str) -> str:
    """base64url without padding, as the server writes IDs and cursors."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def known(kind: str) -> st.SearchStrategy[str]:
    """A value of this kind the seeded database holds (read at draw time: each backend has its own)."""
    return st.integers(min_value=0, max_value=10_000).map(lambda index: current().pick(kind, index))


def _tamper(value: str, index: int, char: str) -> str:
    if not value:
        return char
    index %= len(value)
    return value[:index] + char + value[index + 1 :]


def forged_ids(kind: str | None = None) -> st.SearchStrategy[str]:
    """IDs made as the server makes them (base64url of "Type:key"), of this kind or another, with odd keys."""
    kinds = st.sampled_from(ID_KINDS) if kind is None else st.one_of(st.just(kind), st.sampled_from(ID_KINDS))
    keys = weighted((3, tricky_keys), (1, unicode_text), (1, st.integers().map(str)))
    return weighted(
        (5, st.builds(lambda k, key: b64(f"{k}:{key}"), kinds, keys)),
        (1, st.builds(_tamper, known("id"), st.integers(0, 100), st.sampled_from(list("A=_-+/ .\x00\u00e9")))),
        (1, known("id").map(lambda value: value + "==")),
        (1, known("id").map(str.swapcase)),
        (1, st.binary(max_size=20).map(lambda data: base64.b64encode(data).decode())),
        (1, small_text),
    )


ids = weighted((1, known("id")), (1, forged_ids()))
SORT_NAMES = ["ID", "TITLE", "PRICE", "CREATED_AT", "BEST_RATED", "POSITION"]
cursor_values = st.one_of(
    json_values,
    st.sampled_from(["1e999", "NaN", "-Infinity", "1e-999", "99999999999999999999.99", "0.001", "-1", "x\x00"]),
    st.sampled_from(["0001-01-01", "9999-12-31", "2024-01-01T00:00:00", "2024-01-01T00:00:00+14:00", "24:00"]),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00", "2024-02-30", "2024-01-01 00:00"]),
    st.datetimes().map(datetime.isoformat),
)


def forged_cursors(names: list[str] | None = None) -> st.SearchStrategy[str]:
    """Cursors made as the server makes them (base64url of JSON [sort key, value, id]), mostly for the
    connection's own sort keys (so they get past the name check), with odd values and ids."""
    right = st.sampled_from(names or SORT_NAMES)
    name = weighted((3, right), (1, st.sampled_from([*SORT_NAMES, "x", ""])), (1, json_scalars))
    row_id = weighted((2, st.integers(1, 30)), (1, st.sampled_from(INTERESTING_INTS)), (1, json_scalars))
    shapes = weighted(
        (4, st.tuples(name, cursor_values, row_id).map(list)),
        (1, st.tuples(name, row_id).map(list)),
        (1, st.tuples(name, cursor_values, row_id, row_id).map(list)),
        (1, json_values),
    )
    return shapes.map(lambda payload: b64(json.dumps(payload)))


def cursors(names: list[str] | None = None) -> st.SearchStrategy[str]:
    return weighted(
        (1, known("cursor")),
        (4, forged_cursors(names)),
        (1, st.builds(_tamper, known("cursor"), st.integers(0, 200), st.sampled_from(list("A=_-+/ \x00")))),
        (1, small_text),
    )


decimals = st.one_of(
    st.sampled_from(["0", "-0", "1.5", "-1", "1e3", "1E+400", "1e-400", "NaN", "Infinity", "-inf", "sNaN", ""]),
    st.sampled_from(["99999999999999999999999999999.99", "0.001", "12.345", " 1", "1_000", "0x10", "\u0661"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
    st.sampled_from(INTERESTING_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
)
timestamps = st.one_of(st.datetimes().map(datetime.isoformat), small_text, st.sampled_from(["0000-00-00", "9999-99"]))
viewers = st.sampled_from(["anonymous", "customer", "staff"])
targets = st.sampled_from(TARGETS)
accepts = st.sampled_from([JSON, GRAPHQL_RESPONSE])


def scalar_value(name: str) -> st.SearchStrategy[Any]:
    """A JSON value for a scalar: mostly of the right kind, sometimes of any kind."""
    right = {
        "Int": st.one_of(st.sampled_from(INTERESTING_INTS), st.integers(-200, 200), st.integers()),
        "Float": st.floats(allow_nan=False, allow_infinity=False),
        "String": st.one_of(small_text, known("slug"), known("order_token"), cursors()),
        "Boolean": st.booleans(),
        "ID": ids,
        "Decimal": decimals,
        "DateTime": timestamps,
    }.get(name, json_scalars)
    return weighted((3, right), (1, json_values))


def input_value(type_: GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
    """A JSON value for an input type (variables): shaped after the type, with odd parts now and then."""
    if isinstance(type_, GraphQLNonNull):
        return weighted((9, input_value(type_.of_type, depth)), (1, st.none()))
    if isinstance(type_, GraphQLList):
        inner = input_value(type_.of_type, depth + 1)
        return st.one_of(st.lists(inner, max_size=3), inner, st.none()) if depth < 4 else st.just([])
    if isinstance(type_, GraphQLEnumType):
        return weighted((3, st.sampled_from(sorted(type_.values))), (1, small_text), (1, json_scalars))
    if isinstance(type_, GraphQLInputObjectType):
        if depth >= 4:
            return st.just({})
        fields = {name: input_value(f.type, depth + 1) for name, f in sorted(type_.fields.items())}
        shaped = st.fixed_dictionaries({}, optional=fields)
        return weighted((3, shaped), (1, st.dictionaries(small_text, json_values, max_size=3)), (1, json_scalars))
    assert isinstance(type_, GraphQLScalarType)
    return weighted((3, scalar_value(type_.name)), (1, st.none()))


@st.composite
def literal(draw: st.DrawFn, value: Any) -> str:
    """A GraphQL literal of a JSON value (JSON's string escapes are GraphQL's; keys that are not names are
    left out)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    if isinstance(value, list):
        return "[" + " ".join(draw(literal(item)) for item in value) + "]"
    parts = [f"{key}: {draw(literal(item))}" for key, item in value.items() if re.fullmatch(r"[_A-Za-z]\w*", key)]
    return "{" + ", ".join(parts) + "}"


# --------------------------------------------------------------------------- strategies: schema-made operations


@dataclass
class Operation:
    """An operation being drawn: its variable definitions and values, and how many aliases it has."""

    definitions: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    aliases: int = 0

    def variable(self, declared: Any, value: Any) -> str:
        name = f"v{len(self.definitions)}"
        self.definitions.append(f"${name}: {declared}")
        self.variables[name] = value
        return f"${name}"


@st.composite
def argument_value(draw: st.DrawFn, type_: GraphQLInputType, operation: Operation) -> str:
    """An argument's value: a variable (declared as the argument's type or its nullable named type) with a
    JSON value, a literal, or a bare enum name."""
    value = draw(input_value(type_))
    how = draw(st.sampled_from(["variable", "literal", "literal", "enum"]))
    if how == "variable":
        return operation.variable(draw(st.sampled_from([type_, type_, get_named_type(type_)])), value)
    named = get_named_type(type_)
    if how == "enum" and isinstance(named, GraphQLEnumType):
        return draw(st.sampled_from([*sorted(named.values), "NOT_A_VALUE", "true", "null"]))
    return draw(literal(value))


@st.composite
def selection_set(draw: st.DrawFn, parent: GraphQLNamedType, depth: int, limit: int, operation: Operation) -> str:
    """A selection set on an object, interface or union type, from the schema, with args and directives."""
    if depth >= limit:
        return "{ __typename }"
    fields = getattr(parent, "fields", {})
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["field", "field", "field", "typename", "inline"]))
        if kind == "inline" or not fields:
            on = draw(st.sampled_from(_possible_types(parent)))
            parts.append(f"... on {on.name} {draw(selection_set(on, depth + 1, limit, operation))}")
            continue
        if kind == "typename":
            parts.append("__typename")
            continue
        name = draw(st.sampled_from(sorted(fields)))
        definition = fields[name]
        text = name
        if draw(st.booleans()):
            operation.aliases += 1
            text = f"a{operation.aliases}: {name}"
        args = [
            f"{arg_name}: {draw(argument_value(arg.type, operation))}"
            for arg_name, arg in sorted(definition.args.items())
            if isinstance(arg.type, GraphQLNonNull) or draw(st.booleans())
        ]
        if args:
            text += f"({', '.join(args)})"
        if draw(st.integers(0, 9)) == 0:
            condition = draw(st.sampled_from(["true", "false", "$"]))
            if condition == "$":
                condition = operation.variable("Boolean!", draw(st.one_of(st.booleans(), json_scalars)))
            text += f" @{draw(st.sampled_from(['include', 'skip']))}(if: {condition})"
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLScalarType | GraphQLEnumType):
            text += " " + draw(selection_set(named, depth + 1, limit, operation))
        parts.append(text)
    return "{ " + " ".join(parts) + " }"


def _possible_types(parent: GraphQLNamedType) -> list[GraphQLObjectType]:
    if isinstance(parent, GraphQLUnionType):
        return list(parent.types)
    if isinstance(parent, GraphQLInterfaceType):
        return list(SCHEMA.get_possible_types(parent))
    assert isinstance(parent, GraphQLObjectType)
    return [parent]


@st.composite
def schema_operations(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """(operation type, document, variables) drawn from the schema: mostly valid, often with odd values."""
    kind = draw(st.sampled_from(["query", "query", "query", "mutation", "subscription"]))
    root = {"query": SCHEMA.query_type, "mutation": SCHEMA.mutation_type, "subscription": SCHEMA.subscription_type}
    operation = Operation()
    limit = draw(st.sampled_from([3, 4, 5, 6, 8, 17]))
    selections = draw(selection_set(root[kind], 0, limit, operation))  # type: ignore[arg-type]
    header = kind + (f" Fuzz({', '.join(operation.definitions)})" if operation.definitions else " Fuzz")
    return kind, f"{header} {selections}", operation.variables


# --------------------------------------------------------------------------- strategies: documents


CORPUS = [
    "{ __typename }",
    """{ products(first: 2, sortKey: PRICE, filter: { categorySlug: "apparel", availableForSale: true }) {
         totalCount pageInfo { hasNextPage endCursor }
         nodes { id title priceRange { minVariantPrice { amount currencyCode } }
                 featuredImage { url(width: 400) altText } rating { average count }
                 variants { sku title selectedOptions { name value } quantityAvailable } } } }""",
    """query Page($first: Int, $after: String) { products(first: $first, after: $after) {
         edges { cursor node { id slug title } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }""",
    """query Back($last: Int = 3, $before: String, $reverse: Boolean! = false, $sort: ProductSortKeys!) {
         products(last: $last, before: $before, reverse: $reverse, sortKey: $sort) { nodes { id createdAt } } }""",
    """query Product($slug: String, $id: ID) { product(slug: $slug, id: $id) { id title description vendor tags
         category { id name parent { id } } variants { id sku price { amount } compareAtPrice { amount } }
         images(first: 3) { id url(width: 10, height: 10) width height }
         reviews(first: 2) { totalCount nodes { rating title author { displayName } } } } }""",
    """query Categories($top: Boolean!) { categories(first: 10, topLevel: $top) { totalCount edges { cursor node {
         id slug name position children { slug } products(first: 2) { nodes { slug } } } } } }""",
    """query Node($id: ID!) { node(id: $id) { __typename id ... on Product { title } ... on Category { slug }
         ... on ProductVariant { sku product { id } } ... on Image { url } ... on Review { rating }
         ... on Order { status } ... on MailingAddress { city } ... on Customer { displayName } } }""",
    """query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }""",
    """fragment Card on Product { id title rating { average } variants { ...Variant } }
       fragment Variant on ProductVariant { sku price { amount currencyCode } }
       query Cards { products(first: 3) { nodes { ...Card } }
                     category(slug: "apparel") { products { nodes { ...Card } } } }""",
    """query Toggle($withVariants: Boolean!, $skipImage: Boolean = false) { products(first: 2) { nodes { id
         variants @include(if: $withVariants) { sku } featuredImage @skip(if: $skipImage) { url(width: 100) } } } }""",
    """query Search($q: String, $min: Decimal, $max: Decimal, $vendor: String, $category: ID) {
         products(first: 5, filter: { query: $q, price: { min: $min, max: $max }, vendor: $vendor,
                                      category: $category }) { totalCount nodes { title } } }""",
    """{ viewer { id displayName email createdAt defaultAddress { city } addresses(first: 2) { nodes { id zip } }
         orders(first: 2) { edges { cursor node { id status } } } reviews(first: 1) { nodes { id } } } }""",
    """query Orders($after: String, $first: Int) { viewer { orders(first: $first, after: $after) { totalCount
         nodes { id status lines(first: 2) { nodes { id } } } } } }""",
    """query Cart($id: ID!, $after: String) { cart(id: $id) { id totalQuantity createdAt buyerIdentity { email }
         cost { subtotalAmount { amount } totalAmount { amount currencyCode } }
         lines(first: 5, after: $after) {
           nodes { id quantity available merchandise { ... on ProductVariant { sku } } } } } }""",
    """query Order($id: ID!, $token: String!) { order(id: $id) { id status } orderByToken(token: $token) { id } }""",
    """mutation Create($input: CartInput!) {
         cartCreate(input: $input) { cart { id totalQuantity } errors { field code message } } }""",
    """mutation Add($cartId: ID!, $lines: [CartLineInput!]!) { cartLinesAdd(cartId: $cartId, lines: $lines) {
         cart { lines(first: 10) { nodes { id quantity } } } errors { field code } } }""",
    """mutation Update($cartId: ID!, $lines: [CartLineUpdateInput!]!) {
         cartLinesUpdate(cartId: $cartId, lines: $lines) { cart { id } errors { field code } } }""",
    """mutation Remove($cartId: ID!, $lineIds: [ID!]!) { cartLinesRemove(cartId: $cartId, lineIds: $lineIds) {
         cart { id } errors { code } } }""",
    """mutation Checkout($input: CheckoutInput!) { checkoutComplete(input: $input) { accessToken clientSecret
         order { id status } errors { field code message } } }""",
    """mutation Login($email: String!, $password: String!, $cookie: Boolean! = false, $cart: ID) {
         customerLogin(email: $email, password: $password, useCookie: $cookie, cartId: $cart) {
           accessToken errors { code retryAfter } } }""",
    """mutation Review($input: ReviewCreateInput!) {
         reviewCreate(input: $input) { review { id rating } errors { field code } } }""",
    """mutation Stock($id: ID!, $delta: Int!) { inventoryAdjust(variantId: $id, delta: $delta) {
         variant { quantityAvailable } errors { code } } }""",
    """mutation Price($id: ID!, $input: VariantInput!) { variantUpdate(id: $id, input: $input) {
         variant { price { amount } } errors { field code message } } }""",
    """mutation Product($input: ProductInput!) {
         productCreate(input: $input) { product { id slug } errors { field code } } }""",
    """query A { __typename } query B { products(first: 1) { nodes { id } } }
       mutation C { customerLogout { errors { code } } }""",
    """subscription Live($ids: [ID!]!) { variantAvailabilityChanged(variantIds: $ids) { id quantityAvailable } }""",
    """{ __schema { queryType { name } types { name kind fields { name } } }
         __type(name: "Product") { name fields { name } } }""",
    """query Intro { ...I } fragment I on Query { a: __type(name: "Cart") { name } }""",
]
TOKEN = re.compile(
    r'"""(?:\\"""|[^"]|"(?!""))*"""|"(?:\\.|[^"\\\n])*"|\.\.\.|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[_A-Za-z]\w*'
    r"|[!$&():=@\[\]{}|]|\S"
)
CORPUS_TOKENS = [TOKEN.findall(document) for document in CORPUS]
NAMES = sorted(set(re.findall(r"\b[_A-Za-z]\w*\b", SDL)) | {"__schema", "__type", "__typename", "on", "fragment"})
PUNCTUATION = [*"!$&():=@[]{}|", "...", "#", ",", '"', '"""', "\\", "\xa0", "\ufeff", "\x00"]
LITERALS = ["0", "-0", "01", "1.", ".5", "1e", "1e309", "-1e309", "9" * 40, "0x1F", "true", "false", "null", '""']
LITERALS += ['"\\u0000"', '"\\ud800"', '"\\udc00\\ud800"', '"\\uD83D\\uDE00"', '"\\u{1F600}"', '"\\u{110000}"']
LITERALS += ['"\\x41"', '"""a\\"""b"""', '"unterminated', "$v0", "$", "@include(if: true)", "@skip(if: $nope)"]
LITERALS += ["@deprecated", "@unknown", "@include(if: true) @include(if: false)", "... on Product", "...Missing"]
LITERALS += ["fragment F on Query { __typename }", "{ __schema { types { name } } }", '__type(name: "Query") { name }']
LITERALS += ["query($x: [[Int!]!]!)", "(first: 1)", "(first: 1, first: 2)"]
filler_tokens = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(PUNCTUATION),
    st.sampled_from(LITERALS),
    st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,12}", fullmatch=True),
    st.builds(lambda text, ascii_only: json.dumps(text, ensure_ascii=ascii_only), small_text, st.booleans()),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=3),
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    """A document of the corpus with tokens deleted, duplicated, swapped, replaced, inserted or spliced in."""
    return draw(mutated_operations())[0]


@st.composite
def mutated_operations(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A mutated document of the corpus, with variables shaped after the original's declarations."""
    index = draw(st.integers(0, len(CORPUS) - 1))
    tokens = list(CORPUS_TOKENS[index])
    variables = draw(shaped_variables(CORPUS[index]))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3, 6]))):
        operation = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "splice"]))
        at = draw(st.integers(0, max(len(tokens) - 1, 0)))
        if operation == "delete" and tokens:
            del tokens[at]
        elif operation == "duplicate" and tokens:
            tokens[at:at] = tokens[at : at + draw(st.integers(1, 8))]
        elif operation == "swap" and tokens:
            other = draw(st.integers(0, len(tokens) - 1))
            tokens[at], tokens[other] = tokens[other], tokens[at]
        elif operation == "splice":
            donor = draw(st.sampled_from(CORPUS_TOKENS))
            start = draw(st.integers(0, len(donor) - 1))
            tokens[at:at] = donor[start : start + draw(st.integers(1, 20))]
        elif operation == "insert" or not tokens:
            tokens.insert(at, draw(filler_tokens))
        else:
            tokens[at] = draw(filler_tokens)
    separator = draw(st.sampled_from([" ", " ", "\n", ",", "\t", " , ", "\r\n", "\u2028", ""]))
    return separator.join(tokens), variables


@st.composite
def shaped_variables(draw: st.DrawFn, document: str) -> dict[str, Any]:
    """Values for the variables the document's first operation declares, shaped after their types."""
    operation = next((d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode)), None)
    shaped: dict[str, Any] = {}
    for definition in (operation.variable_definitions or ()) if operation else ():
        type_ = type_from_ast(SCHEMA, definition.type)
        if type_ is not None and draw(st.integers(0, 5)) > 0:
            shaped[definition.variable.name.value] = draw(input_value(type_))  # type: ignore[arg-type]
    return shaped


PATHOLOGIES = ["braces", "fields", "parents", "aliases", "fragment_bomb", "fragment_cycle", "lists", "objects"]
PATHOLOGIES += ["wide", "operations", "directives", "variables", "long_string", "comments", "unbalanced"]


@st.composite
def pathological_documents(draw: st.DrawFn) -> str:
    """Documents built to stress the parser, the validation rules (depth, aliases) and the executor."""
    kind = draw(st.sampled_from(PATHOLOGIES))
    size = draw(st.sampled_from([1, 2, 10, 14, 15, 16, 31, 64, 200, 1000, 5000]))
    capped = min(size, 1000)
    if kind == "braces":  # nesting the parser reads, validation refuses
        return "{ " + "a { " * size + "__typename" + " }" * size + " }"
    if kind == "fields":  # real nesting: products -> category -> products -> ...
        inner = "__typename"
        for _ in range(min(size, 300)):
            inner = f"products(first: 1) {{ nodes {{ category {{ {inner} }} }} }}"
        return "{ " + inner + " }"
    if kind == "parents":
        return "{ categories(first: 2) { nodes { " + "parent { " * capped + "id" + " }" * capped + " } } }"
    if kind == "aliases":
        selected = draw(st.sampled_from(["__typename", "products(first: 1) { totalCount }", "viewer { id }"]))
        return "{ " + " ".join(f"a{i}: {selected}" for i in range(min(size, 2000))) + " }"
    if kind == "fragment_bomb":  # each fragment spreads the next twice: 2^levels fields if expanded naively
        levels = min(size, 60)
        fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
        leaf = draw(st.sampled_from(["__typename", "x: __typename", "products(first: 1) { totalCount }"]))
        return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ {leaf} }}"
    if kind == "fragment_cycle":
        return "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A __typename }"
    if kind == "lists":
        return "{ nodes(ids: " + "[" * size + '"x"' + "]" * size + ") { id } }"
    if kind == "objects":
        value = '"x"'
        for _ in range(capped):
            value = f"{{ query: {value} }}"
        return "{ products(filter: " + value + ") { totalCount } }"
    if kind == "wide":
        return "{ products(first: 100) { nodes { " + " ".join(["id title"] * capped) + " } } }"
    if kind == "operations":
        return " ".join(f"query Q{i} {{ __typename }}" for i in range(capped))
    if kind == "directives":
        return "{ __typename " + " ".join(["@include(if: true)"] * capped) + " }"
    if kind == "variables":
        return "query(" + ", ".join(f"$v{i}: Int" for i in range(capped)) + ") { __typename }"
    if kind == "long_string":
        return '{ product(slug: "' + "x" * min(size * 100, 200_000) + '") { id } }'
    if kind == "comments":
        return "#" + "x" * size + "\n{ __typename }" + "\n#" * size
    return "{ " * size + "__typename"


# --------------------------------------------------------------------------- documents and variables


@FUZZ
@given(
    mutated=mutated_operations(),
    target=targets,
    accept=accepts,
    method=st.sampled_from(["POST", "GET"]),
    viewer=viewers,
    operation_name=st.one_of(st.none(), st.sampled_from(["Page", "A", "B", "C", "Nope", ""])),
)
def test_mutated_documents_are_answered_well(
    shop: Shop,
    mutated: tuple[str, dict[str, Any]],
    target: str,
    accept: str,
    method: str,
    viewer: str,
    operation_name: str | None,
) -> None:
    case("mutated documents")
    document, variables = mutated
    run_document(
        target, document, variables, method=method, accept=accept, viewer=viewer, operation_name=operation_name
    )


@FUZZ
@given(
    document=st.one_of(
        st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=200),
        st.text(string.ascii_letters + string.digits + ' _{}()[]:!$@.,="#\n\\', min_size=1, max_size=200),
    ),
    target=targets,
    accept=accepts,
    method=st.sampled_from(["POST", "GET"]),
)
def test_random_text_is_answered_well(shop: Shop, document: str, target: str, accept: str, method: str) -> None:
    case("random text")
    run_document(target, document, method=method, accept=accept)


@FUZZ
@given(document=pathological_documents(), target=targets, accept=accepts, viewer=viewers)
def test_pathological_documents_are_answered_well(
    shop: Shop, document: str, target: str, accept: str, viewer: str
) -> None:
    case("pathological documents")
    run_document(target, document, accept=accept, viewer=viewer)


@FUZZ
@given(
    operation=schema_operations(),
    target=targets,
    accept=accepts,
    viewer=viewers,
    method=st.sampled_from(["POST", "GET"]),
)
def test_operations_made_from_the_schema_are_answered_well(
    shop: Shop, operation: tuple[str, str, dict[str, Any]], target: str, accept: str, viewer: str, method: str
) -> None:
    case("schema operations")
    kind, document, variables = operation
    method = method if kind == "query" else "POST"  # GET takes queries only (a 405 is checked elsewhere)
    run_document(target, document, variables or None, method=method, accept=accept, viewer=viewer)


VARIABLE_OPERATIONS = [document for document in CORPUS if "$" in document]


@st.composite
def operations_with_variables(draw: st.DrawFn) -> tuple[str, Any]:
    """A real operation that declares variables, with variables shaped after the declarations (or not)."""
    document = draw(st.sampled_from(VARIABLE_OPERATIONS))
    shaped = draw(shaped_variables(document))
    extra = st.dictionaries(small_text, json_values, max_size=3).map(lambda more: {**shaped, **more})
    return document, draw(weighted((2, st.just(shaped)), (1, extra), (1, json_values)))


TOGGLE = next(document for document in CORPUS if document.startswith("query Toggle"))
NULL_INTO_NON_NULL = "query($v: Boolean) { products(reverse: $v) { totalCount } }"  # reverse: Boolean! = false


@FUZZ
@example(case_=(TOGGLE, {"withVariants": False, "skipImage": None}), target="test", accept=JSON, viewer="anonymous")
@example(case_=(TOGGLE, {"withVariants": True, "skipImage": None}), target="reference", accept=JSON, viewer="anonymous")
@example(case_=(NULL_INTO_NON_NULL, {"v": None}), target="test", accept=GRAPHQL_RESPONSE, viewer="anonymous")
@given(case_=operations_with_variables(), target=targets, accept=accepts, viewer=viewers)
def test_variables_of_real_operations_are_answered_well(
    shop: Shop, case_: tuple[str, Any], target: str, accept: str, viewer: str
) -> None:
    case("variables")
    document, variables = case_
    post_json(target, {"query": document, "variables": variables}, accept=accept, viewer=viewer)


# --------------------------------------------------------------------------- forged IDs and cursors

# Every place an ID is read, with the kind of ID it expects; $c is a cart of the fuzzing customer.
ID_READERS = [
    ("query($v: ID!) { node(id: $v) { id } }", None),
    ("query($v: ID!) { nodes(ids: [$v, $v]) { id } }", None),
    ("query($v: ID) { product(id: $v) { id } }", "Product"),
    ("query($v: ID) { category(id: $v) { id } }", "Category"),
    ("query($v: ID) { products(first: 2, filter: { category: $v }) { totalCount } }", "Category"),
    ("query($v: ID!) { cart(id: $v) { id } }", "Cart"),
    ("query($v: ID!) { order(id: $v) { id } }", "Order"),
    ("mutation($v: ID!) { cartLinesAdd(cartId: $v, lines: []) { errors { code } } }", "Cart"),
    ("mutation($v: ID!) { cartLinesRemove(cartId: $v, lineIds: []) { errors { code } } }", "Cart"),
    ("mutation($v: String!) { customerLogin(email: $v, password: $v, cartId: $v) { errors { code } } }", "Cart"),
    (
        "mutation($v: ID!, $c: ID!) { cartLinesAdd(cartId: $c, lines: [{ merchandiseId: $v }]) { errors { code } } }",
        "ProductVariant",
    ),
    ("mutation($v: ID!, $c: ID!) { cartLinesRemove(cartId: $c, lineIds: [$v]) { errors { code } } }", "CartLine"),
    (
        "mutation($v: ID!, $c: ID!) { cartLinesUpdate(cartId: $c, lines: [{ id: $v, quantity: 2 }]) "
        "{ errors { code } } }",
        "CartLine",
    ),
    (
        "mutation($v: ID!) { cartCreate(input: { lines: [{ merchandiseId: $v }] }) { errors { code } } }",
        "ProductVariant",
    ),
    ("mutation($v: ID!) { customerAddressDelete(id: $v) { errors { code } } }", "MailingAddress"),
    ("mutation($v: ID!) { customerDefaultAddressUpdate(id: $v) { errors { code } } }", "MailingAddress"),
    ("mutation($v: ID!) { orderCancel(id: $v) { errors { code } } }", "Order"),
    ("mutation($v: ID!) { orderUpdateStatus(id: $v, status: PAID) { errors { code } } }", "Order"),
    ("mutation($v: ID!) { reviewCreate(input: { productId: $v, rating: 3 }) { errors { code } } }", "Product"),
    ("mutation($v: ID!) { inventoryAdjust(variantId: $v, delta: 1) { errors { code } } }", "ProductVariant"),
    ("mutation($v: ID!) { productUpdate(id: $v, input: {}) { errors { code } } }", "Product"),
    ("mutation($v: ID!) { variantCreate(productId: $v, input: {}) { errors { code } } }", "Product"),
    ("mutation($v: ID) { productCreate(input: { categoryId: $v }) { errors { code } } }", "Category"),
    (
        "mutation($v: ID!, $c: ID!) { checkoutComplete(input: { cartId: $v, idempotencyKey: $c, "
        "shippingAddress: {}, payment: {} }) { errors { code } } }",
        "Cart",
    ),
]


@st.composite
def id_readers(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    document, kind = draw(st.sampled_from(ID_READERS))
    variables = {"v": draw(weighted((2, forged_ids(kind)), (1, known("id"))))}
    if "$c" in document:
        variables["c"] = draw(known("cart"))
    return document, variables


@FUZZ
@example(read=("query($v: ID!) { node(id: $v) { id } }", {"v": b64("Product:\u00b2")}), target="test", viewer="staff")
@example(
    read=("query($v: ID!) { node(id: $v) { id } }", {"v": b64("Order:\u2460")}), target="reference", viewer="staff"
)
@example(
    read=(
        "mutation($v: ID!) { cartLinesUpdate(cartId: $v, lines: [{ id: $v, quantity: 2 }]) { errors { code } } }",
        {"v": b64("CartLine:\u00b2")},
    ),
    target="test",
    viewer="anonymous",
)
@example(read=("query($v: ID!) { cart(id: $v) { id } }", {"v": b64("Cart:a\x00b")}), target="test", viewer="anonymous")
@example(
    read=("mutation($v: ID!) { cartLinesAdd(cartId: $v, lines: []) { errors { code } } }", {"v": b64("Cart:\x00")}),
    target="production",
    viewer="customer",
)
@given(read=id_readers(), target=targets, viewer=viewers)
def test_forged_ids_are_answered_well(shop: Shop, read: tuple[str, dict[str, Any]], target: str, viewer: str) -> None:
    case("forged ids")
    document, variables = read
    post_json(target, {"query": document, "variables": variables}, viewer=viewer)


# Every connection, with the sort keys its cursors are made for; $c is a cart of the fuzzing customer.
PAGES = [
    (
        "query($v: String, $s: ProductSortKeys!) { products(first: 2, after: $v, sortKey: $s) { nodes { id } } }",
        ["ID", "TITLE", "PRICE", "CREATED_AT", "BEST_RATED"],
    ),
    (
        "query($v: String, $s: ProductSortKeys!) { products(last: 2, before: $v, sortKey: $s, reverse: true) "
        "{ nodes { id } } }",
        ["ID", "TITLE", "PRICE", "CREATED_AT", "BEST_RATED"],
    ),
    (
        'query($v: String, $s: ProductSortKeys!) { category(slug: "apparel") '
        "{ products(first: 2, after: $v, sortKey: $s) { nodes { id } } } }",
        ["ID", "TITLE", "PRICE", "CREATED_AT"],
    ),
    ("query($v: String) { categories(first: 2, after: $v) { nodes { id } } }", ["POSITION"]),
    ("query($v: String) { categories(last: 2, before: $v) { nodes { id } } }", ["POSITION"]),
    (
        "query($v: String) { products(first: 3) { nodes { reviews(first: 2, after: $v) { nodes { id } } } } }",
        ["CREATED_AT"],
    ),
    (
        "query($v: String) { products(first: 3) { nodes { reviews(last: 2, before: $v) { nodes { id } } } } }",
        ["CREATED_AT"],
    ),
    ("query($v: String) { viewer { orders(first: 2, after: $v) { nodes { id } } } }", ["CREATED_AT"]),
    ("query($v: String) { viewer { orders(last: 2, before: $v) { nodes { id } } } }", ["CREATED_AT"]),
    ("query($v: String) { viewer { addresses(first: 2, after: $v) { nodes { id } } } }", ["ID"]),
    ("query($v: String) { viewer { reviews(first: 2, after: $v) { nodes { id } } } }", ["CREATED_AT"]),
    ("query($v: String, $c: ID!) { cart(id: $c) { lines(first: 2, after: $v) { nodes { id } } } }", ["ID"]),
    ("query($v: String, $c: ID!) { cart(id: $c) { lines(last: 2, before: $v) { nodes { id } } } }", ["ID"]),
]
ORDERS_AFTER = PAGES[7][0]


@st.composite
def pages(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    document, names = draw(st.sampled_from(PAGES))
    variables: dict[str, Any] = {"v": draw(cursors(names))}
    if "$s" in document:
        variables["s"] = draw(st.sampled_from(names))
    if "$c" in document:
        variables["c"] = draw(known("cart"))
    return document, variables


@FUZZ
@example(page=(ORDERS_AFTER, {"v": b64('["CREATED_AT", [1, 2], 5]')}), target="test", viewer="customer")
@example(page=(ORDERS_AFTER, {"v": b64('["CREATED_AT", {"a": 1}, 5]')}), target="reference", viewer="staff")
@example(page=(ORDERS_AFTER, {"v": b64('["CREATED_AT", "not a time", 5]')}), target="test", viewer="customer")
@example(page=(ORDERS_AFTER, {"v": b64('["CREATED_AT", 7, 5]')}), target="production", viewer="customer")
@example(page=(ORDERS_AFTER, {"v": b64('["CREATED_AT", null, 1]')}), target="test", viewer="customer")
@given(page=pages(), target=targets, viewer=viewers)
def test_forged_cursors_are_answered_well(
    shop: Shop, page: tuple[str, dict[str, Any]], target: str, viewer: str
) -> None:
    case("forged cursors")
    document, variables = page
    post_json(target, {"query": document, "variables": variables}, viewer=viewer)


# --------------------------------------------------------------------------- HTTP bodies, query strings, headers

VALID_BODY = {"query": "query($n: Int) { products(first: $n) { nodes { id } } }", "variables": {"n": 1}}
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "application/json;charset=UTF8"]
CONTENT_TYPES += [
    'application/json; charset="utf-8"',
    "application/json; charset=latin-1",
    "application/json; charset=",
]
CONTENT_TYPES += ["application/json; charset", "application/json;;", "APPLICATION/JSON", GRAPHQL_RESPONSE]
CONTENT_TYPES += ["application/graphql", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"]
CONTENT_TYPES += ["text/plain", "text/plain; charset=utf-8", "application/*", "*/*", "", ";", "application/jsonx"]
CONTENT_TYPES += ["application/json; boundary=x; charset=utf-8; q=1", "application/json; charset=utf-16"]
json_bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "query": st.one_of(json_values, st.sampled_from(CORPUS)),
            "variables": json_values,
            "operationName": st.one_of(json_values, st.text(max_size=5000)),
            "extensions": json_values,
            "id": json_values,
            "documentId": json_values,
        },
    ),
    json_values,
    st.lists(st.just(VALID_BODY), max_size=3),
)
encoded_bodies = json_bodies.map(lambda body: json.dumps(body).encode())
ODD_BODIES = [
    b"",
    b" ",
    b"\xef\xbb\xbf" + json.dumps(VALID_BODY).encode(),  # a UTF-8 byte order mark
    json.dumps(VALID_BODY).encode().replace(b"1}", b"1e999}"),
    b'{"query": "{ __typename }", "query": 1}',
    b'{"query": "{ __typename }\\ud800"}',
    b'{"query": "\\u0000"}',
    b'{"query": "{ __typename }"} trailing',
    b'{"query": "{ __typename }"}\n\n{"query": "{ __typename }"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    json.dumps(VALID_BODY).encode("utf-16"),
    b'{"query": "{ __typename }", "variables": NaN}',
    b'{"query": "{ __typename }", "variables": {"n": 123456789012345678901234567890}}',
    b"{'query': '{ __typename }'}",
    b"query=%7B__typename%7D",
]
raw_bodies = st.one_of(
    encoded_bodies,
    st.builds(lambda data, at: data[: at % (len(data) + 1)], encoded_bodies, st.integers(0, 10_000)),  # truncated
    st.binary(max_size=300),
    st.sampled_from(ODD_BODIES),
)


@FUZZ
@given(
    body=raw_bodies, content_type=st.sampled_from(CONTENT_TYPES), accept=accepts, target=targets, chunked=st.booleans()
)
def test_http_bodies_are_answered_well(
    shop: Shop, body: bytes, content_type: str, accept: str, target: str, chunked: bool
) -> None:
    case("http bodies")
    headers = {"accept": accept} | ({"content-type": content_type} if content_type else {})
    content: Any = body
    if chunked:  # no Content-Length: uvicorn hands the body on in chunks
        content = iter([body[i : i + 7] for i in range(0, len(body), 7)] or [b""])
    response, sent = send(target, body=content, headers=headers)
    check(response, Sent(target, "POST", sent.url, headers, body))


def test_bodies_over_the_limit_are_413(shop: Shop) -> None:
    case("http bodies")
    body = json.dumps({"query": "{ __typename }", "extensions": {"pad": "x" * 1_000_001}}).encode()
    for content in (body, iter([body[i : i + 65536] for i in range(0, len(body), 65536)])):
        response, sent = send("test", body=content, headers={"content-type": JSON})
        assert response.status_code == 413
        check(response, sent)


query_values = st.one_of(st.sampled_from(CORPUS), mutated_documents(), small_text, st.text(max_size=50))
query_strings = st.one_of(
    st.dictionaries(
        st.sampled_from(["query", "variables", "operationName", "extensions", "QUERY", "query[]", "x"]),
        st.one_of(query_values, json_values.map(json.dumps), st.text(max_size=30)),
        max_size=5,
    ).map(lambda params: list(params.items())),
    st.lists(st.tuples(st.sampled_from(["query", "variables"]), query_values), max_size=3),  # repeated keys
)
raw_query_strings = st.one_of(
    st.text(string.ascii_letters + string.digits + "%&=+;?[]{}$!'()*,/:@_.~-", max_size=80),
    st.binary(max_size=40).map(lambda data: "query=" + "".join(f"%{byte:02X}" for byte in data)),
    st.sampled_from(["query=%", "query=%zz", "query=%C0%80", "query=%ED%A0%80", "query=%00", "&&&", "=", "query"]),
)


@FUZZ
@given(
    params=query_strings,
    raw=st.one_of(st.none(), raw_query_strings),
    accept=accepts,
    target=targets,
    method=st.sampled_from(["GET", "GET", "HEAD"]),
)
def test_get_query_strings_are_answered_well(
    shop: Shop, params: list[tuple[str, Any]], raw: str | None, accept: str, target: str, method: str
) -> None:
    case("query strings")
    url: Any = "/graphql"
    if raw is not None:
        url = httpx.URL(str(shop.clients[target].base_url).rstrip("/") + "/graphql").copy_with(query=raw.encode())
    response, sent = send(target, method, params=params if raw is None else None, headers={"accept": accept}, url=url)
    check(response, sent)


# what h11 lets a client send: visible ASCII and obs-text, no surrounding whitespace
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
ACCEPTS = [JSON, GRAPHQL_RESPONSE, EVENT_STREAM, "*/*", "text/html", "text/plain", "application/*;q=0", ",,,;;;", ""]
ACCEPTS += [f"{JSON};q=abc", f"{JSON};q=nan", f"{JSON};q=inf, {GRAPHQL_RESPONSE};q=-1", f"{JSON};q=1e400"]
ACCEPTS += [f"{EVENT_STREAM};q=0.5, {JSON}", f"{EVENT_STREAM}, {JSON};q=1.1", f"text/html, {EVENT_STREAM}"]


@st.composite
def odd_headers(draw: st.DrawFn) -> dict[str, bytes]:
    """Accept, credentials, CSRF, request id, origin and encodings: odd, malformed or forged."""
    token = AccessTokens(SECRET_KEY).issue(1, "CUSTOMER", "s", datetime.now(UTC))[0]
    optional = {
        "authorization": st.one_of(
            header_text,
            st.sampled_from(["Bearer", "Bearer x.y.z", "Basic dXNlcjpwYXNz", f"Bearer {token}", f"bearer  {token}"]),
            header_text.map(lambda text: f"Bearer {text}"),
            st.builds(lambda i, c: f"Bearer {_tamper(token, i, c)}", st.integers(0, 400), st.sampled_from("A-_.=")),
        ),
        "cookie": st.one_of(
            header_text,
            header_text.map(lambda value: f"sf_session={value}"),
            st.builds(lambda v, c: f"sf_session={v}; sf_csrf={c}", header_text, header_text),
            st.just(f"sf_session={token}|x; sf_csrf=abc"),
        ),
        "x-csrf-token": header_text,
        "x-request-id": st.one_of(header_text, st.text(string.ascii_letters + "-_.", min_size=60, max_size=70)),
        "origin": st.one_of(header_text, st.sampled_from(["http://evil.example", "null", "http://localhost:5173"])),
        "apollo-require-preflight": header_text,
        "content-encoding": st.sampled_from(["gzip", "br", "identity", "x"]),
        "accept-encoding": st.sampled_from(["gzip", "br", "deflate", "*", "gzip;q=0", "identity"]),
    }
    accept = st.sampled_from([JSON, GRAPHQL_RESPONSE]) if draw(st.booleans()) else st.sampled_from(ACCEPTS)
    headers = {"accept": draw(header_text if draw(st.integers(0, 5)) == 0 else accept)}
    headers["content-type"] = draw(st.sampled_from(CONTENT_TYPES[:4]))
    for name, strategy in optional.items():
        if draw(st.integers(0, 3)) == 0:
            headers[name] = draw(strategy)
    return {name: value.strip().encode("latin-1") for name, value in headers.items()}  # h11 refuses outer spaces


# no subscription: a stream that is accepted would stay open
HEADER_DOCUMENTS = [document for document in CORPUS if not document.startswith("subscription")]


@FUZZ
@given(
    headers=odd_headers(),
    document=st.sampled_from(HEADER_DOCUMENTS),
    target=targets,
    method=st.sampled_from(["POST", "GET"]),
)
def test_odd_headers_are_answered_well(
    shop: Shop, headers: dict[str, bytes], document: str, target: str, method: str
) -> None:
    case("headers")
    body = json.dumps({"query": document}).encode() if method == "POST" else None
    params = {"query": document} if method == "GET" else None
    response, sent = send(target, method, body=body, headers=headers, params=params)
    check(response, sent)


@st.composite
def signed_claims(draw: st.DrawFn) -> dict[str, Any]:
    """Claims of a token signed with the server's own key, one to three of them odd or missing (what only a
    key holder can make)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "1", "role": "CUSTOMER", "sid": "s", "jti": "j", "iat": now, "exp": now + 600}
    odd_values = {
        "sub": weighted((3, tricky_keys), (1, json_scalars)),
        "role": weighted((3, st.sampled_from(["STAFF", "staff", "", "ADMIN"])), (1, json_scalars)),
        "sid": weighted((1, st.text(max_size=10)), (1, json_scalars)),
        "jti": json_scalars,
        "iat": weighted((1, st.just(now + 0.5)), (1, st.sampled_from(INTERESTING_INTS)), (1, json_scalars)),
        "exp": weighted((2, st.just(now + 600.5)), (1, st.sampled_from(INTERESTING_INTS)), (1, json_scalars)),
    }
    for name in draw(st.lists(st.sampled_from(sorted(claims)), min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            del claims[name]
        else:
            claims[name] = draw(odd_values[name])
    return claims


TOKEN_DOCUMENTS = ["{ viewer { id } }", "mutation { customerLogout { errors { code } } }", "{ __typename }"]


GOOD_CLAIMS = {"sub": "1", "role": "CUSTOMER", "sid": "s", "jti": "j", "iat": 0, "exp": 4102444800}


@FUZZ
@example(claims={**GOOD_CLAIMS, "exp": 4102444800.5}, target="test", document=TOKEN_DOCUMENTS[0])
@example(claims={**GOOD_CLAIMS, "sub": "\u00b2"}, target="test", document=TOKEN_DOCUMENTS[0])
@example(claims={**GOOD_CLAIMS, "sub": "9" * 30}, target="test", document=TOKEN_DOCUMENTS[0])
@example(claims={**GOOD_CLAIMS, "exp": 10**30}, target="test", document=TOKEN_DOCUMENTS[0])
@example(claims={**GOOD_CLAIMS, "sid": "\u0000"}, target="test", document=TOKEN_DOCUMENTS[1])  # PostgreSQL's error
@given(claims=signed_claims(), target=targets, document=st.sampled_from(TOKEN_DOCUMENTS))
def test_tokens_with_odd_claims_are_refused_well(
    shop: Shop, claims: dict[str, Any], target: str, document: str
) -> None:
    case("signed tokens")
    try:
        token = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
    except (TypeError, ValueError):
        return
    body = json.dumps({"query": document}).encode()
    response, sent = send(target, body=body, headers={"content-type": JSON, "authorization": f"Bearer {token}"})
    check(response, sent)


# --------------------------------------------------------------------------- raw HTTP requests


RAW_TARGETS = [b"/graphql", b"/graphql?query=%7B__typename%7D", b"/graphql?query=%7Bviewer%7Bid%7D%7D&variables=null"]
ODD_RAW_TARGETS = [b"/graphql?query=\xff", b"//graphql", b"/graphql/", b"/GRAPHQL", b"*", b"http://x/graphql"]
ODD_RAW_TARGETS += [b"/graphql#x", b"/graphql?" + b"a" * 9000, b"/graphql?query=%7B&query=%7B", b"/%2e%2e/graphql"]


def odd(draw: st.DrawFn, usual: list[bytes], odd_ones: list[bytes]) -> bytes:
    """Mostly a usual value, one time in four an odd one."""
    return draw(st.sampled_from(odd_ones if draw(st.integers(0, 3)) == 0 else usual))


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    """An HTTP/1.1 request written by hand: odd methods, targets, header lines and framing, now and then."""
    method = odd(draw, [b"GET", b"POST", b"POST"], [b"HEAD", b"PUT", b"OPTIONS", b"PATCH", b"get", b"P\xd3ST", b""])
    target = odd(draw, RAW_TARGETS, ODD_RAW_TARGETS)
    body = odd(draw, [json.dumps(VALID_BODY).encode(), b'{"query": "{ __typename }"}'], [b"", b"{", b"\x00" * 10])
    lines = [b"Host: fuzz", b"Connection: close"]
    lines.append(b"Content-Type: " + odd(draw, [b"application/json"], [b"application/json; charset=\xe9", b"\xff"]))
    framing = odd(draw, [b"length"], [b"odd length", b"chunked", b"both", b"none", b"twice"])
    if framing in (b"length", b"both", b"twice"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    if framing in (b"odd length", b"twice"):
        lengths = [b"0", b"1", b"\xb2", b"-1", b"1e2", b"+5", b"99999999999999999999", b"0x10", b"1, 1", b""]
        lines.append(b"Content-Length: " + draw(st.sampled_from(lengths)))
    if framing in (b"chunked", b"both"):
        lines.append(b"Transfer-Encoding: " + odd(draw, [b"chunked"], [b"gzip, chunked", b"chunked, chunked", b"x"]))
        body = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
    for _ in range(draw(st.integers(0, 3))):
        name = odd(draw, [b"Accept", b"X-Request-ID", b"Cookie", b"Authorization", b"Origin"], [b"X-\xff", b"A B", b""])
        value = draw(st.binary(max_size=30).filter(lambda v: b"\r" not in v and b"\n" not in v))
        lines.append(name + b": " + odd(draw, [value.strip(b" \t\x00") or b"x"], [value]))
    return method + b" " + target + b" HTTP/1.1\r\n" + b"\r\n".join(lines) + b"\r\n\r\n" + body


def _exchange(origin: str, request: bytes) -> bytes | None:
    """Write a request on a new connection and read until the server closes it; None when it waits for more."""
    address = urlsplit(origin)
    chunks = []
    with socket.create_connection((address.hostname, address.port), timeout=2) as connection:
        connection.sendall(request)
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            if not chunks:
                return None  # a body shorter than its Content-Length: uvicorn waits for the rest
    return b"".join(chunks)


POST_HEAD = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@FUZZ
@example(request=POST_HEAD + b"Content-Length: \xb2\r\n\r\n{}", target="test")
@example(request=POST_HEAD + b"Transfer-Encoding: x\r\n\r\n0\r\n\r\n", target="test")
@given(request=raw_requests(), target=targets)
def test_raw_http_requests_are_answered_well(shop: Shop, request: bytes, target: str) -> None:
    case("raw http")
    shop.errors.take()
    answer = _exchange(str(shop.clients[target].base_url), request)
    logged = "\n".join(shop.errors.take())
    if answer is None:
        OUTCOMES["raw http: waiting for the body"] += 1
        return
    status_line = answer.split(b"\r\n", 1)[0]
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", status_line)
    context = f"for {request[:3000]!r}\nanswer: {answer[:2000]!r}\n{logged}"
    assert match is not None or answer == b"", context  # uvicorn may close on a request it cannot read
    assert match is None or int(match.group(1)) < 500, context
    assert not logged, context
    OUTCOMES[f"raw http: {'closed' if match is None else match.group(1).decode()[0] + 'xx'}"] += 1


def test_a_client_gone_mid_body_is_not_an_error(shop: Shop) -> None:
    """A client that sends part of its body and hangs up (a phone losing its network) logs nothing at ERROR."""
    case("raw http")
    address = urlsplit(str(shop.clients["test"].base_url))
    head = POST_HEAD + b"Content-Length: 100\r\n\r\n"
    shop.errors.take()
    with socket.create_connection((address.hostname, address.port), timeout=2) as connection:
        connection.sendall(head + b'{"query": "{ __typename }"')
        time.sleep(0.2)  # the app is reading the body
    deadline = time.monotonic() + 1
    logged: list[str] = []
    while time.monotonic() < deadline and not logged:
        time.sleep(0.05)
        logged = shop.errors.take()
    assert not logged, "\n".join(logged)


# --------------------------------------------------------------------------- production


@st.composite
def introspection_documents(draw: st.DrawFn) -> str:
    """Ways to reach __schema and __type: aliased, in fragments, inline, beside other fields, skipped."""
    probe = draw(
        st.sampled_from(['__type(name: "Product") { kind specifiedByURL }', "__schema { queryType { kind } }"])
    )
    selected = draw(st.sampled_from(["", "x: ", "__typename: ", "products: "])) + probe
    shape = draw(st.sampled_from(["plain", "fragment", "inline", "beside", "skipped", "variables", "nested"]))
    if shape == "fragment":
        return f"query {{ ...F }} fragment F on Query {{ {selected} }}"
    if shape == "inline":
        return f"{{ ... on Query {{ ... {{ {selected} }} }} }}"
    if shape == "beside":
        return f"{{ products(first: 1) {{ nodes {{ id }} }} {selected} }}"
    if shape == "skipped":
        return f"{{ __typename {selected} @include(if: false) }}"
    if shape == "variables":
        return f"query($yes: Boolean = true) {{ __typename {selected} @include(if: $yes) }}"
    if shape == "nested":
        return f"{{ products(first: 1) {{ nodes {{ __typename }} }} ... {{ {selected} }} }}"
    return "{ " + selected + " }"


@FUZZ
@given(
    probe=st.one_of(
        st.tuples(introspection_documents(), st.just(True)), st.tuples(mutated_documents(), st.just(False))
    ),
    viewer=viewers,
    accept=accepts,
)
def test_production_hides_introspection_and_suggestions(
    shop: Shop, probe: tuple[str, bool], viewer: str, accept: str
) -> None:
    case("production")
    document, selects_introspection_keys = probe
    payload = run_document("production", document, accept=accept, viewer=viewer)
    if selects_introspection_keys and viewer != "staff" and payload is not None:
        assert not _introspected(payload.get("data"), INTROSPECTION_KEYS), payload
