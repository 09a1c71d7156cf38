"""The `stripe` payment provider, with the official `stripe` package.

Checkout creates one PaymentIntent per order (the amount in the currency's minor units, the order's
idempotency key as Stripe's, so a retried checkout gets the same intent); the client confirms it with the
returned `clientSecret` (Stripe.js), and Stripe's webhook settles the order. Webhooks are verified with
Stripe's own `Webhook.construct_event`.

Stripe sends `payment_intent.payment_failed` for every failed attempt, and the customer may try another
card on the same intent, so that event cancels nothing: `payment_intent.canceled` cancels the order, and an
intent never paid is cancelled by the sweeper at PAYMENT_TIMEOUT.
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import stripe

from app.orders.payments import (
    WEBHOOK_TOLERANCE_SECONDS,
    PaymentConflict,
    PaymentEvent,
    PaymentResult,
    PaymentUnavailable,
    WebhookRefused,
)
from app.settings import Settings

__all__ = ["SIGNATURE_HEADER", "StripeProvider", "minor_units"]

SIGNATURE_HEADER = "stripe-signature"
REQUEST_TIMEOUT_SECONDS = 15.0
NETWORK_RETRIES = 2  # Stripe retries with the same idempotency key, so a retry never charges twice
# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
EVENT_KINDS = {"payment_intent.succeeded": "succeeded", "payment_intent.canceled": "failed"}

log = logging.getLogger("storefront.payments")


def minor_units(amount: Decimal, currency: str) -> int:
    """The amount as Stripe counts it: cents for USD, yen for JPY, and for three-decimal currencies
    thousandths rounded to a multiple of ten (as Stripe requires)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return int(amount.quantize(Decimal(1), ROUND_HALF_UP))
    if code in THREE_DECIMAL:
        return int((amount * 100).quantize(Decimal(1), ROUND_HALF_UP)) * 10
    return int((amount * 100).quantize(Decimal(1), ROUND_HALF_UP))


class StripeProvider:
    """PaymentIntents the client confirms; Stripe's webhooks settle the order."""

    name = "stripe"
    reserves_first = True

    def __init__(self, client: stripe.StripeClient, http: stripe.HTTPXClient, webhook_secret: str | None) -> None:
        self._client = client
        self._http = http
        self._webhook_secret = webhook_secret

    @classmethod
    def for_settings(cls, settings: Settings) -> StripeProvider:
        """The provider of STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and STRIPE_API_BASE."""
        assert settings.stripe_secret_key is not None
        stripe.log = None  # STRIPE_LOG=debug would print API answers, client secrets included, to stderr
        http = stripe.HTTPXClient(timeout=REQUEST_TIMEOUT_SECONDS)
        client = stripe.StripeClient(
            settings.stripe_secret_key.reveal(),
            base_addresses={"api": settings.stripe_api_base},
            http_client=http,
            max_network_retries=NETWORK_RETRIES,
        )
        secret = settings.stripe_webhook_secret
        return cls(client, http, None if secret is None else secret.reveal())

    @property
    def webhooks_configured(self) -> bool:
        """True when STRIPE_WEBHOOK_SECRET is set."""
        return self._webhook_secret is not None

    async def authorize(self, amount: Decimal, currency: str, token: str, idempotency_key: str) -> PaymentResult:
        """Create (or, for a retry, find again) the order's PaymentIntent; it is pending until the client
        confirms it. A `pm_...` token is attached as its payment method."""
        params: dict[str, Any] = {
            "amount": minor_units(amount, currency),
            "currency": currency.lower(),
            "automatic_payment_methods": {"enabled": True},
            "metadata": {"idempotency_key": idempotency_key},
        }
        if token.startswith("pm_"):
            params["payment_method"] = token
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": f"storefront-order-{idempotency_key}"},
            )
        except stripe.IdempotencyError:
            raise PaymentConflict("another request holds this idempotency key") from None
        except (stripe.CardError, stripe.InvalidRequestError) as refused:
            log.warning("stripe refused a payment: %s (%s)", type(refused).__name__, refused.code)
            return PaymentResult("declined", "")
        except stripe.StripeError as failure:
            log.warning("stripe could not be asked: %s (HTTP %s)", type(failure).__name__, failure.http_status)
            raise PaymentUnavailable(type(failure).__name__) from None
        if intent.status == "succeeded":
            return PaymentResult("succeeded", intent.id, intent.client_secret)
        return PaymentResult("pending", intent.id, intent.client_secret)

    def verify_webhook(self, body: bytes, headers: dict[str, str], now: float) -> PaymentEvent | None:
        """Stripe's `Stripe-Signature` checked by `Webhook.construct_event` (five minutes' tolerance)."""
        if self._webhook_secret is None:
            raise WebhookRefused("STRIPE_WEBHOOK_SECRET is not set")
        try:
            event = stripe.Webhook.construct_event(
                body, headers.get(SIGNATURE_HEADER, ""), self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as refused:
            raise WebhookRefused(f"bad signature: {refused.user_message or refused}") from None
        except (ValueError, TypeError, AttributeError, KeyError):
            raise WebhookRefused("not an event") from None
        try:
            kind = EVENT_KINDS.get(event["type"])
            if kind is None:
                return None
            return PaymentEvent(str(event["id"]), kind, str(event["data"]["object"]["id"]))  # type: ignore[arg-type]
        except (KeyError, TypeError, AttributeError):
            raise WebhookRefused("not an event about a PaymentIntent") from None

    async def cancel(self, reference: str) -> None:
        """Cancel an order's PaymentIntent (abandoned), so the customer cannot pay it after its order was
        cancelled. An intent already paid or cancelled stays as it is (logged)."""
        try:
            await self._client.v1.payment_intents.cancel_async(reference, {"cancellation_reason": "abandoned"})
        except stripe.StripeError as failure:
            log.warning("could not cancel stripe payment %s: %s (%s)", reference, type(failure).__name__, failure.code)

    async def close(self) -> None:
        """Close the HTTP connections to Stripe."""
        await self._http.close_async()
