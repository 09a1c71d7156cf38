"""Accounts: sign-up, sign-in with bearer tokens and with the session cookie, refresh-token rotation and reuse
detection, sign-out, refused credentials, and customers' private fields, on both databases and executors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from app.accounts.models import Customer, CustomerSession, RefreshToken
from app.accounts.tokens import AccessTokens, digest
from app.db import migrate
from app.db.base import utcnow
from app.db.ids import encode_global_id
from app.settings import Secret
from tests.conftest import fresh_database, settings_for
from tests.support.accounts import (
    CREATE,
    LOGIN,
    LOGOUT,
    PASSWORD,
    REFRESH,
    VIEWER,
    Client,
    Running,
    bearer,
    new_email,
    running,
    sign_in,
    sign_up,
)

SECRET = "test-secret-key-that-is-long-enough-for-hs256"
NAME_RULE = "The display name must be 1 to 120 characters long, without control characters"


@pytest.fixture(scope="module")
async def accounts_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated database for the module's accounts (each test uses emails of its own)."""
    async with fresh_database(backend, tmp_path_factory.mktemp(f"accounts-{backend}")) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module")
async def app(accounts_url: str, executor: str) -> AsyncIterator[Running]:
    settings = settings_for(accounts_url, fast_executor=executor == "fast", secret_key=_secret(SECRET))
    async with running(settings) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


def _secret(value: str) -> Secret:
    return Secret(value)


async def _customer_row(url: str, email: str):  # type: ignore[no-untyped-def]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(Customer.__table__).where(Customer.email == email))).all()
    finally:
        await engine.dispose()
    return rows[0] if rows else None


async def _run(url: str, statement) -> None:  # type: ignore[no-untyped-def]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(statement)
    finally:
        await engine.dispose()


async def _rows(url: str, statement) -> list:  # type: ignore[no-untyped-def]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(statement)).all())
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- customerCreate


async def test_sign_up_creates_a_customer_with_a_normalised_email_and_an_argon2id_hash(client, accounts_url):
    # given
    email = new_email("Mixed.Case")
    # when
    body = await client.gql(
        CREATE, {"input": {"email": f"  {email.upper()} ", "password": PASSWORD, "displayName": " Ada L. "}}
    )
    # then
    payload = body["data"]["customerCreate"]
    row = await _customer_row(accounts_url, email.lower())
    assert payload == {
        "customer": {"id": encode_global_id("Customer", row.id), "email": email.lower(), "displayName": "Ada L."},
        "errors": [],
    }
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert row.role == "CUSTOMER"


async def test_an_email_is_taken_whatever_its_case(client, accounts_url):
    email = new_email()
    await sign_up(client, email)
    body = await client.gql(CREATE, {"input": {"email": email.upper(), "password": PASSWORD, "displayName": "Bo"}})
    assert body["data"]["customerCreate"] == {
        "customer": None,
        "errors": [
            {"field": ["input", "email"], "message": "An account with this email already exists", "code": "TAKEN"}
        ],
    }
    assert len(await _rows(accounts_url, select(Customer.id).where(Customer.email == email))) == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1!", "The password must be at least 10 characters long"),
        ("x" * 257, "The password must be at most 256 characters long"),
        ("my-{LOCAL}-here", "The password must not contain the email address"),
        ("Basketball", "The password is too common; choose one that is harder to guess"),
        ("1234567890", "The password is too common; choose one that is harder to guess"),
    ],
)
async def test_a_weak_password_is_refused_and_nothing_is_created(client, accounts_url, password, message):
    email = new_email("weakling")
    password = password.replace("{LOCAL}", email.partition("@")[0].upper())
    body = await client.gql(CREATE, {"input": {"email": email, "password": password, "displayName": "W"}})
    assert body["data"]["customerCreate"] == {
        "customer": None,
        "errors": [{"field": ["input", "password"], "message": message, "code": "PASSWORD_TOO_WEAK"}],
    }
    assert await _customer_row(accounts_url, email) is None


