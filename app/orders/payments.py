"""Payment providers: one interface, so a real gateway plugs in next to the offline test provider.

`test` (the default outside production) is offline and deterministic: token `tok_visa` is authorised at
once, `tok_declined` is declined, `tok_async` leaves the payment pending (a webhook settles it later).
`stripe` (`app.orders.stripe_provider`) is there when STRIPE_SECRET_KEY is set.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

import orjson

from app.settings import Settings

__all__ = [
    "SIGNATURE_HEADER",
    "WEBHOOK_TOLERANCE_SECONDS",
    "PaymentConflict",
    "PaymentEvent",
    "PaymentProvider",
    "PaymentProviders",
    "PaymentResult",
    "PaymentUnavailable",
    "TestProvider",
    "WebhookRefused",
    "sign_test_event",
]

SIGNATURE_HEADER = "x-storefront-signature"
WEBHOOK_TOLERANCE_SECONDS = 300  # events older than five minutes are refused (replays)


class WebhookRefused(Exception):
    """A webhook request that is not a genuine, fresh event of the provider (answered 400)."""


class PaymentUnavailable(Exception):
    """The provider could not be asked (network, outage, rate limit): nothing is known to be charged."""


class PaymentConflict(Exception):
    """The provider already holds another request under this idempotency key (other payment details)."""


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A verified event: its id (processed once), kind, and the payment it is about."""

    id: str
    kind: Literal["succeeded", "failed"]
    reference: str


Outcome = Literal["succeeded", "declined", "pending"]


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What the provider said: the outcome, its reference for the payment, and the secret with which the
    client confirms it (a Stripe PaymentIntent's `client_secret`), when the client confirms."""

    outcome: Outcome
    reference: str
    client_secret: str | None = None


class PaymentProvider(Protocol):
    """Authorises a payment for an order."""

    name: str
    # A provider behind the network is called only after the order is committed (PAYMENT_PENDING, stock
    # taken): no database lock is held while it answers, and a crash leaves an order the sweeper settles.
    reserves_first: bool

    @property
    def webhooks_configured(self) -> bool:
        """True when the secret that verifies its webhooks is set."""

    async def authorize(self, amount: Decimal, currency: str, token: str, idempotency_key: str) -> PaymentResult:
        """Charge `amount` with the client's payment `token`; the same key never charges twice.
        PaymentUnavailable when the provider cannot be asked."""

    def verify_webhook(self, body: bytes, headers: dict[str, str], now: float) -> PaymentEvent | None:
        """The event of a webhook request, None for a genuine event of a kind no order waits for;
        WebhookRefused when its signature or age is wrong."""

    async def cancel(self, reference: str) -> None:
        """Cancel a payment not yet made (its order was cancelled); failures are logged, not raised."""

    async def close(self) -> None:
        """Release the provider's connections."""


class TestProvider:
    """The offline provider: outcomes chosen by the token, references derived from the idempotency key."""

    name = "test"
    reserves_first = False
    TOKENS: dict[str, Outcome] = {"tok_visa": "succeeded", "tok_declined": "declined", "tok_async": "pending"}

    def __init__(self, webhook_secret: str | None = None) -> None:
        self._webhook_secret = webhook_secret

    @property
    def webhooks_configured(self) -> bool:
        """True when PAYMENT_WEBHOOK_SECRET is set."""
        return self._webhook_secret is not None

    async def authorize(self, amount: Decimal, currency: str, token: str, idempotency_key: str) -> PaymentResult:
        """See `PaymentProvider.authorize`; an unknown token is declined."""
        reference = "test_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return PaymentResult(self.TOKENS.get(token, "declined"), reference)

    def verify_webhook(self, body: bytes, headers: dict[str, str], now: float) -> PaymentEvent | None:
        """Stripe's scheme: `X-Storefront-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""
        secret = self._webhook_secret
        if secret is None:
            raise WebhookRefused("PAYMENT_WEBHOOK_SECRET is not set")
        parts = dict(part.split("=", 1) for part in headers.get(SIGNATURE_HEADER, "").split(",") if "=" in part)
        stamp, signature = parts.get("t", ""), parts.get("v1", "")
        if not stamp.isdigit() or not signature:
            raise WebhookRefused("missing or malformed signature header")
        expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise WebhookRefused("bad signature")
        if abs(now - int(stamp)) > WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookRefused("the event is too old (or from the future)")
        try:
            event = orjson.loads(body)
            kind = {"payment.succeeded": "succeeded", "payment.failed": "failed"}[event["type"]]
            return PaymentEvent(str(event["id"]), kind, str(event["data"]["reference"]))  # type: ignore[arg-type]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise WebhookRefused(f"not an event ({type(exc).__name__})") from None

    async def cancel(self, reference: str) -> None:
        """Nothing to cancel: the provider is offline."""

    async def close(self) -> None:
        """Nothing to release: the provider is offline."""


def sign_test_event(body: bytes, secret: str, at: float | None = None) -> str:
    """The signature header value the test provider expects (for tests and local tools)."""
    stamp = str(int(time.time() if at is None else at))
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={signature}"


class PaymentProviders:
    """The payment providers of one process, made once from the settings (their HTTP connections are reused)."""

    def __init__(self, providers: list[PaymentProvider]) -> None:
        self._providers = {provider.name: provider for provider in providers}

    @classmethod
    def for_settings(cls, settings: Settings) -> PaymentProviders:
        """`test` outside production; `stripe` wherever STRIPE_SECRET_KEY is set."""
        providers: list[PaymentProvider] = []
        if settings.environment != "production":
            secret = settings.payment_webhook_secret
            providers.append(TestProvider(None if secret is None else secret.reveal()))
        if settings.stripe_secret_key is not None:
            from app.orders.stripe_provider import StripeProvider

            providers.append(StripeProvider.for_settings(settings))
        return cls(providers)

    def named(self, name: str) -> PaymentProvider | None:
        """The provider of this name, or None when this process has none."""
        return self._providers.get(name)

    async def close(self) -> None:
        """Release every provider's connections."""
        for provider in self._providers.values():
            await provider.close()
