"""Persisted documents in the pipeline: a request may name its document instead of sending its text.

- Automatic persisted queries, Apollo's protocol: `extensions.persistedQuery {version: 1, sha256Hash}`.
  Without `query`, the text registered under the hash, else PERSISTED_QUERY_NOT_FOUND with the message
  `PersistedQueryNotFound` (on which Apollo's link sends the query with its hash; answered 200, as a 400
  would make the link stop using hashes). With `query`, its SHA-256 must be the hash, else
  PERSISTED_QUERY_HASH_MISMATCH; once it has validated it is registered. Over GET, a hash-only URL is short
  and stable: what a CDN caches.
- Trusted documents, imported from clients' manifests (`storefront persisted-queries import`): named by
  `documentId` (the GraphQL-over-HTTP persisted documents proposal), or by an APQ hash that is a trusted
  document's ID (Apollo's manifests use the SHA-256) or the SHA-256 of its text (whatever its ID).
- With TRUSTED_DOCUMENTS_ONLY a document that is neither named by a trusted ID nor the text of a trusted
  document is refused, PERSISTED_QUERY_REQUIRED, unless the viewer may send free-form documents (staff):
  unparsed when the request's credentials cannot be staff's, so its fields are neither validated nor
  priced (nothing about the schema is learnt from the refusal); and nothing is registered at run time.
- A query is registered only once it has validated, been priced and been admitted by the rate limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import DomainError
from app.persisted.store import QueryStore, TrustedDocuments, sha256_of

__all__ = [
    "DocumentRef",
    "PersistedDocuments",
    "PersistedQueryError",
    "Resolved",
    "document_ref",
    "persisted_query_required",
]

MAX_DOCUMENT_ID_CHARS = 200
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """A request's name for its document: an APQ SHA-256 (`sha256`), or an opaque trusted document ID."""

    id: str
    sha256: bool


def document_ref(raw: Mapping[str, Any]) -> DocumentRef | None:
    """The document a request names, from its parameters; None when it names none. ValueError, with a
    message for the client, when the parameters that name it are malformed."""
    document_id = raw.get("documentId")
    if document_id is not None:
        if not isinstance(document_id, str) or not 0 < len(document_id) <= MAX_DOCUMENT_ID_CHARS:
            raise ValueError(f"The `documentId` parameter must be a string of 1 to {MAX_DOCUMENT_ID_CHARS} characters")
        return DocumentRef(document_id, sha256=False)
    extensions = raw.get("extensions")
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise ValueError("`extensions.persistedQuery` must be an object with `version` and `sha256Hash`")
    if persisted.get("version") != 1:
        raise ValueError("Only version 1 of `extensions.persistedQuery` is supported")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise ValueError("`extensions.persistedQuery.sha256Hash` must be the 64 hex digits of the query's SHA-256")
    return DocumentRef(digest.lower(), sha256=True)


class PersistedQueryError(DomainError):
    """A named document that cannot be used; `miss` when the client should send the text instead."""

    def __init__(self, code: str, message: str, *, miss: bool = False) -> None:
        super().__init__(message, code=code)
        self.miss = miss


def persisted_query_required() -> dict[str, Any]:
    """The formatted refusal of a free-form document where only trusted ones are taken."""
    return {
        "message": "This server takes trusted documents only: send the `documentId` of a registered operation",
        "extensions": {"code": "PERSISTED_QUERY_REQUIRED"},
    }


@dataclass(frozen=True, slots=True)
class Resolved:
    """The text a request runs, whether it is a trusted document's, and the hash to register it under once
    it has validated (an APQ registration)."""

    query: str
    trusted: bool = False
    register: str | None = None


class PersistedDocuments:
    """Finds the documents requests name, and says which free-form ones are taken."""

    def __init__(
        self,
        queries: QueryStore | None,
        trusted: TrustedDocuments | None,
        *,
        trusted_only: bool = False,
        free_form: Callable[[Any], bool] = lambda _viewer: False,
        maybe_free_form: Callable[[Any], bool] = lambda _request: False,
    ) -> None:
        self.queries = None if trusted_only else queries  # nothing is registered where only trusted ones run
        self.trusted = trusted
        self.trusted_only = trusted_only
        self.free_form = free_form  # viewer -> may they send documents no client registered (staff)
        # request -> whether its credentials may be a viewer's who may (checked before parsing, without
        # the database: an untrusted document from anyone else is refused unparsed)
        self.maybe_free_form = maybe_free_form

    async def resolve(self, query: str, ref: DocumentRef | None) -> Resolved:
        """The text to run for a request's `query` and named document; PersistedQueryError when unusable."""
        if ref is None:
            return Resolved(query, trusted=await self._trusts(query))
        if not ref.sha256:
            if query:
                raise PersistedQueryError("BAD_REQUEST", "Send either `documentId` or `query`, not both")
            return Resolved(await self._trusted_text(ref.id), trusted=True)
        if query:
            if sha256_of(query) != ref.id:
                raise PersistedQueryError(
                    "PERSISTED_QUERY_HASH_MISMATCH", "The `sha256Hash` is not the SHA-256 of the `query` sent"
                )
            return Resolved(query, trusted=await self._trusts(query), register=ref.id if self.queries else None)
        text = await self.trusted.find(ref.id, by_sha256=True) if self.trusted is not None else None
        if text is not None:
            return Resolved(text, trusted=True)
        if self.queries is None and self.trusted is None:
            raise PersistedQueryError("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported", miss=True)
        text = await self.queries.get(ref.id) if self.queries is not None else None
        if text is None:
            raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound", miss=True)
        return Resolved(text)

    def may_try(self, resolved: Resolved, request: Any) -> bool:
        """Whether a request may go on to parsing: a trusted document, or credentials that may be staff's."""
        return not self.trusted_only or resolved.trusted or self.maybe_free_form(request)

    def permits(self, resolved: Resolved, viewer: Any) -> bool:
        """Whether the viewer may run this document."""
        return not self.trusted_only or resolved.trusted or self.free_form(viewer)

    async def register(self, digest: str, query: str) -> None:
        """Keep a validated query under its SHA-256 for the requests that will send only the hash."""
        if self.queries is not None:
            await self.queries.put(digest, query)

    async def close(self) -> None:
        """Close the stores' connections."""
        if self.queries is not None:
            await self.queries.close()

    async def _trusts(self, query: str) -> bool:
        return self.trusted_only and self.trusted is not None and await self.trusted.trusts(query)

    async def _trusted_text(self, document_id: str) -> str:
        text = await self.trusted.find(document_id) if self.trusted is not None else None
        if text is None:
            raise PersistedQueryError(
                "PERSISTED_QUERY_NOT_FOUND", f"No trusted document has the ID {document_id!r}", miss=False
            )
        return text