@pytest.mark.parametrize(
    ("email", "name", "field", "message"),
    [
        ("not-an-email", "Ann", "email", "Enter a valid email address"),
        ("two@@example.com", "Ann", "email", "Enter a valid email address"),
        ("nodot@example", "Ann", "email", "Enter a valid email address"),
        ("ok@example.com", "   ", "displayName", NAME_RULE),
        ("ok@example.com", "n" * 121, "displayName", NAME_RULE),
        ("ok@example.com", "Ada\u0000", "displayName", NAME_RULE),
        ("nul\u0000@example.com", "Ann", "email", "Enter a valid email address"),
    ],
)
async def test_invalid_input_names_its_field(client, email, name, field, message):
    body = await client.gql(CREATE, {"input": {"email": email, "password": PASSWORD, "displayName": name}})
    assert body["data"]["customerCreate"] == {
        "customer": None,
        "errors": [{"field": ["input", field], "message": message, "code": "INVALID"}],
    }


# --------------------------------------------------------------------------- customerLogin and tokens


async def test_sign_in_returns_a_short_lived_access_token_and_a_stored_hashed_refresh_token(client, accounts_url):
    # given
    email = new_email()
    customer = await sign_up(client, email)
    # when
    payload = await sign_in(client, email.upper())
    # then: the access token is HS256 with the brief's claims, 15 minutes long
    claims = jwt.decode(payload["accessToken"], SECRET, algorithms=["HS256"])
    assert set(claims) == {"sub", "iat", "exp", "jti", "sid", "role"}
    assert (claims["exp"] - claims["iat"], claims["role"]) == (900, "CUSTOMER")
    assert encode_global_id("Customer", int(claims["sub"])) == customer["id"] == payload["customer"]["id"]
    assert payload["expiresAt"].startswith(str(utcnow().year))
    # the refresh token is stored only as its digest, in a session of its own
    refresh = payload["refreshToken"]
    stored = await _rows(accounts_url, select(RefreshToken.__table__).where(RefreshToken.session_id == claims["sid"]))
    assert [row.digest for row in stored] == [digest(refresh)]
    assert refresh not in {row.digest for row in stored}
    # and the viewer is the customer, with private fields
    body = await client.gql(VIEWER, headers=bearer(payload["accessToken"]))
    viewer = body["data"]["viewer"]
    assert (viewer["id"], viewer["email"], viewer["displayName"]) == (customer["id"], email, "Ada L.")


async def test_a_wrong_password_and_an_unknown_email_fail_alike_after_one_verification(client, app):
    email = new_email()
    await sign_up(client, email)
    answers = []
    verified = []
    for attempt_email, password in ((email, "not the password at all"), (new_email("nobody"), PASSWORD)):
        before = app.accounts.passwords.verifications
        answers.append((await client.gql(LOGIN, {"email": attempt_email, "password": password}))["data"])
        verified.append(app.accounts.passwords.verifications - before)
    expected = {
        "customerLogin": {
            "accessToken": None,
            "refreshToken": None,
            "expiresAt": None,
            "customer": None,
            "errors": [
                {"field": None, "message": "The email or the password is not right", "code": "INVALID_CREDENTIALS"}
            ],
        }
    }
    assert answers == [expected, expected]
    assert verified == [1, 1]  # the unknown email was checked against the dummy hash


async def test_an_anonymous_viewer_is_null(client):
    assert await client.gql(VIEWER) == {"data": {"viewer": None}}


async def test_a_hash_with_old_parameters_is_replaced_at_sign_in(client, accounts_url):
    # given: a password hashed with other Argon2 parameters than the app's
    email = new_email()
    await sign_up(client, email)
    old_hash = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).hash(PASSWORD)
    await _run(accounts_url, update(Customer.__table__).where(Customer.email == email).values(password_hash=old_hash))
    # when
    await sign_in(client, email)
    # then: rehashed with the current parameters, and the new hash still signs in
    new_hash = (await _customer_row(accounts_url, email)).password_hash
    assert new_hash != old_hash and new_hash.startswith("$argon2id$")
    assert "t=2" not in new_hash
    await sign_in(client, email)


