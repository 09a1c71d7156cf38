"""The ASGI app factory: the composition root wiring settings, database, schema and HTTP routes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.accounts.authentication import SESSION_COOKIE, Authenticator
from app.accounts.revocations import Revocations
from app.accounts.services import AccountServices
from app.buckets import Bucket, MemoryBuckets, RedisBuckets
from app.context import Context
from app.db import migrate
from app.db.base import utcnow
from app.db.database import create_engine, request_database
from app.db.pagination import DEFAULT_PAGE_SIZE
from app.graphql.budget import CostBudget
from app.graphql.cost import CostAnalysis, CostPrices
from app.graphql.http import GraphQLHTTP, wants_html
from app.graphql.introspection import introspection_policy
from app.graphql.limits import max_aliases_rule, max_depth_rule, max_directives_rule, max_fields_rule
from app.graphql.persisted import PersistedDocuments
from app.graphql.pipeline import ContextFactory, Pipeline
from app.graphql.playground import playground_response, playground_routes
from app.graphql.sse import GraphQLSSE, wants_event_stream
from app.graphql.websocket import GraphQLWebSocket
from app.live.brokers import LocalBroker, RedisBroker, live_channel
from app.live.hub import LiveHub
from app.live.resources import EventResources
from app.observability import configure_logging
from app.orders.payments import PaymentProviders, WebhookRefused
from app.persisted.store import QueryStore, TrustedDocuments
from app.runtime import tune_garbage_collector
from app.settings import Settings, load_settings
from app.throttle import redis_client
from app.web.client_address import client_address
from app.web.cors import cors, origin_check
from app.web.metrics import Metrics
from app.web.request_id import RequestIdMiddleware, current_request_id
from app.web.security_headers import security_headers

__all__ = ["cost_analysis", "create_app", "request_context", "shape_rules"]

log = logging.getLogger("storefront")
GZIP_MINIMUM_BYTES = 1024  # smaller responses are not worth a compressor's time


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the Storefront BFF ASGI app; settings come from the environment unless given."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    engine = create_engine(settings, statement_timeout=settings.request_timeout_seconds)
    from schema.root import build_schema

    # Background work (the revocation list's poll, the sweeper of unpaid orders) runs on an engine of its
    # own, two connections, never the requests' pool (nor among their statements).
    background = create_engine(replace(settings, db_pool_size=2, db_max_overflow=0))
    revocations = Revocations(background)
    accounts = AccountServices.for_settings(settings, revocations)
    payments = PaymentProviders.for_settings(settings)
    metrics = Metrics()
    live = LiveHub(
        RedisBroker(settings.redis_url, live_channel(settings)) if settings.redis_url else LocalBroker(),
        lambda: EventResources(engine),
        registry=metrics.registry,
        max_subscriptions=settings.subscriptions_per_process,
    )
    schema = build_schema()
    budget = _cost_budget(settings)
    authenticator = Authenticator(accounts.tokens, revocations)
    persisted = _persisted_documents(settings, background, authenticator)
    pipeline = Pipeline(
        schema,
        request_context(settings, engine, accounts, payments, live),
        rules=shape_rules(settings),
        max_tokens=settings.max_tokens,
        persisted=persisted,
        hide_suggestions=settings.environment == "production",
        introspection=introspection_policy(settings.introspection_mode),
        timeout=settings.request_timeout_seconds,
        cost=cost_analysis(settings, schema._schema),
        budget=budget,
        executor="planned" if settings.fast_executor else "reference",
        authenticate=authenticator,
    )
    graphql = GraphQLHTTP(pipeline, ambient_cookies=(SESSION_COOKIE,))
    origin_allowed = origin_check(settings.cors_origins, any_origin=settings.debug)
    events = GraphQLSSE(pipeline, origin_allowed=origin_allowed)
    sockets = GraphQLWebSocket(pipeline, origin_allowed, max_subscriptions=settings.subscriptions_per_connection)

    async def graphql_endpoint(request: Request) -> Response:
        if settings.debug and wants_html(request):
            return playground_response()
        if wants_event_stream(request):
            return await events.handle(request)
        return await graphql.handle(request)

    async def readyz(_request: Request) -> Response:
        return await _readiness(engine)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        log.info("serving with %s database (%s)", settings.url.get_backend_name(), settings.environment)
        tune_garbage_collector()
        if accounts.mailer is None:
            log.warning("SMTP_URL is not set: password-recovery mail cannot be sent (customerRecover is UNAVAILABLE)")
        await revocations.start()
        await live.start()
        sweeper = asyncio.create_task(_sweep_unpaid_orders(settings, background, payments, live), name="unpaid-orders")
        try:
            yield
        finally:
            sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await sweeper
            await live.stop()
            if budget is not None:
                await budget.close()
            await persisted.close()
            await revocations.stop()
            await accounts.close()
            await payments.close()
            await engine.dispose()
            await background.dispose()

    routes = [
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", sockets),
        Route("/webhooks/payments/{provider}", _payment_webhook(payments, engine, live), methods=["POST"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        *(playground_routes() if settings.debug else []),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.accounts = accounts
    app.state.live = live
    app.state.pipeline = pipeline
    app.state.metrics_registry = metrics.registry
    if settings.cors_origins:
        app.add_middleware(_Wrap, wrap=lambda inner: cors(inner, settings.cors_origins))
    if settings.trusted_proxies:  # innermost of these: everything above sees the client's own address
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    # gzip outermost of these, after the headers are set; never for event streams (Starlette leaves them be)
    app.add_middleware(_Wrap, wrap=lambda inner: security_headers(inner, hsts=not settings.debug))
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)
    app.add_middleware(_Wrap, wrap=metrics.middleware)
    app.add_middleware(RequestIdMiddleware)
    return app


def shape_rules(settings: Settings) -> list[Any]:
    """The validation rules limiting a document's shape, as configured."""
    return [
        max_depth_rule(settings.max_query_depth),
        max_aliases_rule(settings.max_aliases),
        max_directives_rule(settings.max_directives),
        max_fields_rule(settings.max_fields),
    ]


