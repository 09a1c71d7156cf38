"""Logging configuration: every line carries the id of the request it was written for."""

from __future__ import annotations

import logging
import math
import time

from app.web.request_id import current_request_id

__all__ = ["OccasionalWarning", "configure_logging"]

# Libraries whose DEBUG lines carry values: aiosqlite logs every statement with its parameters (password
# hashes, token digests), aiosmtplib the mail it sends (reset links), stripe the bodies of its API answers
# (client secrets). They never log below INFO, even
# with LOG_LEVEL=DEBUG.
VALUE_LOGGING_LIBRARIES = ("aiosqlite", "aiosmtplib", "stripe")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


def configure_logging(level: str) -> None:
    """Log to stderr with the request id on every line; idempotent."""
    root = logging.getLogger()
    root.setLevel(level)
    for name in VALUE_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(logging.INFO)
    if any(getattr(handler, "_storefront", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._storefront = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)


class OccasionalWarning:
    """A warning about a dependency out of reach, logged at most once a minute (every request meeting it
    must not flood the log). `message` has one `%s`, for the exception's type."""

    EVERY_SECONDS = 60.0

    def __init__(self, logger: logging.Logger, message: str) -> None:
        self.logger = logger
        self.message = message
        self._warned_at = -math.inf

    def __call__(self, exc: BaseException) -> None:
        """Log the warning for this exception, unless it was logged within the minute."""
        now = time.monotonic()
        if now - self._warned_at >= self.EVERY_SECONDS:
            self._warned_at = now
            self.logger.warning(self.message, type(exc).__name__)
