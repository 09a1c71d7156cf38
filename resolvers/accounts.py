"""Account use cases: sign-up, sign-in (bearer tokens or the session cookie), refresh, sign-out, the viewer.

Every expected failure is an `AccountFailure` with a code and the input path it is about; the schema turns
it into a payload error. A failure raised inside a transaction rolls it back, so it changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.accounts import sql
from app.accounts.authentication import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Viewer,
    join_session_cookie,
    split_session_cookie,
)
from app.accounts.loaders import CustomerByIdLoader
from app.accounts.passwords import password_weakness
from app.accounts.services import AccountServices
from app.accounts.tokens import REFRESH_TOKEN_LIFETIME, new_secret, new_session_id
from app.context import Context
from app.db.base import utcnow
from app.errors import DomainError, DomainErrors
from app.throttle import Throttle
from app.web.client_address import client_address
from resolvers.cart import merge_guest_cart
from resolvers.emails import MAX_EMAIL_LENGTH, has_control_characters, normalise_email, valid_email

__all__ = [
    "AccountFailure",
    "AccountFailures",
    "SignedIn",
    "can_see_private_fields",
    "customer",
    "customer_create",
    "customer_login",
    "customer_logout",
    "customer_recover",
    "customer_reset_password",
    "customer_update",
    "normalise_email",
    "signed_in_viewer",
    "token_refresh",
    "valid_email",
    "viewer",
]

log = logging.getLogger("storefront.accounts")
MAX_DISPLAY_NAME_LENGTH = 120
COOKIE_MAX_AGE = int(REFRESH_TOKEN_LIFETIME.total_seconds())


class AccountFailure(DomainError):
    """An expected failure of an account operation, shown as a payload error (`retry_after`: THROTTLED's wait)."""

    def __init__(
        self, code: str, message: str, field: tuple[str, ...] | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.retry_after = retry_after


class AccountFailures(DomainErrors):
    """Several expected failures at once (one per input field at fault)."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new pair of tokens (None in cookie mode, where they went into the cookie) and its customer."""

    access_token: str | None
    refresh_token: str | None
    expires_at: datetime
    customer_id: int


def _services(ctx: Context) -> AccountServices:
    services: AccountServices = ctx.accounts
    return services


def can_see_private_fields(viewer: Viewer | None, customer_id: int) -> bool:
    """Whether the viewer may read this customer's private fields: the customer and staff only."""
    return viewer is not None and (viewer.is_staff or viewer.customer_id == customer_id)


async def customer_create(ctx: Context, email: str, password: str, display_name: str) -> Any:
    """Sign up: a new customer with a unique email and a strong password; its row."""
    email = normalise_email(email)
    _check_email(email, ("input", "email"))
    display_name = _display_name(display_name)
    weakness = password_weakness(password, email)
    if weakness is not None:
        raise AccountFailure("PASSWORD_TOO_WEAK", weakness, ("input", "password"))
    password_hash = await _services(ctx).passwords.hash(password)
    async with ctx.db.transaction():
        if await sql.customer_by_email(ctx.db, email) is not None:
            raise _email_taken()
        try:
            async with ctx.db.transaction():  # a savepoint: a concurrent sign-up's row fails only this insert
                return await sql.create_customer(ctx.db, email, display_name, password_hash, utcnow())
        except IntegrityError:
            raise _email_taken() from None


def _email_taken() -> AccountFailure:
    return AccountFailure("TAKEN", "An account with this email already exists", ("input", "email"))


def _check_email(email: str, field: tuple[str, ...]) -> None:
    if not valid_email(email):
        raise AccountFailure("INVALID", "Enter a valid email address", field)


async def customer_login(
    ctx: Context, email: str, password: str, use_cookie: bool, cart_id: str | None = None
) -> SignedIn:
    """Sign in with email and password: a new session, its tokens (or, with `use_cookie`, the cookies).
    A guest cart passed as `cart_id` becomes the customer's, or joins their open cart.

    An unknown email and a wrong password fail alike, after the same password verification.
    """
    services = _services(ctx)
    email = normalise_email(email)
    throttles = services.throttles
    address = _client_address(ctx)
    await _attempt(((throttles.sign_in_email, email), (throttles.sign_in_address, address)), "sign-in")
    found = await _account_of(ctx, email)
    verification = await services.passwords.verify(found.password_hash if found is not None else None, password)
    if found is None or not verification.matched:
        raise AccountFailure("INVALID_CREDENTIALS", "The email or the password is not right")
    await throttles.sign_in_email.clear(email)
    await throttles.sign_in_address.forgive(address)
    now = utcnow()
    session_id, refresh_token = new_session_id(), new_secret()
    async with ctx.db.transaction():
        if verification.needs_rehash:  # the hashing parameters changed since this password was set
            await sql.set_password_hash(ctx.db, found.id, await services.passwords.hash(password))
        await sql.create_session(ctx.db, session_id, found.id, refresh_token, cookie=use_cookie, now=now)
    if cart_id is not None:
        try:
            await merge_guest_cart(ctx, found.id, cart_id)
        except Exception:  # the session is made: a cart that cannot be merged must not lose it its tokens
            log.exception("could not merge a guest cart at sign-in")
    return _signed_in(ctx, found.id, found.role, session_id, refresh_token, now, use_cookie)


async def _account_of(ctx: Context, email: str) -> Any:
    """The customer of an email typed at sign-in or recovery; None when there is none (or it cannot be one)."""
    if len(email) > MAX_EMAIL_LENGTH or has_control_characters(email):
        return None
    return await sql.customer_by_email(ctx.db, email)


def _client_address(ctx: Context) -> str:
    """Where the request comes from, for throttles (see app.web.client_address)."""
    return client_address(ctx.request)


async def _attempt(keys: tuple[tuple[Throttle, str], ...], what: str) -> None:
    """Count the attempt under every throttle first, then refuse it if any says wait."""
    wait = max([await throttle.attempt(key) for throttle, key in keys])
    if wait:
        raise AccountFailure("THROTTLED", f"Too many {what} attempts; try again in {wait} seconds", retry_after=wait)


def _signed_in(
    ctx: Context, customer_id: int, role: str, session_id: str, refresh_token: str, now: datetime, cookie: bool
) -> SignedIn:
    services = _services(ctx)
    access_token, expires_at = services.tokens.issue(customer_id, role, session_id, now)
    if not cookie:
        return SignedIn(access_token, refresh_token, expires_at, customer_id)
    secure = services.secure_cookies
    cookies = ctx.response_cookies
    value = join_session_cookie(access_token, refresh_token)
    cookies.set(SESSION_COOKIE, value, max_age=COOKIE_MAX_AGE, http_only=True, secure=secure)
    # A new CSRF value with every new cookie: a value planted before sign-in (cookie tossing) is never kept.
    cookies.set(CSRF_COOKIE, new_secret(), max_age=COOKIE_MAX_AGE, http_only=False, secure=secure)
    return SignedIn(None, None, expires_at, customer_id)


def _clear_cookies(ctx: Context) -> None:
    secure = _services(ctx).secure_cookies
    ctx.response_cookies.clear(SESSION_COOKIE, http_only=True, secure=secure)
    ctx.response_cookies.clear(CSRF_COOKIE, http_only=False, secure=secure)


async def token_refresh(ctx: Context, refresh_token: str | None) -> SignedIn:
    """Rotate a refresh token: a new pair, the old token used up. Without one, the session cookie's.

    A refresh token presented a second time means it leaked: the whole session is revoked, with every
    token it issued, and the answer is TOKEN_REUSED.
    """
    cookie_mode = refresh_token is None
    if cookie_mode:
        tokens = split_session_cookie(ctx.request_cookies.get(SESSION_COOKIE))
        if tokens is None:
            raise AccountFailure("INVALID_TOKEN", "Pass `refreshToken`, or sign in with `useCookie: true` first")
        refresh_token = tokens[1]
    assert refresh_token is not None
    now = utcnow()
    next_token = new_secret()
    reused_session: str | None = None
    session: sql.RefreshedSession | None = None
    async with ctx.db.transaction():
        session_id = await sql.use_refresh_token(ctx.db, refresh_token, now)
        if session_id is None:
            stored = await sql.find_refresh_token(ctx.db, refresh_token)
            if stored is not None and stored.used_at is not None:
                reused_session = stored.session_id
                await sql.revoke_session(ctx.db, stored.session_id, now)
        else:
            session = await sql.session_of_refresh_token(ctx.db, session_id, now)
            if session is not None:
                await sql.rotate_refresh_token(ctx.db, session.session_id, next_token, now)
    if reused_session is not None:  # committed: the revocation holds although the request fails
        _services(ctx).revocations.add(reused_session, now)
        if cookie_mode:
            _clear_cookies(ctx)
        raise AccountFailure(
            "TOKEN_REUSED", "This refresh token was already used; every token of its sign-in is revoked"
        )
    if session is None:
        if cookie_mode:
            _clear_cookies(ctx)
        raise AccountFailure("INVALID_TOKEN", "The refresh token is unknown, expired or signed out; sign in again")
    return _signed_in(ctx, session.customer_id, session.role, session.session_id, next_token, now, cookie_mode)


async def customer_logout(ctx: Context, refresh_token: str | None = None) -> None:
    """Sign out: revoke the current session (bearer or cookie) and clear the cookies. With `refresh_token`,
    the session of that token: a client whose access token has expired can still end its session."""
    viewer: Viewer | None = ctx.viewer
    cookie_tokens = split_session_cookie(ctx.request_cookies.get(SESSION_COOKIE))
    session_id = viewer.session_id if viewer is not None else None
    presented = refresh_token or (cookie_tokens[1] if cookie_tokens is not None else None)
    if session_id is None and presented is not None:  # a stale session: its refresh token names it
        stored = await sql.find_refresh_token(ctx.db, presented)
        session_id = stored.session_id if stored is not None else None
    if cookie_tokens is not None:
        _clear_cookies(ctx)
    if session_id is None:
        if cookie_tokens is not None:
            return  # nothing left to revoke; the cookies are cleared
        raise AccountFailure("UNAUTHENTICATED", "Nobody is signed in on this request")
    now = utcnow()
    async with ctx.db.transaction():
        await sql.revoke_session(ctx.db, session_id, now)
    _services(ctx).revocations.add(session_id, now)


async def viewer(ctx: Context) -> Any:
    """The signed-in customer's row, or None for an anonymous request."""
    current: Viewer | None = ctx.viewer
    if current is None:
        return None
    return await customer(ctx, current.customer_id)


async def customer(ctx: Context, customer_id: int) -> Any:
    """A customer's row by id (through the request's loader), or None."""
    return await ctx.loaders.get(CustomerByIdLoader).load(customer_id)


def signed_in_viewer(ctx: Context) -> Viewer:
    """The request's signed-in customer; an UNAUTHENTICATED failure for an anonymous request."""
    current: Viewer | None = ctx.viewer
    if current is None:
        raise AccountFailure("UNAUTHENTICATED", "Sign in first")
    return current


async def customer_update(
    ctx: Context,
    *,
    display_name: str | None = None,
    email: str | None = None,
    password: str | None = None,
    current_password: str | None = None,
) -> Any:
    """Change the viewer's display name, email or password; a new email or password needs the current
    password, and a new password signs out every other session. The customer's row as it is now."""
    viewer = signed_in_viewer(ctx)
    services = _services(ctx)
    changes: dict[str, Any] = {}
    if display_name is not None:
        changes["display_name"] = _display_name(display_name)
    if email is not None:
        email = normalise_email(email)
        _check_email(email, ("input", "email"))
    async with ctx.db.transaction():
        found = await sql.customer_with_hash(ctx.db, viewer.customer_id)
        if found is None:
            raise AccountFailure("UNAUTHENTICATED", "The signed-in account no longer exists")
        if email is not None and email != found.email:
            changes["email"] = email
        if password is not None or "email" in changes:
            await _check_current_password(services, found, current_password)
        if password is not None:
            weakness = password_weakness(password, changes.get("email", found.email))
            if weakness is not None:
                raise AccountFailure("PASSWORD_TOO_WEAK", weakness, ("input", "password"))
            changes["password_hash"] = await services.passwords.hash(password)
        if "email" in changes and await sql.customer_by_email(ctx.db, changes["email"]) is not None:
            raise _email_taken()
        row = await _save(ctx, viewer.customer_id, changes) if changes else found
        if password is not None or "email" in changes:  # a reset link mailed before must not undo this
            await sql.void_password_resets(ctx.db, viewer.customer_id, utcnow())
        revoked = (
            await sql.revoke_sessions(ctx.db, viewer.customer_id, utcnow(), keep=viewer.session_id)
            if password is not None
            else []
        )
    _revoked(ctx, revoked)
    return row


async def _save(ctx: Context, customer_id: int, changes: dict[str, Any]) -> Any:
    try:
        async with ctx.db.transaction():  # a savepoint: a concurrent change to the same email fails only this
            return await sql.update_customer(ctx.db, customer_id, **changes)
    except IntegrityError:
        raise _email_taken() from None


async def _check_current_password(services: AccountServices, found: Any, current_password: str | None) -> None:
    if not current_password:
        raise AccountFailure(
            "INVALID", "A new email or password needs the current password", ("input", "currentPassword")
        )
    # A stolen session must not guess the password without limit: the sign-in throttle of the account.
    await _attempt(((services.throttles.sign_in_email, found.email),), "password")
    if not (await services.passwords.verify(found.password_hash, current_password)).matched:
        raise AccountFailure("INVALID_CREDENTIALS", "The current password is not right", ("input", "currentPassword"))
    await services.throttles.sign_in_email.clear(found.email)


def _display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if not display_name or len(display_name) > MAX_DISPLAY_NAME_LENGTH or has_control_characters(display_name):
        message = f"The display name must be 1 to {MAX_DISPLAY_NAME_LENGTH} characters long, without control characters"
        raise AccountFailure("INVALID", message, ("input", "displayName"))
    return display_name


def _revoked(ctx: Context, session_ids: list[str]) -> None:
    now = utcnow()
    for session_id in session_ids:
        _services(ctx).revocations.add(session_id, now)


async def customer_recover(ctx: Context, email: str) -> None:
    """Send a password-reset link to the account of this email, if there is one; the answer is the same
    either way (no account enumeration). The mail goes out once the token is committed."""
    services = _services(ctx)
    if services.mailer is None:
        raise AccountFailure("UNAVAILABLE", "Password recovery is not available: the service cannot send mail")
    email = normalise_email(email)
    throttles = services.throttles
    keys = ((throttles.recovery_email, email), (throttles.recovery_address, _client_address(ctx)))
    await _attempt(keys, "recovery")
    found = await _account_of(ctx, email)
    if found is None or found.password_hash is None:
        return
    token = new_secret()
    message = _reset_message(services, found.email, token)
    mailer = services.mailer
    async with ctx.db.transaction():
        await sql.add_password_reset(ctx.db, found.id, token, utcnow())
        ctx.db.after_commit(lambda: mailer.send_later(message))


def _reset_message(services: AccountServices, to: str, token: str) -> EmailMessage:
    settings = services.settings
    message = EmailMessage()
    message["Subject"] = "Reset your password"
    message["From"] = settings.mail_from
    message["To"] = to
    link = settings.password_reset_url.replace("{token}", token)
    message.set_content(
        "Someone asked to reset the password of your account.\n\n"
        f"To choose a new password, open this link within the hour:\n{link}\n\n"
        "If it was not you, ignore this message: your password stays as it is.\n"
    )
    return message


async def customer_reset_password(ctx: Context, token: str, password: str) -> Any:
    """Set a new password with a reset token (single use, one hour) and sign out every session."""
    now = utcnow()
    async with ctx.db.transaction():
        customer_id = await sql.use_password_reset(ctx.db, token, now)
        if customer_id is None:
            raise AccountFailure(
                "INVALID_TOKEN", "The reset link is unknown, used or expired; ask for a new one", ("token",)
            )
        found = await sql.customer_with_hash(ctx.db, customer_id)
        weakness = password_weakness(password, found.email)
        if weakness is not None:
            raise AccountFailure("PASSWORD_TOO_WEAK", weakness, ("password",))
        password_hash = await _services(ctx).passwords.hash(password)
        row = await sql.update_customer(ctx.db, customer_id, password_hash=password_hash)
        await sql.void_password_resets(ctx.db, customer_id, now)  # the other links mailed before
        revoked = await sql.revoke_sessions(ctx.db, customer_id, now)
    _revoked(ctx, revoked)
    return row