# --------------------------------------------------------------------------- refused credentials


def _forged(header: dict, claims: dict, signature: bytes = b"forged") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join((part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)))


async def _bad_tokens(client: Client, email: str) -> dict[str, str]:
    payload = await sign_in(client, email)
    good = payload["accessToken"]
    claims = jwt.decode(good, SECRET, algorithms=["HS256"])
    expired, _ = AccessTokens(SECRET).issue(
        int(claims["sub"]), "CUSTOMER", claims["sid"], utcnow() - timedelta(minutes=20)
    )
    staff_claims = {**claims, "role": "STAFF"}
    head, body, signature = good.split(".")
    return {
        "expired": expired,
        "tampered payload": f"{head}.{_forged({}, staff_claims).split('.')[1]}.{signature}",
        "tampered signature": f"{head}.{body}.{signature[:-4]}AAAA",
        "alg none": _forged({"alg": "none", "typ": "JWT"}, staff_claims, b""),
        "RS256 header": _forged({"alg": "RS256", "typ": "JWT"}, staff_claims),
        "another key": jwt.encode(staff_claims, "another-secret-key-of-enough-length-here", algorithm="HS256"),
        "not a JWT": "abc.def",
    }


async def test_bad_bearer_tokens_are_refused_with_401_and_a_challenge_never_as_anonymous(client):
    # given
    email = new_email()
    await sign_up(client, email)
    tokens = await _bad_tokens(client, email)
    # when / then
    for name, token in tokens.items():
        response = await client.post(VIEWER, headers=bearer(token))
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"'), name
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}, name
        assert "data" not in response.json(), name
    expired = await client.post(VIEWER, headers=bearer(tokens["expired"]))
    assert expired.json()["errors"][0]["message"] == "The access token has expired"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc"])
async def test_an_authorization_header_that_is_not_a_bearer_token_is_refused(client, header):
    response = await client.post(VIEWER, headers={"authorization": header})
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Send the access token as `Authorization: Bearer <token>`"


async def test_a_token_signed_with_the_previous_key_is_still_accepted_after_rotation(accounts_url, executor):
    # given: a token signed before the key was rotated
    old, new = "the-old-secret-key-that-was-rotated-away", "the-new-secret-key-in-use-since-rotation"
    settings = settings_for(accounts_url, secret_key=_secret(old), fast_executor=executor == "fast")
    async with running(settings) as before:
        client = before.client()
        email = new_email()
        await sign_up(client, email)
        token = (await sign_in(client, email))["accessToken"]
        await client.aclose()
    # when: the app runs with the new key and the old one as previous, then with the new key alone
    rotated = settings_for(
        accounts_url, secret_key=_secret(new), secret_key_previous=_secret(old), fast_executor=executor == "fast"
    )
    async with running(rotated) as after:
        client = after.client()
        accepted = await client.gql(VIEWER, headers=bearer(token))
        fresh = (await sign_in(client, email))["accessToken"]
        await client.aclose()
    async with running(settings_for(accounts_url, secret_key=_secret(new))) as later:
        client = later.client()
        refused = await client.post(VIEWER, headers=bearer(token))
        await client.aclose()
    # then: accepted while previous, refused after; new tokens are signed with the new key only
    assert accepted["data"]["viewer"]["email"] == email
    assert refused.status_code == 401
    assert jwt.decode(fresh, new, algorithms=["HS256"])["role"] == "CUSTOMER"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(fresh, old, algorithms=["HS256"])


# --------------------------------------------------------------------------- tokenRefresh and customerLogout


