"""GraphQL over HTTP (GET and POST) following the GraphQL-over-HTTP specification: the HTTP transport.

This module does only what is HTTP's: media types, GET and POST, body limits and status codes. It reads a
request into `GraphQLParams`, runs it through the `Pipeline` (which parses, validates, builds the context,
executes and formats the errors) and maps the pipeline's outcome onto a status.

A request that is not a well-formed GraphQL-over-HTTP request (unparsable JSON, a body that is not one
JSON object, a parameter of the wrong type) gets 400 under either media type. A well-formed request whose
document does not parse or validate, names no operation, or has variables that do not coerce gets 400
under `application/graphql-response+json` and the legacy 200 (with `errors`) under `application/json`.
A mutation over GET gets 405 with `Allow: POST`, decided from the parsed document before validation.
A database that cannot be reached gives 503 with Retry-After when no data could be produced.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from app.context import ResponseCookies
from app.graphql.csrf import csrf_suspect
from app.graphql.persisted import document_ref
from app.graphql.pipeline import ANY_OPERATION, GraphQLParams, Outcome, Pipeline, PipelineResult

__all__ = ["GraphQLHTTP", "RequestError", "negotiate", "read_params", "wants_html"]

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MAX_BODY_BYTES = 1_000_000
RETRY_AFTER_SECONDS = "5"
QUERY_METHODS = ("GET", "HEAD")
QUERIES_ONLY = frozenset({OperationType.QUERY})
REQUEST_ERROR_CODES = {
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class RequestError(Exception):
    """A request that is not well-formed GraphQL over HTTP; the same status under either media type."""

    def __init__(self, message: str, status: int = 400, **headers: str) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers


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


async def read_params(request: Request) -> GraphQLParams:
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
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise RequestError(f"The request body exceeds {MAX_BODY_BYTES} bytes", status=413)
            chunks.append(chunk)
    except ClientDisconnect:  # nobody will read the answer, and it is not the server's error either
        raise RequestError("The client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _check_params(raw: dict[str, Any]) -> GraphQLParams:
    try:
        document = document_ref(raw)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    query = raw.get("query")
    if (query is None or query == "") and document is None:
        raise RequestError("The `query` parameter is missing")
    if query is not None and not isinstance(query, str):
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
    return GraphQLParams(query or "", operation_name or None, variables, extensions, document)


CSRF_REFUSAL = {
    "errors": [
        {
            "message": "This request was blocked as a possible cross-site request forgery: with the session "
            "cookie, send it as JSON, or with an X-CSRF-Token, Apollo-Require-Preflight or X-Apollo-Operation-Name "
            "header",
            "extensions": {"code": "CSRF_REJECTED"},
        }
    ]
}


class GraphQLHTTP:
    """Turns HTTP requests into pipeline runs and pipeline results into HTTP responses."""

    def __init__(self, pipeline: Pipeline, *, ambient_cookies: Collection[str] = ()) -> None:
        self.pipeline = pipeline
        self.ambient_cookies = tuple(ambient_cookies)  # the cookies that authenticate (CSRF prevention)

    async def handle(self, request: Request) -> Response:
        """Answer one GraphQL request over HTTP."""
        media_type = negotiate(request.headers.get("accept"))
        if media_type is None:
            return self._error_response(
                RequestError(f"Not acceptable; accept {GRAPHQL_RESPONSE} or {JSON}", status=406), JSON
            )
        if csrf_suspect(request, self.ambient_cookies):
            return self.respond(CSRF_REFUSAL, 403, media_type)
        try:
            params = await read_params(request)
        except RequestError as error:
            return self._error_response(error, media_type)
        queries_only = request.method in QUERY_METHODS
        cookies = request.state.response_cookies = ResponseCookies()  # the context factory hands it on
        result = await self.pipeline.run(params, request, allowed=QUERIES_ONLY if queries_only else ANY_OPERATION)
        if result.outcome is Outcome.OK:  # the hot path
            response = self.respond(result.payload(), 200, media_type, result.headers)
        else:
            response = self._status_response(result, media_type)
        if cookies.changes:
            _apply_cookies(response, cookies)
        return response

    def _status_response(self, result: PipelineResult, media_type: str) -> Response:
        outcome = result.outcome
        if outcome is Outcome.NOT_ALLOWED:
            kind = result.operation_type.value if result.operation_type else "operation"
            error = RequestError(f"Only queries may be sent with GET; send {kind}s with POST", 405, Allow="POST")
            return self._error_response(error, media_type)
        if outcome is Outcome.UNAVAILABLE:
            return self.respond(result.payload(), 503, media_type, {"Retry-After": RETRY_AFTER_SECONDS})
        if outcome is Outcome.FAILURE:
            return self.respond(result.payload(), 500, media_type)
        if outcome is Outcome.TIMEOUT:
            return self.respond(result.payload(), 504, media_type, result.headers)
        if outcome is Outcome.DOCUMENT_MISS:  # 200 whatever the media type: Apollo's link then sends the text
            return self.respond(result.payload(), 200, media_type, result.headers)
        if outcome is Outcome.THROTTLED:
            return self.respond(result.payload(), 429, media_type, result.headers)
        if outcome is Outcome.UNAUTHENTICATED:
            return self.respond(result.payload(), 401, media_type, result.headers)
        if outcome is Outcome.FORBIDDEN:
            return self.respond(result.payload(), 403, media_type, result.headers)
        # A request error: the new media type says so with 400, the legacy one answers 200 with `errors`.
        status = 400 if media_type == GRAPHQL_RESPONSE else 200
        return self.respond(result.payload(), status, media_type, result.headers)

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


def _apply_cookies(response: Response, cookies: ResponseCookies) -> None:
    for change in cookies.changes:
        if change.value is None:
            response.delete_cookie(
                change.name, path=change.path, secure=change.secure, httponly=change.http_only, samesite="lax"
            )
        else:
            response.set_cookie(
                change.name,
                change.value,
                max_age=change.max_age,
                path=change.path,
                secure=change.secure,
                httponly=change.http_only,
                samesite="lax",
            )