def cost_analysis(settings: Settings, schema: Any) -> CostAnalysis:
    """The pricing of operations on the schema, with its weights and the configured maximum."""
    from schema.costs import COST_WEIGHTS, LIST_SIZES

    prices = CostPrices(
        max_cost=settings.max_query_cost,
        default_page_size=DEFAULT_PAGE_SIZE,
        max_page_size=settings.max_page_size,
        weights=COST_WEIGHTS,
        list_sizes=LIST_SIZES,
    )
    return CostAnalysis(schema, prices)


def _cost_budget(settings: Settings) -> CostBudget | None:
    """Each client's bucket of cost points (shared through Redis when there is one); None without a limit."""
    if not settings.rate_limit_points:
        return None
    buckets = (
        RedisBuckets(redis_client(settings.redis_url), f"sf:bucket:{settings.namespace}:")
        if settings.redis_url
        else MemoryBuckets()
    )
    bucket = Bucket(settings.rate_limit_points, settings.rate_limit_restore_rate)
    return CostBudget(buckets, bucket, _client_of)


def _persisted_documents(settings: Settings, engine: Any, authenticator: Authenticator) -> PersistedDocuments:
    """Automatic persisted queries (in Redis when there is one) and the trusted documents (in the database,
    read on the background engine)."""
    redis = redis_client(settings.redis_url) if settings.redis_url else None
    return PersistedDocuments(
        QueryStore(redis, f"sf:apq:{settings.namespace}:"),
        TrustedDocuments(engine),
        trusted_only=settings.trusted_documents_only,
        free_form=_is_staff,  # staff explore freely
        maybe_free_form=lambda request: _is_staff(authenticator.peek(request)),
    )


def _is_staff(viewer: Any) -> bool:
    return bool(getattr(viewer, "is_staff", False))


