"""Clients' operation manifests, read and imported as trusted documents.

Three shapes are read:
- Apollo's persisted query manifest (`generate-persisted-query-manifest`): `{"format":
  "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "name", "type", "body"}]}`, each
  `id` the SHA-256 of its `body`;
- Relay's (`persistConfig`) and GraphQL Code Generator's (client preset, `persistedDocuments`): a JSON object
  mapping each document's ID to its text. An ID of 64 hex digits must be the text's SHA-256; any other is
  the client's own (Relay's MD5, say) and kept as it is.

An import is all or nothing: every document must parse and validate against the schema, and an ID already
imported must keep its text (a client that changes an operation gives it a new ID).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app.persisted.models import PersistedDocument
from app.persisted.store import sha256_of

__all__ = ["ImportReport", "ManifestEntry", "ManifestError", "import_documents", "read_manifest"]

APOLLO_FORMAT = "apollo-persisted-query-manifest"
MAX_ID_CHARS = 200
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

Validate = Callable[[str], list[str]]  # a document's text -> its errors (none when valid)


class ManifestError(ValueError):
    """A manifest that cannot be imported, with what is wrong in it."""


@dataclass(frozen=True)
class ManifestEntry:
    """One operation of a manifest."""

    document_id: str
    body: str
    name: str | None = None


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    added: int
    unchanged: int


def read_manifest(data: bytes) -> list[ManifestEntry]:
    """The operations of a manifest's bytes (any of the three shapes); ManifestError when malformed."""
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"the manifest is not valid JSON: {exc.msg}") from None
    if not isinstance(manifest, dict):
        raise ManifestError("a manifest is a JSON object")
    entries = _apollo(manifest) if manifest.get("format") == APOLLO_FORMAT else _id_map(manifest)
    if not entries:
        raise ManifestError("the manifest holds no operations")
    for entry in entries:
        _check(entry)
    return entries


def _apollo(manifest: dict[str, Any]) -> list[ManifestEntry]:
    if manifest.get("version") != 1:
        raise ManifestError(f"only version 1 of {APOLLO_FORMAT} is read; got {manifest.get('version')!r}")
    operations = manifest.get("operations")
    if not isinstance(operations, list):
        raise ManifestError("`operations` must be a list")
    entries = []
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("id"), str):
            raise ManifestError(f"operations[{index}] needs a string `id` and `body`")
        body, name = operation.get("body"), operation.get("name")
        if not isinstance(body, str):
            raise ManifestError(f"operations[{index}] needs a string `id` and `body`")
        if sha256_of(body) != operation["id"].lower():
            raise ManifestError(f"operations[{index}] ({name or 'unnamed'}): `id` is not the SHA-256 of `body`")
        entries.append(ManifestEntry(operation["id"].lower(), body, name if isinstance(name, str) else None))
    return entries


def _id_map(manifest: dict[str, Any]) -> list[ManifestEntry]:
    entries = []
    for document_id, body in manifest.items():
        if not isinstance(body, str):
            raise ManifestError(f"document {document_id!r}: its text must be a string")
        if _SHA256.fullmatch(document_id):
            if sha256_of(body) != document_id.lower():
                raise ManifestError(f"document {document_id!r}: a 64-hex-digit ID must be the text's SHA-256")
            document_id = document_id.lower()
        entries.append(ManifestEntry(document_id, body))
    return entries


def _check(entry: ManifestEntry) -> None:
    if not 0 < len(entry.document_id) <= MAX_ID_CHARS:
        raise ManifestError(f"document IDs have 1 to {MAX_ID_CHARS} characters; got {entry.document_id[:40]!r}...")
    if not entry.body.strip():
        raise ManifestError(f"document {entry.document_id!r} is empty")


async def import_documents(
    engine: Any, entries: Sequence[ManifestEntry], validate: Validate, client_name: str | None = None
) -> ImportReport:
    """Add a manifest's documents in one transaction, after checking every one (see the module docstring)."""
    problems = [
        f"{entry.name or entry.document_id}: {'; '.join(errors)}"
        for entry in entries
        if (errors := validate(entry.body))
    ]
    if problems:
        raise ManifestError("these documents do not validate against the schema:\n  " + "\n  ".join(problems))
    wanted: dict[str, ManifestEntry] = {}
    for entry in entries:
        if wanted.setdefault(entry.document_id, entry).body != entry.body:
            raise ManifestError(f"document {entry.document_id!r} appears twice with different texts")
    try:
        return await _insert_new(engine, wanted, client_name)
    except IntegrityError:  # another import added one of these documents meanwhile
        raise ManifestError("another import added some of these documents meanwhile; run it again") from None


async def _insert_new(engine: Any, wanted: dict[str, ManifestEntry], client_name: str | None) -> ImportReport:
    async with engine.begin() as connection:
        query = select(PersistedDocument.document_id, PersistedDocument.body)
        existing = dict((await connection.execute(query.where(PersistedDocument.document_id.in_(wanted)))).all())
        changed = [document_id for document_id, body in existing.items() if wanted[document_id].body != body]
        if changed:
            raise ManifestError(
                f"already imported with another text: {', '.join(sorted(changed))} (give a changed operation a new ID)"
            )
        new = [entry for document_id, entry in wanted.items() if document_id not in existing]
        if new:
            await connection.execute(
                insert(PersistedDocument),
                [
                    {
                        "document_id": entry.document_id,
                        "sha256": sha256_of(entry.body),
                        "body": entry.body,
                        "client_name": client_name,
                    }
                    for entry in new
                ],
            )
    return ImportReport(added=len(new), unchanged=len(existing))
