"""Payment providers: one interface, so a real gateway plugs in next to the offline test provider.

`test` (the default outside production) is offline and deterministic: token `tok_visa` is authorised at
once, `tok_declined` is declined, `tok_async` leaves the payment pending (a webhook settles it later).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

__all__ = ["PaymentProvider", "PaymentResult", "TestProvider", "provider_named"]

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


class TestProvider:
    """The offline provider: outcomes chosen by the token, references derived from the idempotency key."""

    name = "test"
    TOKENS: dict[str, Outcome] = {"tok_visa": "succeeded", "tok_declined": "declined", "tok_async": "pending"}

    async def authorize(self, amount: Decimal, currency: str, token: str, idempotency_key: str) -> PaymentResult:
        """See `PaymentProvider.authorize`; an unknown token is declined."""
        reference = "test_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return PaymentResult(self.TOKENS.get(token, "declined"), reference)


def provider_named(name: str, environment: str) -> PaymentProvider | None:
    """The provider of this name available in the environment; None when there is none."""
    if name == "test" and environment != "production":
        return TestProvider()
    return None
