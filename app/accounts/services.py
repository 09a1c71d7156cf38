"""The process-wide services of accounts, built once by the composition root and shared by requests."""

from __future__ import annotations

from dataclasses import dataclass

from app.accounts.passwords import Passwords
from app.accounts.revocations import Revocations
from app.accounts.tokens import AccessTokens
from app.settings import Settings

__all__ = ["AccountServices"]


@dataclass
class AccountServices:
    """Password hashing, access tokens and the revocation list of one process."""

    passwords: Passwords
    tokens: AccessTokens
    revocations: Revocations
    secure_cookies: bool  # the session cookies carry `Secure` (everywhere but development)

    @classmethod
    def for_settings(cls, settings: Settings, revocations: Revocations) -> AccountServices:
        """The services configured by settings: cheap hashes in tests, the current and previous keys."""
        previous = settings.secret_key_previous.reveal() if settings.secret_key_previous else None
        return cls(
            passwords=Passwords.cheapest() if settings.environment == "test" else Passwords(),
            tokens=AccessTokens(settings.secret_key.reveal(), previous),
            revocations=revocations,
            secure_cookies=settings.environment != "development",
        )