async def test_a_refresh_token_rotates_and_its_reuse_revokes_the_whole_sign_in(client, accounts_url):
    # given
    email = new_email()
    await sign_up(client, email)
    first = await sign_in(client, email)
    # when: rotated once, then the first token is presented again
    second = (await client.gql(REFRESH, {"token": first["refreshToken"]}))["data"]["tokenRefresh"]
    reused = (await client.gql(REFRESH, {"token": first["refreshToken"]}))["data"]["tokenRefresh"]
    # then: the rotation gave a new pair of the same session
    assert second["errors"] == [] and second["customer"] == first["customer"]
    assert second["refreshToken"] != first["refreshToken"] and second["accessToken"] != first["accessToken"]
    sid = jwt.decode(first["accessToken"], SECRET, algorithms=["HS256"])["sid"]
    assert jwt.decode(second["accessToken"], SECRET, algorithms=["HS256"])["sid"] == sid
    # the reuse was refused and revoked the family: every token of it is refused from now on
    assert reused["errors"] == [
        {
            "field": None,
            "message": "This refresh token was already used; every token of its sign-in is revoked",
            "code": "TOKEN_REUSED",
        }
    ]
    after = (await client.gql(REFRESH, {"token": second["refreshToken"]}))["data"]["tokenRefresh"]
    assert after["errors"][0]["code"] == "INVALID_TOKEN"
    for token in (first["accessToken"], second["accessToken"]):
        response = await client.post(VIEWER, headers=bearer(token))
        assert (response.status_code, response.json()["errors"][0]["message"]) == (401, "The session was signed out")
    [session] = await _rows(accounts_url, select(CustomerSession.__table__).where(CustomerSession.id == sid))
    assert session.revoked_at is not None


async def test_an_unknown_refresh_token_is_invalid(client):
    payload = (await client.gql(REFRESH, {"token": "never-issued"}))["data"]["tokenRefresh"]
    assert payload == {
        "accessToken": None,
        "refreshToken": None,
        "expiresAt": None,
        "customer": None,
        "errors": [
            {
                "field": None,
                "message": "The refresh token is unknown, expired or signed out; sign in again",
                "code": "INVALID_TOKEN",
            }
        ],
    }


async def test_an_expired_refresh_token_is_invalid(client, accounts_url):
    email = new_email()
    await sign_up(client, email)
    payload = await sign_in(client, email)
    expired = update(RefreshToken.__table__).where(RefreshToken.digest == digest(payload["refreshToken"]))
    await _run(accounts_url, expired.values(expires_at=utcnow() - timedelta(seconds=1)))
    answer = (await client.gql(REFRESH, {"token": payload["refreshToken"]}))["data"]["tokenRefresh"]
    assert answer["errors"][0]["code"] == "INVALID_TOKEN"


async def test_sign_out_revokes_the_session_of_the_bearer_token(client):
    # given
    email = new_email()
    await sign_up(client, email)
    payload = await sign_in(client, email)
    other = await sign_in(client, email)  # another device's session stays signed in
    # when
    body = await client.gql(LOGOUT, headers=bearer(payload["accessToken"]))
    # then
    assert body == {"data": {"customerLogout": {"errors": []}}}
    assert (await client.post(VIEWER, headers=bearer(payload["accessToken"]))).status_code == 401
    refreshed = (await client.gql(REFRESH, {"token": payload["refreshToken"]}))["data"]["tokenRefresh"]
    assert refreshed["errors"][0]["code"] == "INVALID_TOKEN"
    still = await client.gql(VIEWER, headers=bearer(other["accessToken"]))
    assert still["data"]["viewer"]["email"] == email


async def test_sign_out_without_a_session_says_so(client):
    body = await client.gql(LOGOUT)
    assert body["data"]["customerLogout"]["errors"] == [
        {"field": None, "message": "Nobody is signed in on this request", "code": "UNAUTHENTICATED"}
    ]


