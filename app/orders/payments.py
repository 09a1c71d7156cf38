"""Payment providers: one interface, so a real gateway plugs in next to the offline test provider.

`test` (the default outside production) is offline and deterministic: token `tok_visa` is authorised at
once, `tok_declined` is declined, `tok_async` leaves the payment pending (a webhook settles it later).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

import orjson

__all__ = [
    "SIGNATURE_HEADER",
    "WEBHOOK_TOLERANCE_SECONDS",
    "PaymentEvent",
    "PaymentProvider",
    "PaymentResult",
    "TestProvider",
    "WebhookRefused",
    "provider_named",
    "sign_test_event",
]

SIGNATURE_HEADER = "x-storefront-signature"
WEBHOOK_TOLERANCE_SECONDS = 300  # events older than five minutes are refused (replays)


class WebhookRefused(Exception):
    """A webhook request that is not a genuine, fresh event of the provider (answered 400)."""


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A verified event: its id (processed once), kind, and the payment it is about."""

    id: str
    kind: Literal["succeeded", "failed"]
    reference: str


Outcome = Literal["succeeded", "declined", "pending"]


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What the provider said: the outcome and its reference for the payment."""

    outcome: Outcome
    reference: str


class PaymentProvider(Protocol):
    """Authorises a payment for an order."""

    name: str

    async def authorize(self, amount: Decimal, currency: str, token: str, idempotency_key: str) -> PaymentResult:
        """Charge `amount` with the client's payment `token`; the same key never charges twice."""

    def verify_webhook(self, body: bytes, headers: dict[str, str], secret: str, now: float) -> PaymentEvent:
        """The event of a webhook request; WebhookRefused when its signature or age is wrong."""


class TestProvider:
    """The offline provider: outcomes chosen by the token, references derived from the idempotency key."""

    name = "test"
    TOKENS: dict[str, Outcome] = {"tok_visa": "succeeded", "tok_declined": "declined", "tok_async": "pending"}

    async def authorize(self, amount: Decimal, currency: str, token: str, idempotency_key: str) -> PaymentResult:
        """See `PaymentProvider.authorize`; an unknown token is declined."""
        reference = "test_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return PaymentResult(self.TOKENS.get(token, "declined"), reference)

    def verify_webhook(self, body: bytes, headers: dict[str, str], secret: str, now: float) -> PaymentEvent:
        """Stripe's scheme: `X-Storefront-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""
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


def sign_test_event(body: bytes, secret: str, at: float | None = None) -> str:
    """The signature header value the test provider expects (for tests and local tools)."""
    stamp = str(int(time.time() if at is None else at))
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={signature}"


def provider_named(name: str, environment: str) -> PaymentProvider | None:
    """The provider of this name available in the environment; None when there is none."""
    if name == "test" and environment != "production":
        return TestProvider()
    return None
