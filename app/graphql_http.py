"""GraphQL over HTTP (GET and POST) following the GraphQL-over-HTTP specification.

A request that is not a well-formed GraphQL-over-HTTP request (unparsable JSON, a body that is not one
JSON object, a parameter of the wrong type) gets 400 under either media type. A well-formed request whose
document does not parse or validate, names no operation, or has variables that do not coerce gets 400
under `application/graphql-response+json` and the legacy 200 (with `errors`) under `application/json`.
A mutation over GET gets 405 with `Allow: POST`, decided from the parsed document before validation.
Expected resolver failures carry a code; unexpected ones are masked and logged; a database that cannot be
reached gives 503 with Retry-After when no data could be produced.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.requests import Request
from starlette.responses import Response

from app.errors import DomainError
from app.executor import FastExecutor

__all__ = ["GraphQLHTTP", "RequestError"]

log = logging.getLogger("storefront.graphql")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MAX_BODY_BYTES = 1_000_000
MAX_TOKENS = 5_000
DOCUMENT_CACHE_SIZE = 1_000
MAX_CACHED_QUERY_CHARS = 20_000
RETRY_AFTER_SECONDS = "5"
UNAVAILABLE_MESSAGE = "The database is unavailable; try again shortly"
QUERY_METHODS = ("GET", "HEAD")
REQUEST_ERROR_CODES = {
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError, OSError)


class RequestError(Exception):
    """A request that is not well-formed GraphQL over HTTP; the same status under either media type."""

    def __init__(self, message: str, status: int = 400, **headers: str) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers


@dataclass(frozen=True)
class Params:
    """The GraphQL request parameters after checking their types."""

    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


@dataclass(frozen=True)
class Prepared:
    """A parsed document with its validation errors (cached by query text), or the syntax error."""

    document: DocumentNode | None
    syntax_errors: list[GraphQLError]
    validation_errors: list[GraphQLError]


class DocumentCache:
    """An LRU cache of parsed and validated documents, keyed by query text.

    Only queries up to MAX_CACHED_QUERY_CHARS are kept, so the cache's memory stays bounded even when
    clients send many distinct large documents.
    """

    def __init__(self, schema: GraphQLSchema, size: int = DOCUMENT_CACHE_SIZE) -> None:
        self.schema = schema
        self.size = size
        self._entries: OrderedDict[str, Prepared] = OrderedDict()

    def get(self, query: str) -> Prepared:
        """Parse and validate the query, or return the cached outcome."""
        found = self._entries.get(query)
        if found is not None:
            self._entries.move_to_end(query)
            return found
        prepared = self._prepare(query)
        if len(query) <= MAX_CACHED_QUERY_CHARS:
            self._entries[query] = prepared
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return Prepared(None, [error], [])
        return Prepared(document, [], list(validate(self.schema, document)))


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when nothing acceptable is offered."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for order, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        quality = _quality(params)
        if quality <= 0:
            continue
        chosen = {GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON, "*/*": JSON}.get(media)
        if chosen is None:
            continue
        candidate = (quality, -order, chosen)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[2]


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def wants_html(request: Request) -> bool:
    """True for a browser navigating to the endpoint (GraphiQL), not for an API client."""
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "text/html" in accept and "query" not in request.query_params


async def read_params(request: Request) -> Params:
    """The GraphQL parameters of a GET query string or a POST JSON body; RequestError when malformed."""
    if request.method in QUERY_METHODS:
        raw: dict[str, Any] = dict(request.query_params)
        for name in ("variables", "extensions"):
            if name in raw:
                raw[name] = _json_param(name, raw[name])
    else:
        raw = await _json_body(request)
    return _check_params(raw)


def _json_param(name: str, text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RequestError(f"The `{name}` parameter is not valid JSON") from None


async def _json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type")
    if content_type is None:
        raise RequestError("POST requests need `Content-Type: application/json`", status=415)
    media, _, params = content_type.partition(";")
    if media.strip().lower() != JSON:
        raise RequestError(f"Unsupported Content-Type {media.strip()!r}; send application/json", status=415)
    charset = _media_params(params).get("charset", "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise RequestError(f"Unsupported charset {charset!r}; send utf-8", status=415)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise RequestError(f"The request body exceeds {MAX_BODY_BYTES} bytes", status=413)
    body = await _limited_body(request)
    if not body.strip():
        raise RequestError("The request body is empty; send a JSON object with a `query`")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"The request body is not valid JSON: {exc.msg}") from None
    if isinstance(payload, list):
        raise RequestError("Batched requests (a JSON array) are not supported; send one JSON object")
    if not isinstance(payload, dict):
        raise RequestError("The request body must be a JSON object with a `query`")
    return payload


def _media_params(params: str) -> dict[str, str]:
    """The `name=value` parameters of a media type, names and values lower-cased, quotes removed."""
    found: dict[str, str] = {}
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip():
            found[name.strip().lower()] = value.strip().strip('"').lower()
    return found


async def _limited_body(request: Request) -> bytes:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestError(f"The request body exceeds {MAX_BODY_BYTES} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_params(raw: dict[str, Any]) -> Params:
    query = raw.get("query")
    if query is None or query == "":
        raise RequestError("The `query` parameter is missing")
    if not isinstance(query, str):
        raise RequestError("The `query` parameter must be a string")
    operation_name = raw.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError("The `operationName` parameter must be a string")
    variables = raw.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError("The `variables` parameter must be a JSON object")
    extensions = raw.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError("The `extensions` parameter must be a JSON object")
    return Params(query, operation_name or None, variables, extensions)


class GraphQLHTTP:
    """Turns HTTP requests into executions of one GraphQL schema and results into HTTP responses."""

    def __init__(self, schema: GraphQLSchema, context_factory: Any, fast_executor: bool = True) -> None:
        self.schema = schema
        self.documents = DocumentCache(schema)
        self.context_factory = context_factory
        self.fast = FastExecutor(schema) if fast_executor else None

    async def handle(self, request: Request) -> Response:
        """Answer one GraphQL request over HTTP."""
        media_type = negotiate(request.headers.get("accept"))
        if media_type is None:
            return self._error_response(
                RequestError(f"Not acceptable; accept {GRAPHQL_RESPONSE} or {JSON}", status=406), JSON
            )
        try:
            params = await read_params(request)
            document, operation = self._prepare(params, query_only=request.method in QUERY_METHODS)
            coerced = self._coerce_variables(operation, params.variables)
        except RequestError as error:
            return self._error_response(error, media_type)
        except _GraphQLRequestErrors as failed:
            return self.respond({"errors": failed.formatted()}, failed.status(media_type), media_type)
        try:
            result = await self._execute(request, document, operation, params, coerced)
        except Exception as exc:  # outside any resolver: opening or releasing the request's resources
            return self._failure_response(exc, media_type)
        return self._result_response(result, media_type)

    def _prepare(self, params: Params, query_only: bool) -> tuple[DocumentNode, OperationDefinitionNode]:
        """The document and the operation to run. A mutation over GET is refused from the parsed document,
        before validation, so it gets 405 whether or not the schema has a Mutation type."""
        prepared = self.documents.get(params.query)
        if prepared.document is None:
            raise _GraphQLRequestErrors(prepared.syntax_errors, "GRAPHQL_PARSE_FAILED")
        operation = get_operation_ast(prepared.document, params.operation_name)
        if query_only and operation is not None and operation.operation != OperationType.QUERY:
            raise RequestError(
                f"Only queries may be sent with GET; send {operation.operation.value}s with POST",
                405,
                Allow="POST",
            )
        if prepared.validation_errors:
            raise _GraphQLRequestErrors(prepared.validation_errors, "GRAPHQL_VALIDATION_FAILED")
        if operation is None:
            message = (
                f"Unknown operation named {params.operation_name!r}"
                if params.operation_name
                else "Pass `operationName` to say which of the document's operations to run"
            )
            raise _GraphQLRequestErrors([GraphQLError(message)], "OPERATION_RESOLUTION_FAILURE")
        return prepared.document, operation

    def _coerce_variables(self, operation: OperationDefinitionNode, variables: dict[str, Any] | None) -> Any:
        """The coerced variable values; request errors when a value does not fit its declaration."""
        definitions = operation.variable_definitions or ()
        outcome = get_variable_values(self.schema, definitions, variables or {}, max_errors=50)
        if isinstance(outcome, list):
            raise _GraphQLRequestErrors(outcome, "BAD_USER_INPUT")
        return outcome

    async def _execute(
        self, request: Request, document: DocumentNode, operation: OperationDefinitionNode, params: Params, coerced: Any
    ) -> ExecutionResult:
        async with self.context_factory(request) as context:
            if self.fast is not None and self.fast.supports(document, operation):
                return await self.fast.execute(document, operation, coerced, context)
            result = execute(
                self.schema,
                document,
                context_value=context,
                variable_values=params.variables,
                operation_name=params.operation_name,
            )
            if not isinstance(result, ExecutionResult):
                result = await result
            return result

    def _failure_response(self, exc: Exception, media_type: str) -> Response:
        """No GraphQL response could be produced: 503 when the database is out of reach, else 500."""
        if _is_unavailable_exception(exc):
            log.warning("database unavailable outside execution: %s", type(exc).__name__)
            error = {"message": UNAVAILABLE_MESSAGE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}
            return self.respond({"errors": [error]}, 503, media_type, {"Retry-After": RETRY_AFTER_SECONDS})
        log.error("unexpected error outside execution", exc_info=exc)
        error = {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        return self.respond({"errors": [error]}, 500, media_type)

    def _result_response(self, result: ExecutionResult, media_type: str) -> Response:
        payload: dict[str, Any] = {"data": result.data}
        status = 200
        if result.errors:
            payload["errors"] = [self.format_error(error) for error in result.errors]
            if result.data is None and any(_is_unavailable(error) for error in result.errors):
                status = 503
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
        return self.respond(payload, status, media_type, headers)

    def format_error(self, error: GraphQLError) -> dict[str, Any]:
        """A client-safe error: domain errors keep their message and code, others are masked and logged."""
        formatted: dict[str, Any] = dict(error.formatted)
        original = error.original_error
        if original is None:
            return formatted
        if isinstance(original, DomainError):
            formatted["message"] = original.message
            formatted["extensions"] = {**formatted.get("extensions", {}), **original.extensions()}
            return formatted
        if _is_unavailable(error):
            log.warning("database unavailable at %s: %s", error.path, type(original).__name__)
            formatted["message"] = UNAVAILABLE_MESSAGE
            formatted["extensions"] = {"code": "SERVICE_UNAVAILABLE"}
            return formatted
        log.error("unexpected error at %s", error.path, exc_info=original)
        formatted["message"] = "Internal server error"
        formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
        return formatted

    def _error_response(self, error: RequestError, media_type: str) -> Response:
        status = error.status
        code = REQUEST_ERROR_CODES.get(error.status, "BAD_REQUEST")
        payload = {"errors": [{"message": error.message, "extensions": {"code": code}}]}
        return self.respond(payload, status, media_type, error.headers)

    @staticmethod
    def respond(payload: Any, status: int, media_type: str, headers: dict[str, str] | None = None) -> Response:
        """Serialise a payload with orjson as UTF-8 JSON of the negotiated media type."""
        return Response(
            orjson.dumps(payload),
            status_code=status,
            media_type=f"{media_type}; charset=utf-8",
            headers=headers,
        )


class _GraphQLRequestErrors(Exception):
    """Parse, validation, operation or variable errors: the request never reached execution."""

    def __init__(self, errors: list[GraphQLError], code: str) -> None:
        super().__init__(errors[0].message if errors else "invalid request")
        self.errors = errors
        self.code = code

    def formatted(self) -> list[dict[str, Any]]:
        """The errors as the spec formats them, each with this failure's code in its extensions."""
        return [
            {**error.formatted, "extensions": {**(error.extensions or {}), "code": self.code}} for error in self.errors
        ]

    @staticmethod
    def status(media_type: str) -> int:
        return 400 if media_type == GRAPHQL_RESPONSE else 200


def _is_unavailable(error: GraphQLError) -> bool:
    return _is_unavailable_exception(error.original_error)


def _is_unavailable_exception(exc: BaseException | None) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, UNAVAILABLE)
