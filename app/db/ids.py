"""Opaque Relay global IDs: base64url of "Type:primary key", for the types of the node registry."""

from __future__ import annotations

import base64
import binascii

from app.db import registry
from app.errors import UserInputError

__all__ = ["decode_global_id", "encode_global_id", "pk_of"]

MAX_ID_LENGTH = 200
MAX_PRIMARY_KEY = 2**31 - 1  # primary keys are 32-bit INTEGER columns


def encode_global_id(type_name: str, pk: int) -> str:
    """Encode a type name and integer primary key as an opaque ID."""
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def decode_global_id(value: str, expected: str | None = None, field: str = "id") -> tuple[str, int]:
    """Decode an opaque ID to (type name, primary key); raise UserInputError when it is malformed or
    names a type that is not registered (`app.db.registry`).

    With `expected`, an ID of another type is an error too; `field` names the argument in the error.
    """
    type_name, pk = _decode(value, field)
    if expected is not None and type_name != expected:
        raise UserInputError(f"Expected a {expected} ID, got a {type_name} ID: {value!r}", field=field)
    return type_name, pk


def pk_of(value: str, type_name: str) -> int | None:
    """The primary key an ID of this type names; None for a malformed ID or one of another type (for use
    cases that answer NOT_FOUND rather than an input error)."""
    try:
        found, pk = _decode(value, "id")
    except UserInputError:
        return None
    return pk if found == type_name else None


def _decode(value: str, field: str) -> tuple[str, int]:
    malformed = UserInputError(f"Malformed global ID: {value[:MAX_ID_LENGTH]!r}", field=field)
    if not value or len(value) > MAX_ID_LENGTH:
        raise malformed
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise malformed from None
    type_name, sep, pk_text = raw.partition(":")
    if (
        not sep
        or registry.node_type(type_name) is None
        or not (pk_text.isascii() and pk_text.isdigit())  # str.isdigit alone takes "²", which int() refuses
        or len(pk_text) > 18
    ):
        raise malformed
    pk = int(pk_text)
    if not 1 <= pk <= MAX_PRIMARY_KEY or encode_global_id(type_name, pk) != value.rstrip("="):
        raise malformed
    return type_name, pk