async def test_an_expired_access_token_may_still_refresh_and_sign_out_but_nothing_else(client):
    email = new_email()
    await sign_up(client, email)
    payload = await sign_in(client, email)
    claims = jwt.decode(payload["accessToken"], SECRET, algorithms=["HS256"])
    stale, _ = AccessTokens(SECRET).issue(
        int(claims["sub"]), "CUSTOMER", claims["sid"], utcnow() - timedelta(minutes=20)
    )
    # a mobile client's interceptor sends the stale header with the refresh: the refresh still works
    refreshed = await client.gql(REFRESH, {"token": payload["refreshToken"]}, headers=bearer(stale))
    assert refreshed["data"]["tokenRefresh"]["errors"] == []
    # signing out with it runs, as nobody: the token no longer names a session it may end
    signed_out = await client.gql(LOGOUT, headers=bearer(stale))
    assert signed_out["data"]["customerLogout"]["errors"][0]["code"] == "UNAUTHENTICATED"
    # anything else with it is refused
    assert (await client.post(VIEWER, headers=bearer(stale))).status_code == 401


async def test_concurrent_refreshes_with_one_token_let_exactly_one_through(app, backend):
    # given
    if backend != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL; SQLite serialises writers")
    client = app.client()
    email = new_email()
    await sign_up(client, email)
    payload = await sign_in(client, email)
    # when: the same refresh token, sent twice at once
    answers = await asyncio.gather(*(client.gql(REFRESH, {"token": payload["refreshToken"]}) for _ in range(2)))
    await client.aclose()
    # then: one rotation; the other is a reuse, which revokes the sign-in
    errors = [answer["data"]["tokenRefresh"]["errors"] for answer in answers]
    assert sorted(error[0]["code"] if error else "OK" for error in errors) == ["OK", "TOKEN_REUSED"]


async def test_a_sign_out_on_one_instance_is_honoured_by_another_within_seconds(accounts_url, executor):
    # given: two app instances on one database, and a token issued by the first
    fast = executor == "fast"
    settings = settings_for(accounts_url, secret_key=_secret(SECRET), fast_executor=fast)
    async with running(settings) as first, running(settings) as second:
        one, two = first.client(), second.client()
        email = new_email()
        await sign_up(one, email)
        token = (await sign_in(one, email))["accessToken"]
        assert (await two.gql(VIEWER, headers=bearer(token)))["data"]["viewer"]["email"] == email
        # when
        await one.gql(LOGOUT, headers=bearer(token))
        # then: the second instance refuses it once it has polled (every second)
        statuses = []
        for _ in range(30):
            statuses.append((await two.post(VIEWER, headers=bearer(token))).status_code)
            if statuses[-1] == 401:
                break
            await asyncio.sleep(0.1)
        await one.aclose()
        await two.aclose()
    assert statuses[-1] == 401
    assert len(statuses) <= 25


# --------------------------------------------------------------------------- the session cookie and CSRF


def _attributes(set_cookie: str) -> dict[str, str]:
    parts = [part.strip() for part in set_cookie.split(";")]
    name, _, value = parts[0].partition("=")
    attributes = {"name": name, "value": value}
    for part in parts[1:]:
        key, _, setting = part.partition("=")
        attributes[key.lower()] = setting or "yes"
    return attributes


async def test_cookie_sign_in_sets_an_httponly_session_cookie_and_a_script_readable_csrf_cookie(client):
    # given
    email = new_email()
    customer = await sign_up(client, email)
    # when
    payload = await sign_in(client, email, cookie=True)
    # then: no token in the body; both cookies set as the brief says
    assert (payload["accessToken"], payload["refreshToken"], payload["customer"]) == (
        None,
        None,
        {"id": customer["id"]},
    )
    assert payload["expiresAt"] is not None
    cookies = {attributes["name"]: attributes for attributes in map(_attributes, client.set_cookies)}
    session, csrf = cookies["sf_session"], cookies["sf_csrf"]
    assert {key: session.get(key) for key in ("httponly", "samesite", "secure", "path", "max-age")} == {
        "httponly": "yes",
        "samesite": "lax",
        "secure": "yes",  # outside development
        "path": "/",
        "max-age": "2592000",
    }
    assert "httponly" not in csrf and csrf["secure"] == "yes" and len(csrf["value"]) >= 40
    # and a query by cookie alone (no CSRF header needed to read) sees the viewer
    assert (await client.gql(VIEWER))["data"]["viewer"]["email"] == email


