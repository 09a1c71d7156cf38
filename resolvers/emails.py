"""Emails as every use case takes them: one normal form, and one rule for what may be stored."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["EMAIL_SHAPE", "MAX_EMAIL_LENGTH", "has_control_characters", "normalise_email", "valid_email"]

MAX_EMAIL_LENGTH = 320
# One @, something on each side, a dot in the domain, no spaces: deliverability is the mail's business.
EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def normalise_email(email: str) -> str:
    """The form an email is stored and compared in: NFKC, trimmed, lower-case."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def has_control_characters(text: str) -> bool:
    """Whether the text holds a control character (PostgreSQL refuses NUL; no name or address needs one)."""
    return any(unicodedata.category(character) == "Cc" for character in text)


def valid_email(email: str) -> bool:
    """Whether a (normalised) email may be stored: its shape, its length, no control characters."""
    return len(email) <= MAX_EMAIL_LENGTH and bool(EMAIL_SHAPE.match(email)) and not has_control_characters(email)
