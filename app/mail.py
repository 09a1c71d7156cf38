"""Outgoing mail: SMTP through aiosmtplib when `SMTP_URL` is set; in development without it, the log.

`SMTP_URL` is `smtp://[user:password@]host[:port]` (STARTTLS when the server offers it) or
`smtps://...` (TLS from the first byte, port 465 by default). Messages are sent in the background, once the
transaction that queued them has committed, so a slow mail server never holds a response (nor tells, by
its timing, whether an account exists); a failure is logged without the message's content.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

__all__ = ["LogMailer", "Mailer", "SmtpMailer", "mailer_for"]

log = logging.getLogger("storefront.mail")


class Mailer(Protocol):
    """Sends messages in the background."""

    def send_later(self, message: EmailMessage) -> None:
        """Send the message soon, without waiting for it."""

    async def drain(self) -> None:
        """Wait for every message handed over so far (at shutdown)."""


class _Background:
    """The background sends of a mailer: kept referenced until done, awaited at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def send_later(self, message: EmailMessage) -> None:
        task = asyncio.get_running_loop().create_task(self._send_logged(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _send_logged(self, message: EmailMessage) -> None:
        try:
            await self.send(message)
        except Exception as exc:  # the mail server is down or refused: the request already answered
            log.error("could not send the %r mail: %s", message["Subject"], type(exc).__name__)

    async def send(self, message: EmailMessage) -> None:
        raise NotImplementedError


class SmtpMailer(_Background):
    """Sends over SMTP to the server of an `smtp://` or `smtps://` URL."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        super().__init__()
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
        self.use_tls = parts.scheme == "smtps"
        self.hostname = parts.hostname
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        """Send one message now."""
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            timeout=self.timeout,
        )


class LogMailer(_Background):
    """Development without a mail server: the message (links included) goes to the log, for the developer."""

    async def send(self, message: EmailMessage) -> None:
        """Log the message."""
        log.warning(
            "SMTP_URL is not set; the %r mail to %s would say:\n%s",
            message["Subject"],
            message["To"],
            message.get_content(),
        )


def mailer_for(smtp_url: str | None, environment: str) -> Mailer | None:
    """The mailer of the settings: SMTP when configured, the log in development, else None (no mail)."""
    if smtp_url:
        return SmtpMailer(smtp_url)
    if environment == "development":
        return LogMailer()
    return None