async def test_a_cookie_mutation_without_the_csrf_header_is_refused_and_changes_nothing(client):
    # given
    email = new_email()
    await sign_up(client, email)
    await sign_in(client, email, cookie=True)
    # when: sign-out by cookie without the header, and with a wrong one
    missing = await client.post(LOGOUT)
    wrong = await client.post(LOGOUT, headers={"x-csrf-token": "guessed"})
    # then
    for response in (missing, wrong):
        assert response.status_code == 403
        assert response.json() == {
            "errors": [
                {
                    "message": "A mutation authenticated by the session cookie needs the `X-CSRF-Token` header, "
                    "equal to the `sf_csrf` cookie",
                    "extensions": {"code": "CSRF_REJECTED"},
                }
            ]
        }
    assert (await client.gql(VIEWER))["data"]["viewer"]["email"] == email  # still signed in


async def test_cookie_sign_out_with_the_csrf_header_revokes_the_session_and_clears_the_cookies(client):
    # given
    email = new_email()
    await sign_up(client, email)
    await sign_in(client, email, cookie=True)
    old_cookie = client.cookies["sf_session"]
    # when
    body = await client.gql(LOGOUT, headers=client.csrf())
    # then
    assert body == {"data": {"customerLogout": {"errors": []}}}
    cleared = {attributes["name"]: attributes for attributes in map(_attributes, client.set_cookies)}
    assert cleared["sf_session"]["max-age"] == "0" and cleared["sf_csrf"]["max-age"] == "0"
    assert client.cookies == {}
    assert await client.gql(VIEWER) == {"data": {"viewer": None}}
    client.cookies["sf_session"] = old_cookie  # a copy kept by an attacker
    refused = await client.post(VIEWER)
    assert refused.status_code == 401
    assert "www-authenticate" not in refused.headers  # a cookie, not a bearer token


async def test_cookie_refresh_rotates_the_cookie_and_a_replayed_cookie_revokes_the_session(client):
    # given
    email = new_email()
    await sign_up(client, email)
    await sign_in(client, email, cookie=True)
    first = client.cookies["sf_session"]
    # when
    rotated = (await client.gql(REFRESH, headers=client.csrf()))["data"]["tokenRefresh"]
    second = client.cookies["sf_session"]
    # then
    assert rotated["errors"] == [] and (rotated["accessToken"], rotated["refreshToken"]) == (None, None)
    assert second != first
    assert (await client.gql(VIEWER))["data"]["viewer"]["email"] == email
    # when: the first cookie is replayed
    client.cookies["sf_session"] = first
    replayed = (await client.gql(REFRESH, headers=client.csrf()))["data"]["tokenRefresh"]
    # then: reuse detected, cookies cleared, and the rotated cookie is dead too
    assert replayed["errors"][0]["code"] == "TOKEN_REUSED"
    assert "sf_session" not in client.cookies
    client.cookies["sf_session"] = second
    assert (await client.post(VIEWER)).status_code == 401


async def test_an_expired_session_cookie_refuses_queries_but_may_be_refreshed(client, app):
    # given: a cookie whose access token expired
    email = new_email()
    await sign_up(client, email)
    await sign_in(client, email, cookie=True)
    access, _, refresh = client.cookies["sf_session"].partition("~")
    claims = jwt.decode(access, SECRET, algorithms=["HS256"])
    stale, _ = AccessTokens(SECRET).issue(int(claims["sub"]), "CUSTOMER", claims["sid"], utcnow() - timedelta(hours=1))
    client.cookies["sf_session"] = f"{stale}~{refresh}"
    # when / then
    assert (await client.post(VIEWER)).status_code == 401
    assert (await client.post(REFRESH)).status_code == 403  # still a cookie mutation: CSRF applies
    renewed = (await client.gql(REFRESH, headers=client.csrf()))["data"]["tokenRefresh"]
    assert renewed["errors"] == []
    assert (await client.gql(VIEWER))["data"]["viewer"]["email"] == email


