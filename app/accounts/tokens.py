"""Tokens: signed access tokens (JWT, HS256, PyJWT) and random secrets stored only as digests.

An access token lives 15 minutes and names its customer (`sub`), role, session (`sid`) and itself (`jti`).
Refresh tokens, reset tokens and the CSRF value are random strings; the database keeps their SHA-256 digest,
so a stolen table signs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "RESET_TOKEN_LIFETIME",
    "AccessClaims",
    "AccessTokens",
    "InvalidToken",
    "digest",
    "new_secret",
    "new_session_id",
]

ALGORITHM = "HS256"
ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
RESET_TOKEN_LIFETIME = timedelta(hours=1)
LEEWAY_SECONDS = 5  # clocks of load-balanced instances drift a little
MAX_SUBJECT_DIGITS = 9  # customer IDs are 32-bit keys
MAX_SESSION_ID_CHARS = 64  # ours are 32 hex digits
MAX_EXPIRY = 253402300799  # 9999-12-31T23:59:59Z, the last time datetime can hold
REQUIRED_CLAIMS = ("sub", "iat", "exp", "jti", "sid", "role")


class InvalidToken(Exception):
    """A token that must be refused; `expired` tells an expired but genuine token from a forged one."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    customer_id: int
    role: str
    session_id: str
    expires_at: datetime


def new_secret() -> str:
    """A random, URL-safe secret of 256 bits (refresh, reset and CSRF tokens)."""
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    """A random session id (128 bits, hex)."""
    return secrets.token_hex(16)


def digest(secret: str) -> str:
    """The SHA-256 hex digest a secret is stored and looked up by."""
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessTokens:
    """Issues access tokens with the current key; verifies them with the current and the previous key."""

    def __init__(self, key: str, previous_key: str | None = None) -> None:
        self._key = key
        self._keys = (key, previous_key) if previous_key else (key,)

    def issue(self, customer_id: int, role: str, session_id: str, now: datetime) -> tuple[str, datetime]:
        """A new access token and when it expires."""
        expires_at = now + ACCESS_TOKEN_LIFETIME
        claims = {
            "sub": str(customer_id),
            "role": role,
            "sid": session_id,
            "jti": secrets.token_hex(12),
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), expires_at.replace(microsecond=0)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a genuine, unexpired token; InvalidToken otherwise."""
        expired = False
        for key in self._keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],  # only HS256: `alg: none` and RS256 headers are refused
                    options={"require": list(REQUIRED_CLAIMS)},
                    leeway=LEEWAY_SECONDS,
                )
            except jwt.ExpiredSignatureError:
                expired = True  # genuine (the signature was checked first) but too old
                break
            except jwt.InvalidSignatureError:
                continue  # perhaps signed with the previous key
            except jwt.PyJWTError as exc:
                raise InvalidToken(f"malformed token ({type(exc).__name__})") from None
            return _claims(claims)
        if expired:
            raise InvalidToken("the token has expired", expired=True)
        raise InvalidToken("the token's signature does not match")


def _claims(claims: dict[str, object]) -> AccessClaims:
    subject, role, session_id, expires = claims["sub"], claims["role"], claims["sid"], claims["exp"]
    well_formed = (
        isinstance(subject, str)
        and subject.isascii()
        and subject.isdigit()
        and 0 < len(subject) <= MAX_SUBJECT_DIGITS
        and isinstance(role, str)
        and isinstance(session_id, str)
        and 0 < len(session_id) <= MAX_SESSION_ID_CHARS
        and session_id.isascii()
        and session_id.isprintable()  # it reaches SQL: a NUL would be PostgreSQL's error, not a refusal
        and type(expires) is int
        and 0 < expires <= MAX_EXPIRY
    )
    if not well_formed:  # signed with our key, so a bug or a leaked key: refused all the same, never a 500
        raise InvalidToken("the token's claims are malformed")
    assert isinstance(subject, str) and isinstance(role, str) and isinstance(session_id, str)
    assert isinstance(expires, int)
    return AccessClaims(int(subject), role, session_id, datetime.fromtimestamp(expires, UTC))
