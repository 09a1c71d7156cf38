"""A local HTTP stand-in for the few Stripe API endpoints the `stripe` provider uses, and Stripe-signed events.

It speaks Stripe's wire format (form-encoded requests, JSON objects and errors, `Idempotency-Key`), so the
official `stripe` package talks to it unchanged through STRIPE_API_BASE. It never reaches the internet.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.live import live_server

API_KEY = "sk_test_storefront_stub"
WEBHOOK_SECRET = "whsec_storefront_stub"


@dataclass
class StripeStub:
    """The stub's state: PaymentIntents made, requests seen, and the failures to answer with next."""

    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # HTTP statuses to answer the next requests with, as Stripe's API errors (500, 429, 402, ...)
    failures: list[int] = field(default_factory=list)
    # while cleared, PaymentIntent creation waits: a gateway that is slow to answer
    answering: threading.Event = field(default_factory=threading.Event)
    latency: float = 0.0  # seconds each creation takes (so concurrent requests overlap)
    _by_key: dict[str, tuple[str, Response]] = field(default_factory=dict)
    _in_progress: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.answering.set()

    def app(self) -> Starlette:
        """The ASGI app serving /v1/payment_intents."""
        return Starlette(
            routes=[
                Route("/v1/payment_intents", self._create, methods=["POST"]),
                Route("/v1/payment_intents/{intent}/cancel", self._cancel, methods=["POST"]),
            ]
        )

    async def _create(self, request: Request) -> Response:
        """Stripe's idempotency as documented: a key's first answer is kept and replayed (500s too, as they
        come from a request that started executing), a key in use by a request under way is 409, and a key
        reused with other parameters is 400 idempotency_error; failed validation keeps nothing."""
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid_request_error", "api_key_invalid", "Invalid API Key provided")
        body = (await request.body()).decode()
        form = dict(parse_qsl(body))
        key = request.headers.get("idempotency-key", "")
        self.requests.append({"path": request.url.path, "form": form, "idempotency_key": key})
        with self._lock:
            if key in self._by_key:
                seen_body, response = self._by_key[key]
                if seen_body != body:
                    return _error(400, "idempotency_error", None, "Keys are for requests with the same parameters")
                return response
            if key in self._in_progress:
                return _error(409, "invalid_request_error", "idempotency_key_in_use", "Another request uses this key")
            self._in_progress.add(key)
        try:
            while not self.answering.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(self.latency)
            with self._lock:
                response, keep = self._answer(form)
                if key and keep:
                    self._by_key[key] = (body, response)
            return response
        finally:
            self._in_progress.discard(key)

    def _answer(self, form: dict[str, str]) -> tuple[Response, bool]:
        """The answer to a creation, and whether Stripe would keep it under the idempotency key."""
        if self.failures:
            status = self.failures.pop(0)
            return _failure(status), status >= 500
        response = self._new_intent(form)
        return response, response.status_code == 200

    async def _cancel(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid_request_error", "api_key_invalid", "Invalid API Key provided")
        form = dict(parse_qsl((await request.body()).decode()))
        self.requests.append({"path": request.url.path, "form": form, "idempotency_key": ""})
        intent = self.intents.get(request.path_params["intent"])
        if intent is None:
            return _error(404, "invalid_request_error", "resource_missing", "No such payment_intent")
        if intent["status"] in ("succeeded", "canceled"):
            return _error(400, "invalid_request_error", "payment_intent_unexpected_state", "It cannot be canceled")
        intent.update(status="canceled", cancellation_reason=form.get("cancellation_reason"))
        return JSONResponse(intent)

    def _new_intent(self, form: dict[str, str]) -> Response:
        amount = int(form.get("amount", "0"))
        if amount < 50:
            return _error(400, "invalid_request_error", "amount_too_small", "Amount must be at least 50 cents")
        if form.get("payment_method", "pm_card_visa") == "pm_unknown":
            return _error(400, "invalid_request_error", "resource_missing", "No such PaymentMethod: 'pm_unknown'")
        intent_id = "pi_" + secrets.token_hex(12)
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "currency": form.get("currency"),
            "status": "requires_confirmation" if "payment_method" in form else "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "metadata": {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
            "livemode": False,
        }
        self.intents[intent_id] = intent
        return JSONResponse(intent)


def _failure(status: int) -> Response:
    if status == 402:
        return _error(402, "card_error", "card_declined", "Your card was declined.")
    if status == 429:
        return _error(429, "invalid_request_error", "rate_limit", "Too many requests")
    return _error(status, "api_error", None, "Something went wrong on Stripe's end.")


def _error(status: int, kind: str, code: str | None, message: str) -> Response:
    return JSONResponse({"error": {"type": kind, "code": code, "message": message}}, status_code=status)


@contextmanager
def stripe_stub() -> Iterator[tuple[StripeStub, str]]:
    """A running stub and its base URL (for STRIPE_API_BASE)."""
    stub = StripeStub()
    with live_server(stub.app()) as base:
        yield stub, base


def stripe_event(kind: str, intent_id: str, event_id: str | None = None) -> bytes:
    """The JSON body of a Stripe event about a PaymentIntent, e.g. kind `payment_intent.succeeded`."""
    return orjson.dumps(
        {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2025-01-27.acacia",
            "data": {"object": {"id": intent_id, "object": "payment_intent"}},
        }
    )


def stripe_signature(body: bytes, secret: str = WEBHOOK_SECRET, at: float | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send (https://docs.stripe.com/webhooks#verify-manually)."""
    stamp = str(int(time.time() if at is None else at))
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={signature}"