async def test_a_malformed_session_cookie_is_refused(client):
    client.cookies["sf_session"] = "garbage"
    response = await client.post(VIEWER)
    assert (response.status_code, response.json()["errors"][0]["message"]) == (
        401,
        "The session cookie is malformed; sign in again",
    )


async def test_development_cookies_are_not_secure_so_http_localhost_works(accounts_url):
    settings = replace(settings_for(accounts_url), environment="development")
    async with running(settings) as dev:
        client = dev.client()
        email = new_email()
        await sign_up(client, email)
        await sign_in(client, email, cookie=True)
        await client.aclose()
    assert all("secure" not in _attributes(header) for header in client.set_cookies)


# --------------------------------------------------------------------------- private fields


CUSTOMER_FIELDS = "... on Customer { id displayName email createdAt }"


async def _signed_in_customer(client: Client) -> tuple[str, str, str]:
    email = new_email()
    customer = await sign_up(client, email)
    return customer["id"], email, (await sign_in(client, email))["accessToken"]


async def test_a_customer_reads_another_customer_s_public_face_only(client):
    # given
    ann_id, ann_email, ann_token = await _signed_in_customer(client)
    bob_id, _, _ = await _signed_in_customer(client)
    # when
    body = await client.gql(
        f"query($ids: [ID!]!, $bob: ID!) {{ node(id: $bob) {{ {CUSTOMER_FIELDS} }} "
        f"nodes(ids: $ids) {{ {CUSTOMER_FIELDS} }} }}",
        {"ids": [ann_id, bob_id], "bob": bob_id},
        headers=bearer(ann_token),
    )
    # then: Bob's private fields are null with FORBIDDEN errors at their paths; Ann's own are shown
    bob_public = {"id": bob_id, "displayName": "Ada L.", "email": None, "createdAt": None}
    assert body["data"]["node"] == bob_public
    assert body["data"]["nodes"][0]["email"] == ann_email and body["data"]["nodes"][0]["createdAt"] is not None
    assert body["data"]["nodes"][1] == bob_public
    assert sorted((tuple(error["path"]), error["extensions"]["code"]) for error in body["errors"]) == [
        (("node", "createdAt"), "FORBIDDEN"),
        (("node", "email"), "FORBIDDEN"),
        (("nodes", 1, "createdAt"), "FORBIDDEN"),
        (("nodes", 1, "email"), "FORBIDDEN"),
    ]
    assert all(error["message"] == "Only the customer and staff may read this field" for error in body["errors"])


async def test_anonymous_readers_get_no_private_field(client):
    bob_id, bob_email, _ = await _signed_in_customer(client)
    body = await client.gql(f"query($id: ID!) {{ node(id: $id) {{ {CUSTOMER_FIELDS} }} }}", {"id": bob_id})
    assert body["data"]["node"] == {"id": bob_id, "displayName": "Ada L.", "email": None, "createdAt": None}
    assert bob_email not in json.dumps(body)
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN", "FORBIDDEN"]


async def test_staff_read_every_customer_s_private_fields(client, accounts_url):
    # given: a member of staff (their token carries the role) and a customer
    _, staff_email, _ = await _signed_in_customer(client)
    await _run(accounts_url, update(Customer.__table__).where(Customer.email == staff_email).values(role="STAFF"))
    staff_token = (await sign_in(client, staff_email))["accessToken"]
    bob_id, bob_email, _ = await _signed_in_customer(client)
    # when
    body = await client.gql(
        f"query($id: ID!) {{ node(id: $id) {{ {CUSTOMER_FIELDS} }} }}", {"id": bob_id}, headers=bearer(staff_token)
    )
    # then
    assert "errors" not in body
    assert body["data"]["node"]["email"] == bob_email
    assert jwt.decode(staff_token, SECRET, algorithms=["HS256"])["role"] == "STAFF"


