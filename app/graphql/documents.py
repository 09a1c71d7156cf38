"""Parsed documents, cached by query text, with their validation errors under one fixed rule set."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules, validate

__all__ = ["DOCUMENT_CACHE_SIZE", "MAX_CACHED_QUERY_CHARS", "MAX_TOKENS", "DocumentCache", "Prepared"]

MAX_TOKENS = 5_000
DOCUMENT_CACHE_SIZE = 1_000
MAX_CACHED_QUERY_CHARS = 20_000


class Prepared:
    """A parsed document (or its syntax errors) and, once validated, its validation errors."""

    __slots__ = ("cost_plans", "document", "syntax_errors", "validation_errors")

    def __init__(self, document: DocumentNode | None, syntax_errors: list[GraphQLError]) -> None:
        self.document = document
        self.syntax_errors = syntax_errors
        self.validation_errors: list[GraphQLError] | None = None  # None until validated
        self.cost_plans: dict[str | None, Any] = {}  # per operation name: its cost plan, made once


class DocumentCache:
    """An LRU cache of parsed documents and their validation outcome, keyed by query text.

    A cache validates with the one rule set it was made with, so the text alone is a sound key: a pipeline
    with other rules has a cache of its own. Validation runs on the first request that gets that far (a
    mutation refused over GET is never validated). Only queries up to MAX_CACHED_QUERY_CHARS are kept, so
    memory stays bounded even when clients send many distinct large documents.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]] | None = None,
        size: int = DOCUMENT_CACHE_SIZE,
        *,
        hide_suggestions: bool = False,
        max_tokens: int = MAX_TOKENS,
        first: Sequence[type[ASTValidationRule]] = (),
    ) -> None:
        self.schema = schema
        self.rules = rules  # None: graphql-core's specified_rules
        # rules run on their own before the others (limits on the document's size): a document they refuse
        # is not put through the others, some of which take time growing faster than the document
        self.first = tuple(first)
        # ...and are not run again with the others
        self.rest = tuple(rule for rule in (specified_rules if rules is None else rules) if rule not in self.first)
        self.hide_suggestions = hide_suggestions  # no "Did you mean ...?": the schema is not told by guessing
        self.size = size
        self.max_tokens = max_tokens
        self._entries: OrderedDict[str, Prepared] = OrderedDict()

    def parse(self, query: str) -> Prepared:
        """The parsed query (or its syntax errors), from the cache when it was seen before."""
        found = self._entries.get(query)
        if found is not None:
            self._entries.move_to_end(query)
            return found
        prepared = parse_document(query, self.max_tokens)
        if len(query) <= MAX_CACHED_QUERY_CHARS:
            self._entries[query] = prepared
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return prepared

    def validate(self, prepared: Prepared) -> list[GraphQLError]:
        """The validation errors of a parsed document under this cache's rules, computed once."""
        errors = prepared.validation_errors
        if errors is None:
            assert prepared.document is not None
            errors = []
            if self.first:
                errors = list(validate(self.schema, prepared.document, self.first))
            if not errors:
                errors = list(
                    validate(self.schema, prepared.document, self.rest, hide_suggestions=self.hide_suggestions)
                )
            prepared.validation_errors = errors
        return errors


def parse_document(query: str, max_tokens: int = MAX_TOKENS) -> Prepared:
    """Parse a query, keeping a syntax error instead of raising it; past `max_tokens` tokens the parser
    stops, and the error says so with MAX_TOKENS_EXCEEDED."""
    try:
        return Prepared(parse(query, max_tokens=max_tokens), [])
    except GraphQLError as error:
        if error.message.startswith(f"Syntax Error: Document contains more than {max_tokens} tokens"):
            error.message = f"The document has more than {max_tokens} tokens; at most {max_tokens} are allowed"
            error.extensions = {"code": "MAX_TOKENS_EXCEEDED", "maxTokens": max_tokens}
        return Prepared(None, [error])
