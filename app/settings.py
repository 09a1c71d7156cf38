"""Settings read from the environment once, at start, and validated with a clear message."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["DEFAULT_SECRET_KEY", "Secret", "Settings", "SettingsError", "load_settings"]

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"
ENVIRONMENTS = ("development", "production", "test")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class SettingsError(ValueError):
    """A setting has a value the service cannot start with."""


class Secret:
    """A string that never shows its value in repr(), str() or logs."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value; call only where it is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


STRIPE_KEY_DAYS = 1  # how long Stripe keeps an idempotency key


def default_database_url() -> str:
    """The embedded SQLite database under ./var, used when DATABASE_URL is unset."""
    return f"sqlite+aiosqlite:///{Path('var') / 'storefront.db'}"


@dataclass(frozen=True)
class Settings:
    """Validated configuration of one service process."""

    database_url: str = field(default_factory=default_database_url)
    environment: str = "development"
    secret_key: Secret = field(default_factory=lambda: Secret(DEFAULT_SECRET_KEY))
    # the key before the last rotation: tokens it signed are still accepted, none is signed with it
    secret_key_previous: Secret | None = None
    log_level: str = "INFO"
    redis_url: str | None = None
    currency_code: str = "USD"
    image_cdn_base: str = ""
    # Overflow connections are closed as they come back, so a burst past the pool's size would open and close
    # PostgreSQL connections (a server process each, and every prepared statement again): the pool holds
    # all of a process's connections instead, opened as they are first needed.
    db_pool_size: int = 10
    db_max_overflow: int = 0
    db_pool_timeout: float = 10.0
    max_page_size: int = 100
    fast_executor: bool = True
    smtp_url: Secret | None = None  # it may carry the mail server's password
    mail_from: str = "Storefront <no-reply@localhost>"
    # where a password-reset link points: the storefront's page that asks for the new password
    password_reset_url: str = "http://localhost:5173/account/reset-password?token={token}"
    payment_webhook_secret: Secret | None = None  # verifies the test provider's webhooks
    payment_timeout_seconds: int = 1800  # an order left PAYMENT_PENDING longer is cancelled
    sweep_interval_seconds: float = 30.0
    request_timeout_seconds: float = 10.0  # a query or mutation's deadline (and PostgreSQL's statement_timeout)
    introspection: str = ""  # on, staff or off; unset: staff in production, on elsewhere
    max_query_depth: int = 15  # nested selections an operation may have
    max_aliases: int = 30  # aliased fields an operation may have, fragments counted each time they are spread
    # browser origins (scheme://host[:port]) that may call the API from another origin, with credentials
    cors_origins: tuple[str, ...] = ()
    max_directives: int = 50  # directives an operation may use, fragments counted each time they are spread
    max_fields: int = 250  # fields an operation may select, the same way (introspection aside)
    max_tokens: int = 5_000  # lexical tokens a document may have: the parser stops past them
    max_query_cost: int = 10_000  # the most points one operation may cost (see app.graphql.cost)
    rate_limit_points: int = 20_000  # each client's bucket of cost points; 0: no rate limit
    rate_limit_restore_rate: int = 1_000  # points a second a bucket refills
    trusted_documents_only: bool = False  # only operations imported from clients' manifests run (staff aside)
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks whose X-Forwarded-For is believed
    subscriptions_per_connection: int = 50  # GraphQL operations at once on one WebSocket
    subscriptions_per_process: int = 10_000
    stripe_secret_key: Secret | None = None  # enables the `stripe` payment provider
    stripe_webhook_secret: Secret | None = None  # the webhook endpoint's signing secret (whsec_...)
    stripe_api_base: str = "https://api.stripe.com"  # another base only for a local stub or a proxy

    def __post_init__(self) -> None:
        _check_choice("STOREFRONT_ENV", self.environment, ENVIRONMENTS)
        _check_choice("LOG_LEVEL", self.log_level, LOG_LEVELS)
        _check_database_url(self.database_url)
        if self.environment == "production" and self.secret_key.reveal() in ("", DEFAULT_SECRET_KEY):
            raise SettingsError("SECRET_KEY must be set to a private value when STOREFRONT_ENV=production")
        if self.environment == "production" and len(self.secret_key.reveal()) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters long in production")
        if "{token}" not in self.password_reset_url:
            raise SettingsError("PASSWORD_RESET_URL must contain {token}, where the reset token goes")
        if self.smtp_url is not None and not self.smtp_url.reveal().startswith(("smtp://", "smtps://")):
            raise SettingsError("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
        if not self.stripe_api_base.startswith(("https://", "http://")) or (
            self.environment == "production" and not self.stripe_api_base.startswith("https://")
        ):
            raise SettingsError("STRIPE_API_BASE must be an https:// URL (http:// only outside production)")
        self._check_stripe()
        _check_choice("INTROSPECTION", self.introspection, ("", "on", "staff", "off"))
        for origin in self.cors_origins:
            _check_origin(origin)
        for proxy in self.trusted_proxies:
            _check_proxy(proxy)
        if self.rate_limit_points and self.rate_limit_points < self.max_query_cost:
            raise SettingsError(
                f"RATE_LIMIT_POINTS ({self.rate_limit_points}) must be at least MAX_QUERY_COST "
                f"({self.max_query_cost}), or 0 for no rate limit: a smaller bucket never holds the dearest query"
            )
        if len(self.currency_code) != 3 or not self.currency_code.isalpha():
            raise SettingsError(f"CURRENCY_CODE must be an ISO 4217 code such as USD, got {self.currency_code!r}")

    def _check_stripe(self) -> None:
        key = self.stripe_secret_key
        if key is None:
            return
        if not key.reveal().startswith(("sk_", "rk_")):
            raise SettingsError("STRIPE_SECRET_KEY must be a secret or restricted key (sk_... or rk_...)")
        if self.environment == "production" and self.stripe_webhook_secret is None:
            raise SettingsError(
                "STRIPE_WEBHOOK_SECRET must be set with STRIPE_SECRET_KEY: without webhooks no order is paid"
            )
        if self.payment_timeout_seconds > STRIPE_KEY_DAYS * 86400:
            raise SettingsError(
                "PAYMENT_TIMEOUT must be at most 86400 with stripe (Stripe keeps idempotency keys 24 hours)"
            )

    @property
    def introspection_mode(self) -> str:
        """Who may introspect: INTROSPECTION, else staff only in production and everyone elsewhere."""
        return self.introspection or ("staff" if self.environment == "production" else "on")

    @property
    def url(self) -> URL:
        """The parsed SQLAlchemy URL of the database."""
        return make_url(self.database_url)

    @property
    def namespace(self) -> str:
        """A short name for the database, for what instances share through Redis (channels, buckets): only
        the instances of one database share them (another database's customer 7 is another customer)."""
        url = self.url
        where = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
        return hashlib.sha256(where.encode()).hexdigest()[:16]

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.url.get_backend_name() == "sqlite"

    @property
    def debug(self) -> bool:
        """True in development, where GraphiQL and unmasked errors are fine."""
        return self.environment == "development"


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_database_url(value: str) -> None:
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise SettingsError(f"DATABASE_URL is not a valid SQLAlchemy URL: {exc}") from None
    if url.drivername not in SUPPORTED_DRIVERS:
        raise SettingsError(
            f"DATABASE_URL must use one of {', '.join(SUPPORTED_DRIVERS)}; got driver {url.drivername!r}"
        )


def _check_origin(origin: str) -> None:
    parts = urlsplit(origin)
    exact = parts.scheme in ("http", "https") and parts.netloc and not parts.path and not parts.query
    if not exact or "*" in origin:
        raise SettingsError(f"CORS_ORIGINS holds exact origins such as http://localhost:5173; got {origin!r}")


def _check_proxy(proxy: str) -> None:
    try:
        ipaddress.ip_network(proxy)  # strictly, as uvicorn reads it: 10.0.0.1/8 would match nothing there
    except ValueError:
        raise SettingsError(
            f"TRUSTED_PROXIES holds addresses or networks such as 10.0.0.0/8 or 127.0.0.1 (no host bits set in "
            f"a network); got {proxy!r}"
        ) from None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number; got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}; got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false; got {raw!r}")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (or the given mapping); raise SettingsError on a bad value."""
    env = os.environ if env is None else env
    return Settings(
        database_url=env.get("DATABASE_URL") or default_database_url(),
        environment=env.get("STOREFRONT_ENV", "development").strip().lower(),
        secret_key=Secret(env.get("SECRET_KEY") or DEFAULT_SECRET_KEY),
        secret_key_previous=Secret(env["SECRET_KEY_PREVIOUS"]) if env.get("SECRET_KEY_PREVIOUS") else None,
        log_level=env.get("LOG_LEVEL", "INFO").strip().upper(),
        redis_url=env.get("REDIS_URL") or None,
        currency_code=env.get("CURRENCY_CODE", "USD").strip().upper(),
        image_cdn_base=env.get("IMAGE_CDN_BASE", "").rstrip("/"),
        db_pool_size=_int(env, "DB_POOL_SIZE", 10, minimum=1),
        db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 0),
        max_page_size=100,
        fast_executor=_bool(env, "FAST_EXECUTOR", True),
        smtp_url=Secret(env["SMTP_URL"]) if env.get("SMTP_URL") else None,
        mail_from=env.get("MAIL_FROM") or Settings.mail_from,
        password_reset_url=env.get("PASSWORD_RESET_URL") or Settings.password_reset_url,
        payment_webhook_secret=Secret(env["PAYMENT_WEBHOOK_SECRET"]) if env.get("PAYMENT_WEBHOOK_SECRET") else None,
        payment_timeout_seconds=_int(env, "PAYMENT_TIMEOUT", 1800, minimum=1),
        cors_origins=tuple(
            origin.strip().rstrip("/") for origin in env.get("CORS_ORIGINS", "").split(",") if origin.strip()
        ),
        request_timeout_seconds=float(_int(env, "REQUEST_TIMEOUT", 10, minimum=1)),
        introspection=env.get("INTROSPECTION", "").strip().lower(),
        max_query_depth=_int(env, "MAX_QUERY_DEPTH", 15, minimum=1),
        max_aliases=_int(env, "MAX_ALIASES", 30, minimum=0),
        max_directives=_int(env, "MAX_DIRECTIVES", Settings.max_directives),
        max_fields=_int(env, "MAX_FIELDS", Settings.max_fields, minimum=1),
        max_tokens=_int(env, "MAX_TOKENS", Settings.max_tokens, minimum=1),
        max_query_cost=_int(env, "MAX_QUERY_COST", Settings.max_query_cost, minimum=1),
        rate_limit_points=_int(env, "RATE_LIMIT_POINTS", Settings.rate_limit_points),
        rate_limit_restore_rate=_int(env, "RATE_LIMIT_RESTORE_RATE", Settings.rate_limit_restore_rate, minimum=1),
        trusted_proxies=_list(env, "TRUSTED_PROXIES"),
        trusted_documents_only=_bool(env, "TRUSTED_DOCUMENTS_ONLY", False),
        subscriptions_per_connection=_int(env, "SUBSCRIPTIONS_PER_CONNECTION", 50, minimum=1),
        subscriptions_per_process=_int(env, "SUBSCRIPTIONS_PER_PROCESS", 10_000, minimum=1),
        stripe_secret_key=Secret(env["STRIPE_SECRET_KEY"]) if env.get("STRIPE_SECRET_KEY") else None,
        stripe_webhook_secret=Secret(env["STRIPE_WEBHOOK_SECRET"]) if env.get("STRIPE_WEBHOOK_SECRET") else None,
        stripe_api_base=(env.get("STRIPE_API_BASE") or Settings.stripe_api_base).rstrip("/"),
    )
