"""Logging configuration: every line carries the id of the request it was written for."""

from __future__ import annotations

import logging

from app.web.request_id import current_request_id

__all__ = ["configure_logging"]

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