def _client_of(request: Any, viewer: Any) -> str:
    """A signed-in customer's budget is theirs wherever they are; anyone else's is their address's."""
    customer = getattr(viewer, "customer_id", None)
    return f"customer:{customer}" if customer is not None else f"address:{client_address(request)}"


class _Wrap:
    """Adapts a function that wraps an ASGI app to Starlette's middleware interface."""

    def __init__(self, app: Any, wrap: Any) -> None:
        self.app = wrap(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def request_context(
    settings: Settings,
    engine: Any,
    accounts: AccountServices | None = None,
    payments: PaymentProviders | None = None,
    live: LiveHub | None = None,
) -> ContextFactory:
    """The pipeline's context factory: a request's database handle, fresh loaders, its viewer, and the cookies
    its resolvers set (handed on by the HTTP transport through the request's state)."""
    payments = payments if payments is not None else PaymentProviders.for_settings(settings)

    @asynccontextmanager
    async def context_for(request: Any, viewer: Any) -> AsyncIterator[Context]:
        async with request_database(engine) as db:
            context = Context.for_request(settings, db, request=request, request_id=current_request_id())
            context.viewer = viewer
            context.accounts = accounts
            context.payments = payments
            context.live = live
            cookies = getattr(getattr(request, "state", None), "response_cookies", None)
            if cookies is not None:
                context.response_cookies = cookies
            try:
                yield context
            finally:
                await context.clean_up()
                context.loaders.close()

    return context_for


MAX_WEBHOOK_BYTES = 64 * 1024


def _payment_webhook(payments: PaymentProviders, engine: Any, live: LiveHub) -> Any:
    """POST /webhooks/payments/{provider}: a provider's signed event, applied once (400 when not genuine)."""
    from resolvers.payments import handle_payment_event

    async def webhook(request: Request) -> Response:
        provider = payments.named(request.path_params["provider"])
        if provider is None:
            return JSONResponse({"error": "unknown payment provider"}, status_code=404)
        if not provider.webhooks_configured:
            return JSONResponse({"error": f"the {provider.name} provider has no webhook secret"}, status_code=503)
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "the event is too large"}, status_code=413)
        try:
            event = provider.verify_webhook(body, dict(request.headers), time.time())
        except WebhookRefused as refused:
            log.warning("refused a %s payment webhook: %s", provider.name, refused)
            return JSONResponse({"error": str(refused)}, status_code=400)
        if event is None:  # genuine, but of a kind no order waits for: acknowledged, so it is not resent
            return JSONResponse({"received": True, "outcome": "ignored"})
        async with request_database(engine) as db:
            outcome = await handle_payment_event(db, provider.name, event, utcnow(), live)
        return JSONResponse({"received": True, "outcome": outcome})

    return webhook


async def _sweep_unpaid_orders(settings: Settings, engine: Any, payments: PaymentProviders, live: LiveHub) -> None:
    """Every few seconds, cancel the orders left unpaid past PAYMENT_TIMEOUT (safe with many instances),
    then their payments at the provider."""
    from resolvers.payments import cancel_payments, sweep_unpaid

    timeout = timedelta(seconds=settings.payment_timeout_seconds)
    while True:
        await asyncio.sleep(settings.sweep_interval_seconds)
        try:
            async with request_database(engine) as db:
                cancelled = await sweep_unpaid(db, timeout, utcnow(), live)
            if cancelled:
                log.info("cancelled %d orders left unpaid", len(cancelled))
                await cancel_payments(payments, cancelled)
        except Exception as exc:  # the database is down: try again next time
            log.warning("could not sweep unpaid orders: %s", type(exc).__name__)


async def _healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _readiness(engine: Any) -> Response:
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        revision = await migrate.current_revision(engine)
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    head = migrate.head_revision()
    if revision != head:
        body = {"status": "unavailable", "database": "ok", "migrations": {"current": revision, "head": head}}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "migrations": {"current": revision, "head": head}})
