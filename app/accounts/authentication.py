"""Who a request comes from, read from its bearer token or session cookie without touching the database.

Mobile apps send `Authorization: Bearer <access token>`. Browser SPAs use the BFF pattern: `customerLogin`
with `useCookie: true` sets `sf_session` (httpOnly: script never sees it) holding the access token and the
refresh token, and `sf_csrf`, which script reads and echoes as `X-CSRF-Token` on every mutation (double
submit): a cross-site form can send the cookie but cannot read it to send the header.

Credentials that are expired, tampered with or revoked refuse the whole request (`Unauthenticated`); they
never make it anonymous. The one exception is a request made only of the session fields (sign-in, refresh,
sign-out, recovery): a genuine but expired or revoked bearer token, or any session cookie script cannot
remove (httpOnly), may still run those, as the viewer nobody, so that a client can renew or end it.
Every mutation that carries the session cookie needs the CSRF header, whatever else it carries.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.accounts.revocations import Revocations
from app.accounts.tokens import AccessClaims, AccessTokens, InvalidToken
from app.errors import CsrfRejected, DomainError, Unauthenticated

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_FIELDS",
    "Authenticator",
    "Viewer",
    "join_session_cookie",
    "split_session_cookie",
]

SESSION_COOKIE = "sf_session"
CSRF_COOKIE = "sf_csrf"
CSRF_HEADER = "x-csrf-token"
# Root fields a client with a stale (expired or revoked) session may still ask for, to renew or end it.
SESSION_FIELDS = frozenset(
    {
        "customerLogin",
        "customerCreate",
        "tokenRefresh",
        "customerLogout",
        "customerRecover",
        "customerResetPassword",
        "__typename",
    }
)
_SEPARATOR = "~"  # neither a JWT nor a URL-safe token contains it


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in customer of a request, as its access token says; no row is loaded for it."""

    customer_id: int
    role: str
    session_id: str
    by_cookie: bool = False
    expires_at: datetime | None = None  # the access token's; a subscription ends when it passes

    @property
    def is_staff(self) -> bool:
        """Whether the viewer is a member of staff."""
        return self.role == "STAFF"


def join_session_cookie(access_token: str, refresh_token: str) -> str:
    """The value of the session cookie: both tokens, as the browser must never hold them in script."""
    return f"{access_token}{_SEPARATOR}{refresh_token}"


def split_session_cookie(value: str | None) -> tuple[str, str] | None:
    """The (access, refresh) tokens of a session cookie, or None when it is absent or malformed."""
    if not value:
        return None
    access, separator, refresh = value.partition(_SEPARATOR)
    return (access, refresh) if separator and access and refresh else None


class Authenticator:
    """The pipeline's `authenticate`: a Viewer, None for anonymous, or a refusal."""

    def __init__(self, tokens: AccessTokens, revocations: Revocations) -> None:
        self.tokens = tokens
        self.revocations = revocations

    def __call__(self, request: Any, operation: Any) -> Viewer | None:
        """Authenticate a transport request (its `headers` and `cookies`) for this operation."""
        headers: Mapping[str, str] = getattr(request, "headers", None) or {}
        cookies: Mapping[str, str] = getattr(request, "cookies", None) or {}
        session_only = operation.root_fields <= SESSION_FIELDS
        cookie = cookies.get(SESSION_COOKIE)
        if cookie is not None and operation.kind == "mutation":
            # Whatever else the request carries: the session mutations act on the cookie's refresh token.
            _check_csrf(headers, cookies)
        authorization = headers.get("authorization")
        if authorization is not None:
            return self._bearer(authorization, session_only)
        if cookie is None:
            return None
        return self._cookie(cookie, session_only)

    def peek(self, request: Any) -> Viewer | None:
        """The viewer a request's credentials name when they are valid, else None: never a refusal (for a
        check made before the operation is known; the request is authenticated properly afterwards)."""
        try:
            return self(request, _ANY_QUERY)
        except DomainError:
            return None

    def _bearer(self, authorization: str, session_only: bool) -> Viewer | None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Send the access token as `Authorization: Bearer <token>`", bearer=True)
        claims = self._verify(token.strip(), session_only, bearer=True)
        return (
            None
            if claims is None
            else Viewer(claims.customer_id, claims.role, claims.session_id, expires_at=claims.expires_at)
        )

    def _cookie(self, cookie: str, session_only: bool) -> Viewer | None:
        tokens = split_session_cookie(cookie)
        if tokens is None:
            if session_only:
                return None  # script cannot clear an httpOnly cookie: signing in again must replace it
            raise Unauthenticated("The session cookie is malformed; sign in again")
        if session_only:
            # A cookie signed with a key since rotated away must not lock the browser out until it expires:
            # its refresh token (checked in the database) may still renew it, or a sign-in replace it.
            return self._lenient(tokens[0])
        claims = self._verify(tokens[0], session_only, bearer=False)
        return (
            None
            if claims is None
            else Viewer(claims.customer_id, claims.role, claims.session_id, True, claims.expires_at)
        )

    def _lenient(self, token: str) -> Viewer | None:
        try:
            claims = self.tokens.verify(token)
        except InvalidToken:
            return None
        if self.revocations.is_revoked(claims.session_id):
            return None
        return Viewer(claims.customer_id, claims.role, claims.session_id, True, claims.expires_at)

    def _verify(self, token: str, session_only: bool, *, bearer: bool) -> AccessClaims | None:
        """The claims of a usable token; None for a stale one on a session-only request; else refused."""
        try:
            claims = self.tokens.verify(token)
        except InvalidToken as error:
            if error.expired and session_only:
                return None
            message = "The access token has expired" if error.expired else "The access token is invalid"
            raise Unauthenticated(message, bearer=bearer) from None
        if self.revocations.is_revoked(claims.session_id):
            if session_only:
                return None
            raise Unauthenticated("The session was signed out", bearer=bearer)
        return claims


@dataclass(frozen=True)
class _Operation:
    kind: str
    root_fields: frozenset[str]


_ANY_QUERY = _Operation("query", frozenset({"*"}))  # a query, not one of the session fields


def _check_csrf(headers: Mapping[str, str], cookies: Mapping[str, str]) -> None:
    expected = cookies.get(CSRF_COOKIE, "")
    sent = headers.get(CSRF_HEADER, "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRejected(
            "A mutation authenticated by the session cookie needs the `X-CSRF-Token` header, "
            "equal to the `sf_csrf` cookie"
        )
