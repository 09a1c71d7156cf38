"""Persisted documents: automatic persisted queries (Apollo's `extensions.persistedQuery`) over POST and GET,
and trusted documents imported from clients' manifests with `storefront persisted-queries import`, which
TRUSTED_DOCUMENTS_ONLY makes the only documents anyone but staff may run."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from app.accounts.models import Customer
from app.cli import main
from app.persisted import store
from app.persisted.manifest import ManifestError, import_documents, read_manifest
from app.persisted.models import PersistedDocument
from app.settings import Settings
from tests.conftest import seeded_database, settings_for, take_cost
from tests.support.accounts import CREATE, LOGIN, Running, bearer, new_email, running, sign_in, sign_up
from tests.test_accounts import _run

QUERY = "query Names { products(first: 2) { nodes { slug } } }"
OTHER = "query Titles { products(first: 2) { nodes { title } } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"
REDIS_URL = "redis://127.0.0.1:6379/0"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(text)}}


@pytest.fixture(scope="module")
async def shop_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with seeded_database(backend, tmp_path_factory.mktemp(f"persisted-{backend}"), products=3, seed=5) as url:
        yield url


async def _post(running_app: Running, body: dict[str, Any], **headers: str) -> httpx.Response:
    client = running_app.client()
    try:
        return await client.http.post("/graphql", json=body, headers=headers)
    finally:
        await client.aclose()


async def _get(running_app: Running, params: dict[str, Any]) -> httpx.Response:
    client = running_app.client()
    encoded = {name: value if isinstance(value, str) else json.dumps(value) for name, value in params.items()}
    try:
        return await client.http.get("/graphql", params=encoded)
    finally:
        await client.aclose()


def _body(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    take_cost(body)
    return body


BOMB = (
    "{ categories(first: 100) { nodes { products(first: 100) { nodes { reviews(first: 100) { nodes { id } } } } } } }"
)
NOT_FOUND = {"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}


# --- automatic persisted queries -----------------------------------------------------------------------------


async def test_apq_round_trip_over_post(shop_url: str) -> None:
    async with running(settings_for(shop_url)) as served:
        served.sql.reset()
        unknown = await _post(served, {"extensions": apq(QUERY)}, accept=GRAPHQL_RESPONSE)
        assert served.sql.count == 0
        registered = await _post(served, {"query": QUERY, "extensions": apq(QUERY)})
        by_hash = await _post(served, {"extensions": apq(QUERY)})
    # a miss is 200 whatever the media type: Apollo's link answers it with the query, and keeps using hashes
    assert (unknown.status_code, _body(unknown)) == (200, NOT_FOUND)
    assert registered.status_code == 200 and "errors" not in _body(registered)
    assert (by_hash.status_code, _body(by_hash)) == (200, _body(registered))


async def test_apq_over_get_is_a_short_stable_url(shop_url: str) -> None:
    async with running(settings_for(shop_url)) as served:
        miss = await _get(served, {"extensions": apq(QUERY)})
        registered = await _get(served, {"query": QUERY, "extensions": apq(QUERY)})
        by_hash = await _get(served, {"extensions": apq(QUERY), "operationName": "Names"})
    assert _body(miss) == NOT_FOUND
    assert registered.status_code == 200 and by_hash.status_code == 200
    assert _body(by_hash) == _body(registered) and _body(by_hash)["data"]["products"]["nodes"]
    assert "products" not in str(by_hash.request.url)  # the URL names the query, whatever its size


async def test_a_hash_that_is_not_the_querys_is_refused_and_nothing_registered(shop_url: str) -> None:
    async with running(settings_for(shop_url)) as served:
        mismatch = await _post(served, {"query": QUERY, "extensions": apq(OTHER)}, accept=GRAPHQL_RESPONSE)
        afterwards = await _post(served, {"extensions": apq(OTHER)})
    assert mismatch.status_code == 400
    assert _body(mismatch) == {
        "errors": [
            {
                "message": "The `sha256Hash` is not the SHA-256 of the `query` sent",
                "extensions": {"code": "PERSISTED_QUERY_HASH_MISMATCH"},
            }
        ]
    }
    assert _body(afterwards) == NOT_FOUND


async def test_an_invalid_document_is_not_registered(shop_url: str) -> None:
    broken = "{ products { nope } }"
    async with running(settings_for(shop_url)) as served:
        refused = await _post(served, {"query": broken, "extensions": apq(broken)})
        afterwards = await _post(served, {"extensions": apq(broken)})
    assert _body(refused)["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert _body(afterwards) == NOT_FOUND


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        ({"persistedQuery": "abc"}, "`extensions.persistedQuery` must be an object with `version` and `sha256Hash`"),
        (
            {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
            "Only version 1 of `extensions.persistedQuery` is supported",
        ),
        (
            {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}},
            "`extensions.persistedQuery.sha256Hash` must be the 64 hex digits of the query's SHA-256",
        ),
    ],
)
async def test_a_malformed_persisted_query_is_a_bad_request(shop_url: str, extensions: dict, message: str) -> None:
    async with running(settings_for(shop_url)) as served:
        response = await _post(served, {"extensions": extensions})
    assert (response.status_code, response.json()) == (
        400,
        {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]},
    )


async def test_instances_sharing_redis_share_registered_queries(shop_url: str) -> None:
    settings = settings_for(shop_url, redis_url=REDIS_URL)
    text = f"query Shared{os.getpid()} {{ products(first: 1) {{ nodes {{ id }} }} }}"
    async with running(settings) as first, running(settings) as second:
        await _post(first, {"query": text, "extensions": apq(text)})
        found = await _post(second, {"extensions": apq(text)})
    assert "errors" not in _body(found) and _body(found)["data"]["products"]["nodes"]


# --- trusted documents ---------------------------------------------------------------------------------------

APOLLO_MANIFEST = {
    "format": "apollo-persisted-query-manifest",
    "version": 1,
    "operations": [{"id": sha(QUERY), "name": "Names", "type": "query", "body": QUERY}],
}
RELAY_MANIFEST = {"relay-titles-1": OTHER}  # Relay's IDs are its own (an MD5 by default)


ACCOUNTS_MANIFEST = {sha(CREATE): CREATE, sha(LOGIN): LOGIN}  # a client's sign-up and sign-in
IMPORTED = [(sha(QUERY), "web"), ("relay-titles-1", "web"), (sha(CREATE), "web"), (sha(LOGIN), "web")]


@dataclass
class Imported:
    returncode: int
    stdout: str
    stderr: str


async def _import(url: str, manifest: Any, tmp_path: Path, *extra: str) -> Imported:
    """`storefront persisted-queries import FILE`, as an operator runs it (in a thread of this process: the
    command makes its own event loop; one test runs the real command in a process of its own)."""
    path = tmp_path / "manifest.json"
    path.write_bytes(orjson.dumps(manifest))
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with redirect_stdout(out), redirect_stderr(err):
            return main(["persisted-queries", "import", str(path), *extra])

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)
        patch.setenv("STOREFRONT_ENV", "test")
        code = await asyncio.to_thread(run)
    return Imported(code, out.getvalue(), err.getvalue())


@pytest.fixture
async def trusted_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    async with seeded_database(backend, tmp_path, products=3, seed=5) as url:
        for manifest in (APOLLO_MANIFEST, RELAY_MANIFEST, ACCOUNTS_MANIFEST):
            done = await _import(url, manifest, tmp_path, "--client", "web")
            assert done.returncode == 0, done.stderr
        yield url


def _trusted_only(url: str, **overrides: Any) -> Settings:
    return settings_for(url, trusted_documents_only=True, **overrides)


async def test_trusted_only_runs_registered_documents_by_id_hash_or_text(trusted_url: str) -> None:
    async with running(_trusted_only(trusted_url)) as served:
        by_document_id = await _post(served, {"documentId": "relay-titles-1"})
        by_hash = await _post(served, {"extensions": apq(QUERY)})
        by_text = await _post(served, {"query": QUERY})
    for response in (by_document_id, by_hash, by_text):
        body = _body(response)
        assert response.status_code == 200 and "errors" not in body, body
    assert list(_body(by_document_id)["data"]["products"]["nodes"][0]) == ["title"]


async def test_trusted_only_refuses_any_other_document_before_any_sql(trusted_url: str) -> None:
    free_form = "{ products(first: 1) { nodes { id } } }"
    async with running(_trusted_only(trusted_url)) as served:
        served.sql.reset()
        refused = await _post(served, {"query": free_form}, accept=GRAPHQL_RESPONSE)
        registering = await _post(served, {"query": free_form, "extensions": apq(free_form)})
        assert served.sql.count == 0
        unknown_id = await _post(served, {"documentId": "nope"})
        afterwards = await _post(served, {"extensions": apq(free_form)})
    required = {
        "errors": [
            {
                "message": "This server takes trusted documents only: send the `documentId` of a registered operation",
                "extensions": {"code": "PERSISTED_QUERY_REQUIRED"},
            }
        ]
    }
    assert (refused.status_code, _body(refused)) == (400, required)
    assert _body(registering) == required  # and nothing was registered:
    assert _body(afterwards) == NOT_FOUND
    assert _body(unknown_id) == {
        "errors": [
            {"message": "No trusted document has the ID 'nope'", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
        ]
    }


async def test_staff_may_still_send_free_form_documents(trusted_url: str) -> None:
    async with running(_trusted_only(trusted_url)) as served:
        client = served.client()
        email = new_email("staff")
        await sign_up(client, email)  # the client's manifest holds sign-up and sign-in
        await _run(trusted_url, update(Customer.__table__).where(Customer.email == email).values(role="STAFF"))
        staff = bearer((await sign_in(client, email))["accessToken"])
        allowed = await client.post("{ products(first: 1) { nodes { id } } }", headers=staff)
        await client.aclose()
    assert allowed.status_code == 200 and "errors" not in _body(allowed)


async def test_a_running_instance_sees_documents_imported_later(
    trusted_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "RELOAD_EVERY_SECONDS", 0.0)
    later = "query Later { products(first: 1) { nodes { vendor } } }"
    async with running(_trusted_only(trusted_url)) as served:
        before = await _post(served, {"documentId": sha(later)})
        assert (await _import(trusted_url, {sha(later): later}, tmp_path)).returncode == 0  # Codegen's shape
        after = await _post(served, {"documentId": sha(later)})
    assert _body(before)["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "errors" not in _body(after)


# --- importing manifests -------------------------------------------------------------------------------------


async def _documents(url: str) -> list[tuple[str, str | None]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            query = select(PersistedDocument.document_id, PersistedDocument.client_name).order_by(PersistedDocument.id)
            return [tuple(row) for row in (await connection.execute(query)).all()]  # type: ignore[misc]
    finally:
        await engine.dispose()


async def test_the_import_command_reports_what_it_added_and_is_idempotent(trusted_url: str, tmp_path: Path) -> None:
    # the real command, in a process of its own
    path = tmp_path / "both.json"
    path.write_bytes(orjson.dumps({**RELAY_MANIFEST, "relay-vendors-1": "{ products(first: 1) { nodes { vendor } } }"}))
    command = [sys.executable, "-m", "app.cli", "persisted-queries", "import", str(path), "--client", "ios"]
    env = {**os.environ, "DATABASE_URL": trusted_url, "STOREFRONT_ENV": "test"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "storefront: imported 1 trusted documents (1 already there)"
    assert await _documents(trusted_url) == [*IMPORTED, ("relay-vendors-1", "ios")]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"relay-titles-1": QUERY}, "already imported with another text: relay-titles-1"),
        ({"broken": "{ products { nope } }"}, "these documents do not validate against the schema"),
        ({sha(OTHER): QUERY}, "a 64-hex-digit ID must be the text's SHA-256"),
        ({**APOLLO_MANIFEST, "operations": [{"id": sha(OTHER), "name": "X", "body": QUERY}]}, "is not the SHA-256"),
        ([QUERY], "a manifest is a JSON object"),
        ({}, "the manifest holds no operations"),
    ],
    ids=["changed-text", "invalid", "wrong-sha", "apollo-wrong-id", "not-an-object", "empty"],
)
async def test_a_bad_manifest_imports_nothing(trusted_url: str, tmp_path: Path, manifest: Any, message: str) -> None:
    extra = {"fresh-one": "query Fresh { products(first: 1) { nodes { id } } }"}
    whole = {**manifest, **extra} if isinstance(manifest, dict) and "format" not in manifest and manifest else manifest
    done = await _import(trusted_url, whole, tmp_path)
    assert done.returncode == 1
    assert message in done.stderr
    assert await _documents(trusted_url) == IMPORTED


def test_manifests_of_each_shape_are_read() -> None:
    apollo = read_manifest(orjson.dumps(APOLLO_MANIFEST))
    relay = read_manifest(orjson.dumps(RELAY_MANIFEST))
    codegen = read_manifest(orjson.dumps({sha(OTHER).upper(): OTHER}))
    assert [(entry.document_id, entry.name) for entry in apollo] == [(sha(QUERY), "Names")]
    assert [(entry.document_id, entry.body) for entry in relay] == [("relay-titles-1", OTHER)]
    assert [entry.document_id for entry in codegen] == [sha(OTHER)]
    with pytest.raises(ManifestError, match="only version 1"):
        read_manifest(orjson.dumps({**APOLLO_MANIFEST, "version": 2}))


async def test_import_documents_checks_duplicates_within_one_manifest(trusted_url: str) -> None:
    engine = create_async_engine(trusted_url)
    entries = [*read_manifest(orjson.dumps({"dup": QUERY})), *read_manifest(orjson.dumps({"dup": OTHER}))]
    try:
        with pytest.raises(ManifestError, match="appears twice with different texts"):
            await import_documents(engine, entries, lambda _text: [])
        async with engine.connect() as connection:
            count = (await connection.execute(select(func.count()).select_from(PersistedDocument))).scalar_one()
    finally:
        await engine.dispose()
    assert count == len(IMPORTED)


async def test_trusted_only_refuses_others_unparsed_so_the_answer_tells_nothing(trusted_url: str) -> None:
    # an unknown field, and the cost bomb: neither validated nor priced, the same answer as any other
    bomb = BOMB
    async with running(_trusted_only(trusted_url)) as served:
        answers = [await _post(served, {"query": query}) for query in ("{ secretField }", bomb, "{ {")]
    for answer in answers:
        assert [error["extensions"]["code"] for error in _body(answer)["errors"]] == ["PERSISTED_QUERY_REQUIRED"]


async def test_a_mutation_named_by_hash_is_not_run_over_get(shop_url: str) -> None:
    mutation = "mutation { cartCreate(input: {}) { cart { id } } }"
    async with running(settings_for(shop_url)) as served:
        registered = await _post(served, {"query": mutation, "extensions": apq(mutation)})
        assert "errors" not in _body(registered)
        client = served.client()
        params = {"extensions": json.dumps(apq(mutation))}
        try:
            plain = await client.http.get("/graphql", params=params)
            streamed = await client.http.get("/graphql", params=params, headers={"accept": "text/event-stream"})
        finally:
            await client.aclose()
    assert (plain.status_code, streamed.status_code) == (405, 405)


async def test_queries_are_registered_only_once_admitted(shop_url: str) -> None:
    # a bucket of 60 points: `{ products(first: 3) { totalCount nodes { id } } }` costs 14 and returns as
    # much on this catalog of 3, so it runs 4 times and the bucket cannot hold a fifth
    draining = "{ products(first: 3) { totalCount nodes { id } } }"
    text = f"query Refused{os.getpid()} {{ products(first: 3) {{ totalCount nodes {{ id }} }} }}"
    limited = settings_for(shop_url, rate_limit_points=60, rate_limit_restore_rate=1, max_query_cost=60)
    async with running(limited) as served:
        client = served.client()
        try:
            ran = [(await client.http.post("/graphql", json={"query": draining})).status_code for _ in range(4)]
            throttled = await client.http.post("/graphql", json={"query": text, "extensions": apq(text)})
        finally:
            await client.aclose()
        by_hash = await _post(served, {"extensions": apq(text)})
    assert (ran, throttled.status_code) == ([200] * 4, 429)
    assert _body(by_hash) == NOT_FOUND  # the throttled request's text was not kept


def test_the_query_store_keeps_a_bounded_amount_of_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "MEMORY_CHARS", 45_000)
    queries = store.QueryStore()
    texts = [f"# {index}" + "x" * 19_900 + "\n{ __typename }" for index in range(3)]
    for text in [*texts, "#" + "y" * 20_000]:  # the last is over MAX_QUERY_CHARS: not kept at all
        asyncio.run(queries.put(sha(text), text))
    kept = [asyncio.run(queries.get(sha(text))) is not None for text in texts]
    assert kept == [False, True, True]


async def test_trusted_documents_are_read_at_most_once_a_second(trusted_url: str) -> None:
    engine = create_async_engine(trusted_url)
    trusted = store.TrustedDocuments(engine)
    try:
        found = [await trusted.find(document_id) for document_id in ("relay-titles-1", "nope", "nope", "nope")]
    finally:
        await engine.dispose()
    assert found == [OTHER, None, None, None]
    assert trusted.loads == 1  # the misses within the second read nothing


async def test_an_unreadable_trusted_table_is_tried_once_and_answers_a_miss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = []

    class Unreachable:
        def connect(self) -> Any:
            attempts.append(1)
            raise OSError("no route to the database")

    trusted = store.TrustedDocuments(Unreachable())
    found = await asyncio.gather(*(trusted.find("relay-titles-1") for _ in range(20)))
    assert found == [None] * 20
    assert len(attempts) == 1
    assert "trusted documents could not be read (OSError); using those loaded" in caplog.text


async def test_the_import_refuses_documents_the_server_would_refuse(trusted_url: str, tmp_path: Path) -> None:
    bomb = BOMB
    deep = '{ node(id: "x") { ... on Category { ' + "parent { " * 20 + "id" + " }" * 20 + " } } }"
    done = await _import(trusted_url, {"bomb": bomb, "deep": deep}, tmp_path)
    assert done.returncode == 1
    # 1 + 100 x (1 + 1 + 100 x (1 + 1 + 100 x 1))
    assert "bomb: it costs 1020201 points; at most 10000 are allowed" in done.stderr
    assert "deep: The query is nested 22 levels deep; at most 15 are allowed" in done.stderr
    assert await _documents(trusted_url) == IMPORTED
