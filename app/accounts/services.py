"""The process-wide services of accounts, built once by the composition root and shared by requests."""

from __future__ import annotations

from dataclasses import dataclass

from app.accounts.passwords import Passwords
from app.accounts.revocations import Revocations
from app.accounts.tokens import AccessTokens
from app.mail import Mailer, mailer_for
from app.settings import Settings
from app.throttle import BackOff, Counts, MemoryCounts, RedisCounts, Throttle, redis_client

__all__ = ["AccountServices", "Throttles"]

HOUR = 3600.0


@dataclass
class Throttles:
    """Sign-in and recovery, each throttled per email and per client address."""

    sign_in_email: Throttle
    sign_in_address: Throttle
    recovery_email: Throttle
    recovery_address: Throttle

    @classmethod
    def over(cls, counts: Counts) -> Throttles:
        """The throttles, keeping their counts in `counts`."""
        return cls(
            sign_in_email=Throttle("sign-in-email", BackOff(free=5, window_seconds=HOUR / 4), counts),
            sign_in_address=Throttle("sign-in-address", BackOff(free=20, window_seconds=HOUR / 4), counts),
            recovery_email=Throttle("recovery-email", BackOff(free=3, window_seconds=HOUR, base_seconds=30), counts),
            recovery_address=Throttle(
                "recovery-address", BackOff(free=10, window_seconds=HOUR, base_seconds=30), counts
            ),
        )


@dataclass
class AccountServices:
    """Password hashing, access tokens, the revocation list, throttles and mail of one process."""

    passwords: Passwords
    tokens: AccessTokens
    revocations: Revocations
    throttles: Throttles
    mailer: Mailer | None  # None: no mail can be sent (production or test without SMTP_URL)
    settings: Settings

    @property
    def secure_cookies(self) -> bool:
        """Whether the session cookies carry `Secure` (everywhere but development)."""
        return self.settings.environment != "development"

    @classmethod
    def for_settings(cls, settings: Settings, revocations: Revocations) -> AccountServices:
        """The services configured by settings: cheap hashes in tests, the current and previous keys,
        throttle counts in Redis when it is configured."""
        previous = settings.secret_key_previous.reveal() if settings.secret_key_previous else None
        counts: Counts = RedisCounts(redis_client(settings.redis_url)) if settings.redis_url else MemoryCounts()
        smtp_url = settings.smtp_url.reveal() if settings.smtp_url else None
        return cls(
            passwords=Passwords.cheapest() if settings.environment == "test" else Passwords(),
            tokens=AccessTokens(settings.secret_key.reveal(), previous),
            revocations=revocations,
            throttles=Throttles.over(counts),
            mailer=mailer_for(smtp_url, settings.environment),
            settings=settings,
        )

    async def close(self) -> None:
        """Wait for mail still being sent and close the Redis connections."""
        if self.mailer is not None:
            await self.mailer.drain()
        counts = self.throttles.sign_in_email.counts
        if isinstance(counts, RedisCounts):
            await counts.client.aclose()
