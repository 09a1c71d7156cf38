"""Account test support: an app on its own database, clients with their own cookies, sign-up and sign-in."""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from http.cookies import SimpleCookie
from typing import Any

import httpx
from starlette.applications import Starlette

from app.accounts.services import AccountServices
from app.asgi import create_app
from app.db.sql_counter import StatementCounter
from app.settings import Settings
from tests.conftest import take_cost

PASSWORD = "correct horse battery staple"

CREATE = """mutation($input: CustomerCreateInput!) {
  customerCreate(input: $input) { customer { id email displayName } errors { field message code } }
}"""
LOGIN = """mutation($email: String!, $password: String!, $useCookie: Boolean) {
  customerLogin(email: $email, password: $password, useCookie: $useCookie) {
    accessToken refreshToken expiresAt customer { id } errors { field message code }
  }
}"""
REFRESH = """mutation($token: String) {
  tokenRefresh(refreshToken: $token) {
    accessToken refreshToken expiresAt customer { id } errors { field message code }
  }
}"""
LOGOUT = "mutation { customerLogout { errors { field message code } } }"
VIEWER = "{ viewer { id email displayName createdAt } }"


@dataclass
class Running:
    """An app in-process: its ASGI app, account services and statement counter."""

    app: Starlette
    accounts: AccountServices
    sql: StatementCounter

    def client(self) -> Client:
        """A new client with an empty cookie jar and a client address of its own (throttles count per address)."""
        address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        return Client(httpx.AsyncClient(transport=transport, base_url="http://testserver"))


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Running]:
    """Run an app (lifespan included) and yield it."""
    app = create_app(settings)
    counter = StatementCounter(app.state.engine).attach()
    async with app.router.lifespan_context(app):
        yield Running(app, app.state.accounts, counter)


class Client:
    """A GraphQL client that keeps the cookies responses set (Secure ones too, as a browser on HTTPS would)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []  # the raw Set-Cookie headers of the last response

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST an operation with the kept cookies; remember the cookies the response sets or clears."""
        sent = dict(headers or {})
        if self.cookies:
            sent["cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = await self.http.post("/graphql", json=body, headers=sent)
        self._keep(response)
        return response

    async def gql(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """POST an operation that must answer 200; its JSON body."""
        response = await self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        take_cost(body)
        return body

    def _keep(self, response: httpx.Response) -> None:
        self.set_cookies = response.headers.get_list("set-cookie")
        for header in self.set_cookies:
            parsed = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def csrf(self) -> dict[str, str]:
        """The double-submit header a browser SPA sends with its mutations."""
        return {"x-csrf-token": self.cookies["sf_csrf"]}

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()


def new_email(prefix: str = "shopper") -> str:
    """An email no other test uses."""
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


async def sign_up(
    client: Client, email: str | None = None, password: str = PASSWORD, name: str = "Ada L."
) -> dict[str, Any]:
    """Create an account; its `customer` payload."""
    email = email or new_email()
    body = await client.gql(CREATE, {"input": {"email": email, "password": password, "displayName": name}})
    payload = body["data"]["customerCreate"]
    assert payload["errors"] == [], payload
    customer: dict[str, Any] = payload["customer"]
    return customer


async def sign_in(
    client: Client, email: str, password: str = PASSWORD, *, cookie: bool = False, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Sign in; the `customerLogin` payload."""
    body = await client.gql(LOGIN, {"email": email, "password": password, "useCookie": cookie}, headers=headers)
    payload: dict[str, Any] = body["data"]["customerLogin"]
    assert payload["errors"] == [], payload
    return payload


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of an access token."""
    return {"authorization": f"Bearer {token}"}


class CapturedMail:
    """A real SMTP server (aiosmtpd) on a free local port that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.port = _free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        """The SMTP_URL of this server."""
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: keep the message."""
        parsed = BytesParser(policy=default).parsebytes(envelope.content)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """The messages once `count` have arrived (AssertionError after `timeout` seconds)."""
        for _ in range(int(timeout / 0.02)):
            if len(self.messages) >= count:
                return self.messages
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reset_token(message: EmailMessage) -> str:
    """The token of the reset link in a recovery mail."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r"token=([A-Za-z0-9_\-]+)", body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)
