"""Account changes: customerUpdate, password recovery by mail (a real SMTP server), resets, throttled
sign-in and recovery (in process, shared through Redis, and with Redis down), and logs free of secrets."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta

import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from app.accounts.models import Customer, CustomerSession, PasswordReset
from app.accounts.tokens import digest
from app.db import migrate
from app.db.base import utcnow
from app.settings import Secret, Settings
from tests.conftest import fresh_database, settings_for
from tests.support.accounts import (
    CREATE,
    LOGIN,
    PASSWORD,
    REFRESH,
    VIEWER,
    CapturedMail,
    Client,
    Running,
    bearer,
    new_email,
    reset_token,
    running,
    sign_in,
    sign_up,
)
from tests.test_accounts import _rows, _run

SECRET = "another-test-secret-key-long-enough-for-hs256"
REDIS_URL = "redis://127.0.0.1:6379/0"
NEW_PASSWORD = "a brand new passphrase"

UPDATE = """mutation($input: CustomerUpdateInput!) {
  customerUpdate(input: $input) { customer { id email displayName } errors { field message code } }
}"""
RECOVER = "mutation($email: String!) { customerRecover(email: $email) { errors { field message code retryAfter } } }"
RESET = """mutation($token: String!, $password: String!) {
  customerResetPassword(token: $token, password: $password) { customer { id email } errors { field message code } }
}"""


@pytest.fixture(scope="module")
def mail() -> Iterator[CapturedMail]:
    captured = CapturedMail()
    captured.controller.start()
    yield captured
    captured.controller.stop()


@pytest.fixture(scope="module")
async def changes_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(backend, tmp_path_factory.mktemp(f"changes-{backend}")) as url:
        migrate.upgrade(url)
        yield url


def _settings(url: str, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    return settings_for(url, secret_key=Secret(SECRET), **overrides)


@pytest.fixture(scope="module")
async def app(changes_url: str, mail: CapturedMail) -> AsyncIterator[Running]:
    async with running(_settings(changes_url, smtp_url=Secret(mail.url))) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


async def _account(client: Client) -> tuple[str, dict]:
    email = new_email()
    await sign_up(client, email)
    return email, await sign_in(client, email)


# --------------------------------------------------------------------------- customerUpdate


async def test_a_customer_changes_the_display_name_without_a_password(client):
    email, session = await _account(client)
    body = await client.gql(UPDATE, {"input": {"displayName": "  Grace H. "}}, headers=bearer(session["accessToken"]))
    payload = body["data"]["customerUpdate"]
    assert payload["errors"] == []
    assert (payload["customer"]["email"], payload["customer"]["displayName"]) == (email, "Grace H.")


async def test_a_new_email_needs_the_current_password(client, changes_url):
    email, session = await _account(client)
    headers = bearer(session["accessToken"])
    new = new_email("moved")
    missing = await client.gql(UPDATE, {"input": {"email": new}}, headers=headers)
    wrong = await client.gql(UPDATE, {"input": {"email": new, "currentPassword": "not it at all"}}, headers=headers)
    assert missing["data"]["customerUpdate"]["errors"] == [
        {
            "field": ["input", "currentPassword"],
            "message": "A new email or password needs the current password",
            "code": "INVALID",
        }
    ]
    assert wrong["data"]["customerUpdate"]["errors"] == [
        {
            "field": ["input", "currentPassword"],
            "message": "The current password is not right",
            "code": "INVALID_CREDENTIALS",
        }
    ]
    done = await client.gql(UPDATE, {"input": {"email": new.upper(), "currentPassword": PASSWORD}}, headers=headers)
    assert done["data"]["customerUpdate"]["customer"]["email"] == new
    assert await _rows(changes_url, select(Customer.id).where(Customer.email == email)) == []


async def test_a_new_email_already_taken_is_refused(client):
    taken, _ = await _account(client)
    _, session = await _account(client)
    body = await client.gql(
        UPDATE, {"input": {"email": taken, "currentPassword": PASSWORD}}, headers=bearer(session["accessToken"])
    )
    assert body["data"]["customerUpdate"]["errors"][0]["code"] == "TAKEN"


async def test_a_new_password_signs_out_every_other_session_but_this_one(client):
    # given: two sessions of one customer
    email, here = await _account(client)
    elsewhere = await sign_in(client, email)
    # when
    body = await client.gql(
        UPDATE,
        {"input": {"password": NEW_PASSWORD, "currentPassword": PASSWORD}},
        headers=bearer(here["accessToken"]),
    )
    # then
    assert body["data"]["customerUpdate"]["errors"] == []
    assert (await client.gql(VIEWER, headers=bearer(here["accessToken"])))["data"]["viewer"]["email"] == email
    assert (await client.post(VIEWER, headers=bearer(elsewhere["accessToken"]))).status_code == 401
    refused = await client.gql(REFRESH, {"token": elsewhere["refreshToken"]})
    assert refused["data"]["tokenRefresh"]["errors"][0]["code"] == "INVALID_TOKEN"
    old = await client.gql(LOGIN, {"email": email, "password": PASSWORD})
    assert old["data"]["customerLogin"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    await sign_in(client, email, NEW_PASSWORD)


async def test_a_weak_new_password_changes_nothing(client):
    email, session = await _account(client)
    body = await client.gql(
        UPDATE, {"input": {"password": "short", "currentPassword": PASSWORD}}, headers=bearer(session["accessToken"])
    )
    assert body["data"]["customerUpdate"]["errors"][0]["code"] == "PASSWORD_TOO_WEAK"
    await sign_in(client, email)


async def test_an_anonymous_update_is_unauthenticated(client):
    body = await client.gql(UPDATE, {"input": {"displayName": "X"}})
    assert body["data"]["customerUpdate"] == {
        "customer": None,
        "errors": [{"field": None, "message": "Sign in first", "code": "UNAUTHENTICATED"}],
    }


# --------------------------------------------------------------------------- recovery and reset


async def test_recovery_mails_a_single_use_link_that_resets_the_password_and_signs_out_everywhere(
    client, mail, changes_url
):
    # given
    email, session = await _account(client)
    before = len(mail.messages)
    # when
    body = await client.gql(RECOVER, {"email": email.upper()})
    # then: the answer says nothing; a mail with a link arrives, its token stored only as a digest
    assert body == {"data": {"customerRecover": {"errors": []}}}
    message = (await mail.wait_for(before + 1))[before]
    assert (message["To"], message["Subject"]) == (email, "Reset your password")
    token = reset_token(message)
    assert "http://localhost:5173/account/reset-password?token=" in message.get_content()
    [stored] = await _rows(changes_url, select(PasswordReset.__table__).where(PasswordReset.digest == digest(token)))
    assert stored.used_at is None
    # when: the link is used
    reset = await client.gql(RESET, {"token": token, "password": NEW_PASSWORD})
    # then: the password changed, every session is signed out, the token is used up
    assert reset["data"]["customerResetPassword"]["errors"] == []
    assert reset["data"]["customerResetPassword"]["customer"]["email"] == email
    assert (await client.post(VIEWER, headers=bearer(session["accessToken"]))).status_code == 401
    await sign_in(client, email, NEW_PASSWORD)
    again = await client.gql(RESET, {"token": token, "password": "yet another passphrase"})
    assert again["data"]["customerResetPassword"]["errors"] == [
        {
            "field": ["token"],
            "message": "The reset link is unknown, used or expired; ask for a new one",
            "code": "INVALID_TOKEN",
        }
    ]


async def test_recovery_of_an_unknown_email_answers_the_same_and_sends_nothing(client, mail):
    before = len(mail.messages)
    body = await client.gql(RECOVER, {"email": new_email("nobody")})
    assert body == {"data": {"customerRecover": {"errors": []}}}
    await asyncio.sleep(0.3)
    assert len(mail.messages) == before


async def test_an_expired_reset_link_is_refused_and_a_weak_password_keeps_the_link(client, mail, changes_url):
    email, _ = await _account(client)
    before = len(mail.messages)
    await client.gql(RECOVER, {"email": email})
    token = reset_token((await mail.wait_for(before + 1))[before])
    weak = await client.gql(RESET, {"token": token, "password": "short"})
    assert weak["data"]["customerResetPassword"]["errors"][0]["code"] == "PASSWORD_TOO_WEAK"
    expire = update(PasswordReset.__table__).where(PasswordReset.digest == digest(token))
    await _run(changes_url, expire.values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await client.gql(RESET, {"token": token, "password": NEW_PASSWORD})
    assert expired["data"]["customerResetPassword"]["errors"][0]["code"] == "INVALID_TOKEN"


async def test_without_a_mail_server_recovery_is_unavailable(changes_url):
    async with running(_settings(changes_url)) as no_mail:
        client = no_mail.client()
        body = await client.gql(RECOVER, {"email": new_email()})
        await client.aclose()
    assert body["data"]["customerRecover"]["errors"] == [
        {
            "field": None,
            "message": "Password recovery is not available: the service cannot send mail",
            "code": "UNAVAILABLE",
            "retryAfter": None,
        }
    ]


async def test_production_without_a_mail_server_warns_at_start(changes_url, caplog):
    settings = replace(_settings(changes_url), environment="production", secret_key=Secret("p" * 40))
    with caplog.at_level(logging.WARNING, logger="storefront"):
        async with running(settings):
            pass
    assert "SMTP_URL is not set: password-recovery mail cannot be sent" in caplog.text


async def test_development_without_a_mail_server_logs_the_link(changes_url, caplog):
    settings = replace(_settings(changes_url), environment="development")
    async with running(settings) as dev:
        client = dev.client()
        email, _ = await _account(client)
        with caplog.at_level(logging.WARNING, logger="storefront.mail"):
            await client.gql(RECOVER, {"email": email})
            await dev.accounts.mailer.drain()
        await client.aclose()
    assert "account/reset-password?token=" in caplog.text and email in caplog.text


async def test_a_mail_server_that_is_down_fails_quietly_after_the_answer(changes_url, caplog):
    down = "smtp://127.0.0.1:9"  # nothing listens on the discard port
    async with running(_settings(changes_url, smtp_url=Secret(down))) as started:
        client = started.client()
        email, _ = await _account(client)
        with caplog.at_level(logging.ERROR, logger="storefront.mail"):
            body = await client.gql(RECOVER, {"email": email})
            await started.accounts.mailer.drain()
        await client.aclose()
    assert body == {"data": {"customerRecover": {"errors": []}}}
    assert "could not send the 'Reset your password' mail" in caplog.text


# --------------------------------------------------------------------------- throttling


async def _fail_sign_in(client: Client, email: str, times: int) -> list[dict]:
    answers = []
    for _ in range(times):
        body = await client.gql(
            'mutation($e: String!) { customerLogin(email: $e, password: "wrong password here") '
            "{ errors { code retryAfter } } }",
            {"e": email},
        )
        answers.append(body["data"]["customerLogin"]["errors"][0])
    return answers


async def test_sign_in_is_throttled_per_email_with_a_growing_wait(client, app):
    # given: an account and five wrong passwords
    email, _ = await _account(client)
    answers = await _fail_sign_in(client, email, 5)
    assert [answer["code"] for answer in answers] == ["INVALID_CREDENTIALS"] * 5
    # when: the sixth attempt, even with the right password
    verified = app.accounts.passwords.verifications
    body = await client.gql(LOGIN, {"email": email, "password": PASSWORD})
    # then: throttled before any verification, with the wait in the error
    [error] = body["data"]["customerLogin"]["errors"]
    assert error["code"] == "THROTTLED" and error["message"].startswith("Too many sign-in attempts")
    assert app.accounts.passwords.verifications == verified
    assert error == {
        "field": None,
        "message": "Too many sign-in attempts; try again in 1 seconds",
        "code": "THROTTLED",
    }
    retry = await client.gql(LOGIN.replace("code }", "code retryAfter }"), {"email": email, "password": PASSWORD})
    assert retry["data"]["customerLogin"]["errors"][0]["retryAfter"] == 2  # every attempt doubles the wait
    # and another email from the same address is not held back
    other, _ = await _account(client)
    await sign_in(client, other)


async def test_recovery_is_throttled_per_email(client):
    email, _ = await _account(client)
    answers = [(await client.gql(RECOVER, {"email": email}))["data"]["customerRecover"]["errors"] for _ in range(4)]
    assert answers[:3] == [[], [], []]
    assert answers[3][0]["code"] == "THROTTLED" and answers[3][0]["retryAfter"] == 30


async def test_sign_in_throttles_are_shared_by_instances_through_redis(changes_url):
    redis = Redis.from_url(REDIS_URL)
    await redis.ping()
    settings = _settings(changes_url, redis_url=REDIS_URL)
    async with running(settings) as first, running(settings) as second:
        one, two = first.client(), second.client()
        email, _ = await _account(one)
        await _fail_sign_in(one, email, 3)
        await _fail_sign_in(two, email, 2)
        body = await one.gql(LOGIN, {"email": email, "password": PASSWORD})
        await one.aclose()
        await two.aclose()
    keys = [key async for key in redis.scan_iter("sf:throttle:sign-in-email:*")]
    await redis.aclose()
    assert body["data"]["customerLogin"]["errors"][0]["code"] == "THROTTLED"
    assert keys and all(email.encode() not in key for key in keys)  # stored by hash


async def test_with_redis_down_throttling_carries_on_in_process_with_a_warning(changes_url, caplog):
    settings = _settings(changes_url, redis_url="redis://127.0.0.1:9/0")
    async with running(settings) as started:
        client = started.client()
        email, _ = await _account(client)
        with caplog.at_level(logging.WARNING, logger="storefront.throttle"):
            answers = await _fail_sign_in(client, email, 6)
        await client.aclose()
    assert [answer["code"] for answer in answers] == ["INVALID_CREDENTIALS"] * 5 + ["THROTTLED"]
    assert "Redis is unreachable" in caplog.text


# --------------------------------------------------------------------------- secrets never logged


async def test_no_secret_reaches_the_logs_in_a_whole_account_life(changes_url, mail, caplog):
    # given: an app logging everything, with SQL statements and their parameters
    settings = replace(_settings(changes_url, smtp_url=Secret(mail.url)), log_level="DEBUG")
    secrets: list[str] = [PASSWORD, NEW_PASSWORD, SECRET]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
        try:
            async with running(settings) as started:
                client = started.client()
                email = f"logs.{uuid.uuid4().hex[:8]}@example.com"
                await client.gql(CREATE, {"input": {"email": email, "password": PASSWORD, "displayName": "Lou"}})
                bearer_session = await sign_in(client, email)
                secrets += [bearer_session["accessToken"], bearer_session["refreshToken"]]
                refreshed = (await client.gql(REFRESH, {"token": bearer_session["refreshToken"]}))["data"]
                secrets += [refreshed["tokenRefresh"]["accessToken"], refreshed["tokenRefresh"]["refreshToken"]]
                await client.gql(REFRESH, {"token": bearer_session["refreshToken"]})  # a reuse
                await sign_in(client, email, cookie=True)
                secrets += [client.cookies["sf_session"], client.cookies["sf_csrf"]]
                await client.gql(REFRESH, headers=client.csrf())
                secrets += [client.cookies["sf_session"]]
                client.cookies.clear()  # on with a mobile client
                before = len(mail.messages)
                await client.gql(RECOVER, {"email": email})
                token = reset_token((await mail.wait_for(before + 1))[before])
                secrets.append(token)
                await client.gql(RESET, {"token": token, "password": NEW_PASSWORD})
                await client.gql(LOGIN, {"email": email, "password": "a wrong password guess"})
                await client.post(VIEWER, headers=bearer(secrets[3] + "x"))
                await client.aclose()
        finally:
            logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
        hashes = await _rows(changes_url, select(Customer.password_hash).where(Customer.email == email))
        sessions = await _rows(changes_url, select(CustomerSession.id))
    secrets += [row.password_hash for row in hashes] + [digest(token)]
    # then
    logged = caplog.text
    assert "INSERT INTO customers" in logged  # the statements were logged, so the check means something
    leaked = [secret for secret in secrets if secret in logged]
    assert leaked == []
    for claims_token in (bearer_session["accessToken"],):
        assert jwt.decode(claims_token, SECRET, algorithms=["HS256"])["sid"] in {row.id for row in sessions}


async def test_sign_in_is_throttled_per_client_address_across_emails(client):
    # given: twenty failures from one address, each on another email
    for _ in range(20):
        await _fail_sign_in(client, new_email("sprayed"), 1)
    # when: a twenty-first, on yet another email
    [answer] = await _fail_sign_in(client, new_email("sprayed"), 1)
    # then
    assert answer == {"code": "THROTTLED", "retryAfter": 1}


@pytest.mark.parametrize("shared", [False, True], ids=["in-process", "redis"])
async def test_attempts_sent_all_at_once_are_throttled_all_the_same(changes_url, mail, shared):
    # given: forty wrong passwords for one email, and ten recoveries (the address allows ten), each sent at once
    settings = _settings(changes_url, smtp_url=Secret(mail.url), redis_url=REDIS_URL if shared else None)
    async with running(settings) as started:
        client = started.client()
        email, _ = await _account(client)
        # each from an address of its own: the email's throttle alone decides (from one address, the address's
        # throttle, free for 20, counts them in another order under load and can refuse one of the first 5)
        senders = [started.client() for _ in range(40)]
        answers = await asyncio.gather(*(_fail_sign_in(sender, email, 1) for sender in senders))
        for sender in senders:
            await sender.aclose()
        before = len(mail.messages)
        recoveries = await asyncio.gather(*(client.gql(RECOVER, {"email": email}) for _ in range(10)))
        await started.accounts.mailer.drain()
        await client.aclose()
    # then: only the free attempts went through
    codes = [answer[0]["code"] for answer in answers]
    assert (codes.count("INVALID_CREDENTIALS"), codes.count("THROTTLED")) == (5, 35)
    recovered = [body["data"]["customerRecover"]["errors"] for body in recoveries]
    assert sorted({error["code"] for errors in recovered for error in errors}) == ["THROTTLED"], recovered
    assert sum(1 for errors in recovered if not errors) == 3
    assert len(mail.messages) - before == 3


async def test_a_reset_or_a_password_change_voids_every_other_reset_link(client, mail):
    # given: two recovery mails
    email, _ = await _account(client)
    before = len(mail.messages)
    for _ in range(2):
        await client.gql(RECOVER, {"email": email})
    first, second = (reset_token(message) for message in (await mail.wait_for(before + 2))[before:])
    # when: the first resets the password
    assert (await client.gql(RESET, {"token": first, "password": NEW_PASSWORD}))["data"]["customerResetPassword"][
        "errors"
    ] == []
    # then: the second no longer works
    late = await client.gql(RESET, {"token": second, "password": "an attacker's passphrase"})
    assert late["data"]["customerResetPassword"]["errors"][0]["code"] == "INVALID_TOKEN"
    # and a password changed by customerUpdate voids a link mailed before it
    before = len(mail.messages)
    await client.gql(RECOVER, {"email": email})
    third = reset_token((await mail.wait_for(before + 1))[before])
    headers = bearer((await sign_in(client, email, NEW_PASSWORD))["accessToken"])
    changed = await client.gql(
        UPDATE, {"input": {"password": "yet another good passphrase", "currentPassword": NEW_PASSWORD}}, headers=headers
    )
    assert changed["data"]["customerUpdate"]["errors"] == []
    voided = await client.gql(RESET, {"token": third, "password": "an attacker's passphrase"})
    assert voided["data"]["customerResetPassword"]["errors"][0]["code"] == "INVALID_TOKEN"


async def test_guessing_the_current_password_is_throttled(client):
    _, session = await _account(client)
    headers = bearer(session["accessToken"])
    answers = []
    for _ in range(6):
        body = await client.gql(
            UPDATE, {"input": {"password": NEW_PASSWORD, "currentPassword": "a wrong guess here"}}, headers=headers
        )
        answers.append(body["data"]["customerUpdate"]["errors"][0]["code"])
    assert answers == ["INVALID_CREDENTIALS"] * 5 + ["THROTTLED"]
