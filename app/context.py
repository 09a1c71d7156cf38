"""The per-request context every resolver receives, and the cookies a resolver sets on the response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.db.database import RequestDatabase
from app.db.loaders import Loaders
from app.settings import Settings

__all__ = ["Context", "CookieChange", "ResponseCookies"]


@dataclass(frozen=True, slots=True)
class CookieChange:
    """A cookie to set on the response (`value` None: to clear)."""

    name: str
    value: str | None
    max_age: int | None
    http_only: bool
    secure: bool
    same_site: str = "lax"
    path: str = "/"


class ResponseCookies:
    """Cookies the resolvers of one request set or clear; an HTTP transport applies them to its response.

    Transports without cookies (a WebSocket message) ignore them.
    """

    def __init__(self) -> None:
        self.changes: list[CookieChange] = []

    def set(self, name: str, value: str, *, max_age: int, http_only: bool, secure: bool) -> None:
        """Set a cookie for `max_age` seconds, SameSite=Lax, on every path."""
        self.changes.append(CookieChange(name, value, max_age, http_only, secure))

    def clear(self, name: str, *, http_only: bool, secure: bool) -> None:
        """Clear a cookie."""
        self.changes.append(CookieChange(name, None, None, http_only, secure))


@dataclass
class Context:
    """One request's settings, database handle, fresh loaders and viewer."""

    settings: Settings
    db: RequestDatabase
    loaders: Loaders
    request: Any = None
    viewer: Any = None
    request_id: str = ""
    # per object type, the row columns the executing document reads (see app.graphql.columns)
    columns: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    # the process's account services (app.accounts.services.AccountServices), from the composition root
    accounts: Any = None
    # the process's payment providers (app.orders.payments.PaymentProviders), from the composition root
    payments: Any = None
    # the process's live-update hub (app.live.hub.LiveHub): subscriptions, and events published after commit
    live: Any = None
    # while a subscription's event executes: what lets go of the event once its result is made
    on_event_done: Callable[[], Awaitable[None]] | None = None
    # what must run when the request ends, however it ends (a subscription's hub registration, say)
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    response_cookies: ResponseCookies = field(default_factory=ResponseCookies)

    def columns_of(self, type_name: str) -> frozenset[str] | None:
        """The columns of rows of this object type the document reads; None for every column."""
        return self.columns.get(type_name)

    async def clean_up(self) -> None:
        """Run what was registered to run when the request ends, newest first."""
        while self.cleanups:
            await self.cleanups.pop()()

    async def event_done(self) -> None:
        """A subscription's event has its result: let go of what its execution shared (see resolvers.live)."""
        if self.on_event_done is not None:
            await self.on_event_done()

    async def release_database(self) -> None:
        """Return the request's connection to the pool until its next statement (a subscription, between
        its events)."""
        await self.db.release_connection()

    @property
    def request_cookies(self) -> Mapping[str, str]:
        """The cookies the request came with (none without an HTTP request)."""
        return getattr(self.request, "cookies", None) or {}

    @classmethod
    def for_request(cls, settings: Settings, db: RequestDatabase, request: Any = None, request_id: str = "") -> Context:
        """A context with loaders that belong to this request alone."""
        return cls(settings=settings, db=db, loaders=Loaders(db), request=request, request_id=request_id)