async def test_customer_nodes_take_one_statement_for_one_and_for_many(client, app):
    ids = [(await _signed_in_customer(client))[0] for _ in range(5)]
    counts = []
    for wanted in (ids[:1], ids):
        app.sql.reset()
        body = await client.gql(
            "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Customer { displayName } } }", {"ids": wanted}
        )
        counts.append(app.sql.count)
        assert [node["displayName"] for node in body["data"]["nodes"]] == ["Ada L."] * len(wanted)
    assert counts == [1, 1]


async def test_an_email_with_a_nul_byte_signs_nobody_in_and_breaks_nothing(client, app):
    before = app.accounts.passwords.verifications
    body = await client.gql(LOGIN, {"email": "a\u0000b@example.com", "password": PASSWORD})
    assert body["data"]["customerLogin"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert app.accounts.passwords.verifications == before + 1


async def test_a_cookie_mutation_needs_the_csrf_header_even_with_an_authorization_header(client):
    # given: a browser session, and a request that adds some bearer header to the cookie
    email = new_email()
    await sign_up(client, email)
    other = await sign_in(client, email)
    await sign_in(client, email, cookie=True)
    # when
    refresh = await client.post(REFRESH, headers=bearer(other["accessToken"]))
    logout = await client.post(LOGOUT, headers=bearer(other["accessToken"]))
    # then: refused, and the cookie session still works
    assert (refresh.status_code, logout.status_code) == (403, 403)
    assert (await client.gql(VIEWER))["data"]["viewer"]["email"] == email


async def test_every_cookie_sign_in_issues_a_new_csrf_value(client):
    email = new_email()
    await sign_up(client, email)
    client.cookies["sf_csrf"] = "planted-by-an-attacker"
    await sign_in(client, email, cookie=True)
    assert client.cookies["sf_csrf"] != "planted-by-an-attacker"


async def test_a_cookie_signed_with_a_key_rotated_away_can_still_sign_in_again(accounts_url, executor):
    # given: a cookie session signed with a key the app no longer knows
    fast = executor == "fast"
    async with running(
        settings_for(accounts_url, secret_key=_secret("a-key-since-rotated-away-for-good"), fast_executor=fast)
    ) as old:
        client = old.client()
        email = new_email()
        await sign_up(client, email)
        await sign_in(client, email, cookie=True)
        cookies = dict(client.cookies)
        await client.aclose()
    async with running(settings_for(accounts_url, secret_key=_secret(SECRET), fast_executor=fast)) as new:
        client = new.client()
        client.cookies = dict(cookies)
        # when / then: queries are refused, but the session may be renewed by its refresh token
        assert (await client.post(VIEWER)).status_code == 401
        renewed = await client.gql(REFRESH, headers=client.csrf())
        assert renewed["data"]["tokenRefresh"]["errors"] == []
        assert (await client.gql(VIEWER))["data"]["viewer"]["email"] == email
        # and a garbled cookie does not keep anyone from signing in
        client.cookies["sf_session"] = "garbage"
        await sign_in(client, email, cookie=True, headers=client.csrf())
        assert (await client.gql(VIEWER))["data"]["viewer"]["email"] == email
        await client.aclose()


async def test_a_client_whose_access_token_expired_signs_out_with_its_refresh_token(client):
    email = new_email()
    await sign_up(client, email)
    payload = await sign_in(client, email)
    body = await client.gql(
        "mutation($t: String) { customerLogout(refreshToken: $t) { errors { code } } }", {"t": payload["refreshToken"]}
    )
    assert body == {"data": {"customerLogout": {"errors": []}}}
    refreshed = await client.gql(REFRESH, {"token": payload["refreshToken"]})
    assert refreshed["data"]["tokenRefresh"]["errors"][0]["code"] == "INVALID_TOKEN"
    assert (await client.post(VIEWER, headers=bearer(payload["accessToken"]))).status_code == 401
