"""One request pipeline for every transport: the stages a GraphQL request goes through, in one place.

    read (the transport) -> resolve (a persisted document's text) -> parse (cached) -> validate (the
        shape limits first, then the spec's rules) -> price (the requested cost) -> authenticate -> budget
        (the cost taken from the client's bucket) -> context -> execute (planned or reference) -> format and
        mask errors -> cost and response extensions

A transport (HTTP now, a WebSocket message later) reads its request into `GraphQLParams` and calls `run` (one
result) or `subscribe` (a stream of results); it turns a `PipelineResult` into its own wire format, using the
result's `outcome` for what the protocol needs (an HTTP status). The pipeline never sees the transport's
request object except to hand it to `authenticate` and the context factory.

Where a feature plugs in (the README lists these too):
- validation: `rules`, graphql-core `ValidationRule`s run before `specified_rules` (limits on the
  document's shape: they must be cheap and not assume a valid document); a document they refuse is not put
  through the spec's rules. The document cache belongs to the pipeline, so a cached outcome always matches
  its rules.
- persisted documents: `persisted` (`app.graphql.persisted`) finds a named document's text, registers
  automatic persisted queries, and refuses untrusted documents once the viewer is known.
- cost: `cost` (`app.graphql.cost`) prices the operation once its variables are known and refuses one over
  the maximum; `budget` (`app.graphql.budget`) takes the cost from the client's bucket after authentication
  and gives back what the response did not use; `extensions.cost` reports both.
- authentication: `authenticate(request, operation) -> viewer`, called once the document is valid, before the
  context (and the database handle) exists; it must not touch the database. `operation` (an `Operation`)
  says what will run, for checks that depend on it (CSRF on mutations). It may raise a `DomainError`; one
  with a `refusal` (bad credentials, a CSRF failure) gives that outcome, which HTTP answers 401 or 403.
- context: `context_factory(request, viewer)`, an async context manager giving the resolvers' context.
- response: `response_extensions`, callables `(state) -> mapping or None` merged into `extensions`.
- around stages: the strawberry schema's `SchemaExtension`s (`on_operation`, `on_parse`, `on_validate`,
  `on_execute`, `get_results`), run only when the schema has some (see `app.graphql.extensions`).

Queries run on the planned executor when it supports the document; mutations run on graphql-core's executor,
which runs top-level mutation fields one after another as the spec requires; subscriptions run on
graphql-core's `subscribe`. All of them go through the same stages and the same error formatting
(`app.graphql.errors`). A refused request (parse, validation, operation or variable errors) never reaches
`authenticate` or the context factory, so it costs no SQL.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, replace
from inspect import isawaitable
from typing import Any, Literal

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    specified_rules,
    validate,
)
from graphql.execution import (
    MiddlewareManager,
    create_source_event_stream,
    execute_subscription_event,
    map_source_to_response_event,
)
from graphql.execution.execute import ExecutorThrowingOnIncremental
from graphql.execution.values import get_variable_values

from app.errors import DomainError
from app.graphql.budget import Admission, CostBudget, throttled_error
from app.graphql.columns import ColumnAware, ColumnNeeds
from app.graphql.cost import CostAnalysis, CostPlan, cost_exceeded
from app.graphql.documents import MAX_TOKENS, DocumentCache, Prepared, parse_document
from app.graphql.errors import format_error, format_failure, format_request_errors, is_unavailable
from app.graphql.executor import FastExecutor
from app.graphql.extensions import ExtensionRun, SchemaExtensions
from app.graphql.introspection import IntrospectionDisabled, IntrospectionPolicy, introspects
from app.graphql.persisted import (
    DocumentRef,
    PersistedDocuments,
    PersistedQueryError,
    Resolved,
    persisted_query_required,
)

__all__ = [
    "ANY_OPERATION",
    "Authenticate",
    "ContextFactory",
    "GraphQLParams",
    "Operation",
    "Outcome",
    "Pipeline",
    "PipelineResult",
    "RequestState",
    "ResponseExtensions",
    "anonymous",
]

ANY_OPERATION: frozenset[OperationType] = frozenset(OperationType)
MAX_VARIABLE_ERRORS = 50

Authenticate = Callable[[Any, "Operation"], Any]
ContextFactory = Callable[[Any, Any], AbstractAsyncContextManager[Any]]
ResponseExtensions = Callable[["RequestState"], Mapping[str, Any] | None]

_NO_HOOK: AbstractAsyncContextManager[None] = nullcontext()  # reusable: no allocation per stage


def anonymous(_request: Any, _operation: Operation) -> None:
    """The default `authenticate`: every request is anonymous (its viewer is None)."""
    return None


@dataclass(frozen=True, slots=True)
class Operation:
    """What a request will run, as `authenticate` sees it: the operation type and its root field names."""

    kind: str  # "query", "mutation" or "subscription"
    root_fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    """A GraphQL request's parameters, after the transport has checked their types."""

    query: str
    operation_name: str | None = None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None
    document: DocumentRef | None = None  # a persisted document named instead of (or beside) `query`


class Outcome(enum.Enum):
    """What became of a request, for the transport to map onto its protocol (an HTTP status)."""

    OK = "ok"  # executed; field errors may be in `errors`
    REQUEST_ERROR = "request error"  # refused before execution: parse, validation, operation, variables
    NOT_ALLOWED = "not allowed"  # an operation type the transport does not take (a mutation over GET)
    UNAVAILABLE = "unavailable"  # the database could not be reached and no data was produced
    UNAUTHENTICATED = "unauthenticated"  # the credentials were refused (expired, tampered, revoked)
    FORBIDDEN = "forbidden"  # refused for the credentials it came with (a mutation without its CSRF header)
    FAILURE = "failure"  # an unexpected failure outside any resolver
    TIMEOUT = "timeout"  # stopped at the request's deadline: its work cancelled, its transaction rolled back
    THROTTLED = "throttled"  # the client's budget of cost points does not hold the operation's cost
    DOCUMENT_MISS = "document miss"  # a named persisted query is not known: the client should send its text


@dataclass(slots=True)
class PipelineResult:
    """A response ready to serialise, with its outcome. `executed` says whether `data` belongs in it."""

    outcome: Outcome
    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    extensions: dict[str, Any] | None = None
    executed: bool = False
    operation_type: OperationType | None = None  # set when NOT_ALLOWED
    headers: dict[str, str] | None = None  # for the transport's refusal (a bearer challenge)

    def payload(self) -> dict[str, Any]:
        """The response as the GraphQL spec shapes it: `data` (when executed), `errors`, `extensions`."""
        payload: dict[str, Any] = {"data": self.data} if self.executed else {}
        if self.errors:
            payload["errors"] = self.errors
        if self.extensions:
            payload["extensions"] = self.extensions
        return payload


class RequestState:
    """One request on its way through the stages: what each stage found, for the stages after it."""

    __slots__ = (
        "admission",
        "context",
        "cost_plan",
        "document",
        "operation",
        "params",
        "request",
        "requested_cost",
        "resolved",
        "result",
        "variables",
        "viewer",
    )

    def __init__(self, params: GraphQLParams, request: Any) -> None:
        self.params = params
        self.request = request  # the transport's request, opaque to the pipeline
        self.document: DocumentNode | None = None
        self.operation: OperationDefinitionNode | None = None
        self.variables: Any = None  # coerced (graphql-core VariableValues)
        self.viewer: Any = None
        self.context: Any = None
        self.result: ExecutionResult | None = None
        self.cost_plan: CostPlan | None = None
        self.requested_cost: int | None = None  # set once the variables are known, when costs are analysed
        self.admission: Admission | None = None  # the draw on the client's budget, when there is one
        self.resolved: Resolved | None = None  # the document's text and trust, with persisted documents


class Pipeline:
    """Runs GraphQL requests of one schema through parse, validate, context, execute and format."""

    def __init__(
        self,
        schema: strawberry.Schema | GraphQLSchema,
        context_factory: ContextFactory,
        *,
        rules: Sequence[type[ASTValidationRule]] = (),
        executor: Literal["planned", "reference"] = "planned",
        authenticate: Authenticate = anonymous,
        response_extensions: Sequence[ResponseExtensions] = (),
        hide_suggestions: bool = False,
        introspection: IntrospectionPolicy | None = None,
        timeout: float | None = None,
        cost: CostAnalysis | None = None,
        budget: CostBudget | None = None,
        max_tokens: int = MAX_TOKENS,
        persisted: PersistedDocuments | None = None,
    ) -> None:
        graphql_schema = schema if isinstance(schema, GraphQLSchema) else schema._schema
        self.schema = graphql_schema
        self.rules: tuple[type[ASTValidationRule], ...] = (*specified_rules, *rules)
        self.documents = DocumentCache(
            graphql_schema,
            self.rules if rules else None,
            hide_suggestions=hide_suggestions,
            max_tokens=max_tokens,
            first=rules,  # the extra rules are limits on the document's shape: cheap, so they go first
        )
        self.hide_suggestions = hide_suggestions
        self.introspection = introspection  # None: anyone may introspect
        self.timeout = timeout  # seconds a query or mutation may run; None: no deadline
        self.cost = cost  # None: no cost analysis (nor `extensions.cost`)
        self.budget = budget if cost is not None else None  # None: no rate limit
        self.persisted = persisted  # None: requests must send their text
        self.context_factory = context_factory
        self.column_needs = ColumnNeeds(graphql_schema)
        self.authenticate = authenticate
        self.response_extensions = tuple(response_extensions)
        self.fast = FastExecutor(graphql_schema) if executor == "planned" else None
        self.extensions = (
            SchemaExtensions(schema, self.rules)
            if isinstance(schema, strawberry.Schema) and SchemaExtensions.configured(schema)
            else None
        )

    async def run(
        self, params: GraphQLParams, request: Any = None, *, allowed: Collection[OperationType] = ANY_OPERATION
    ) -> PipelineResult:
        """Answer one query or mutation. `allowed` is what the transport takes (GET: queries only)."""
        state = RequestState(params, request)
        missing = await self._resolve(state)
        if missing is not None:
            return missing
        run = self._start_extensions(state.params)
        try:
            async with _hook(run, "operation"):
                refused = await self._prepare(state, run, allowed)
                if refused is None:
                    if state.operation.operation == OperationType.SUBSCRIPTION:  # type: ignore[union-attr]
                        message = (
                            "Subscriptions need a streaming transport (a WebSocket, or Accept: text/event-stream), "
                            "not a single response"
                        )
                        refused = _request_error([GraphQLError(message)], "OPERATION_NOT_SUPPORTED")
                    else:
                        refused = await self._admit(state)
                        if refused is None:
                            try:
                                async with asyncio.timeout(self.timeout):
                                    await self._execute(state, run)
                            except TimeoutError:
                                return await self._costed(state, _timed_out(self.timeout))
            if run is not None and run.execution_context.result is not None:
                state.result = run.execution_context.result  # type: ignore[assignment]  # as an extension left it
            return await self._finish(state, run, refused)
        except Exception as exc:  # outside any resolver: a hook, or opening or releasing the context
            return _failure(exc)

    async def subscribe(
        self,
        params: GraphQLParams,
        request: Any = None,
        *,
        on_started: Callable[[], None] | None = None,
        allowed: Collection[OperationType] = ANY_OPERATION,
    ) -> AsyncIterator[PipelineResult]:
        """Answer a subscription with a result per event (a query or mutation gives one result).

        The context stays open for the life of the stream; each result goes through the same error
        formatting and response extensions as `run`'s. `on_started` is called once the subscription is
        established (authorised, listening), before its first event: a transport may answer then.
        `allowed` is what the transport takes (an event stream over GET: no mutations), checked once a
        named persisted document's text is known.
        """
        state = RequestState(params, request)
        missing = await self._resolve(state)
        if missing is not None:
            yield missing
            return
        run = self._start_extensions(state.params)
        try:
            async with _hook(run, "operation"):
                refused = await self._prepare(state, run, allowed)
                if refused is not None:
                    yield await self._finish(state, run, refused)
                    return
                refused = await self._admit(state)
                if refused is not None:
                    yield await self._finish(state, run, refused)
                    return
                if state.operation.operation != OperationType.SUBSCRIPTION:  # type: ignore[union-attr]
                    try:
                        async with asyncio.timeout(self.timeout):
                            await self._execute(state, run)
                    except TimeoutError:
                        yield await self._costed(state, _timed_out(self.timeout))
                        return
                    yield await self._finish(state, run, None)
                    return
                async with self.context_factory(state.request, state.viewer) as context:
                    state.context = context
                    self._give_columns(state, context)
                    if run is not None:
                        run.execution_context.context = context
                    async with _hook(run, "executing"):
                        stream = await self._source_stream(state, run)
                        if isinstance(stream, ExecutionResult):
                            state.result = stream
                            refused = await self._finish(state, run, None)
                            # refused before any event (FORBIDDEN, say): nothing was executed to deliver
                            refused.executed = stream.data is not None
                            yield refused
                            return
                        try:
                            # A subscription lives long: it holds no pooled connection while it waits.
                            release = getattr(context, "release_database", None)
                            if release is not None:
                                await release()
                            if on_started is not None:
                                on_started()
                            # the subscription paid its requested cost; each event pays its own, below
                            events, state.cost_plan = state.cost_plan, None
                            async for event in stream:
                                state.result = event
                                result = await self._finish(state, run, None)
                                done = getattr(context, "event_done", None)
                                if done is not None:  # before the transport sends it, however slowly
                                    await done()
                                throttled = await self._charge_event(state, events, result)
                                if throttled is not None:
                                    yield throttled  # and the subscription ends: its client's budget is spent
                                    return
                                yield result
                        finally:
                            await stream.aclose()
        except Exception as exc:  # outside any resolver, as in `run`
            yield _failure(exc)

    # ------------------------------------------------------------------ the stages

    async def _resolve(self, state: RequestState) -> PipelineResult | None:
        """The text of a named persisted document (and whether it is trusted); the refusal when it has none."""
        params = state.params
        if self.persisted is None:
            if params.document is None:
                return None
            error = PersistedQueryError("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported", miss=True)
            return PipelineResult(Outcome.DOCUMENT_MISS, errors=[format_failure(error)])
        try:
            resolved = await self.persisted.resolve(params.query, params.document)
        except PersistedQueryError as error:
            outcome = Outcome.DOCUMENT_MISS if error.miss else Outcome.REQUEST_ERROR
            return PipelineResult(outcome, errors=[format_failure(error)])
        except Exception as exc:  # the trusted documents' database unreachable
            return _failure(exc)
        if not self.persisted.may_try(resolved, state.request):
            return PipelineResult(Outcome.REQUEST_ERROR, errors=[persisted_query_required()])
        state.resolved = resolved
        if resolved.query is not params.query:
            state.params = replace(params, query=resolved.query)
        return None

    async def _prepare(
        self, state: RequestState, run: ExtensionRun | None, allowed: Collection[OperationType]
    ) -> PipelineResult | None:
        """Parse, check the operation type, validate, pick the operation, coerce the variables.

        None when the request may execute (the state then holds document, operation and variables),
        else the refusal to answer with.
        """
        params = state.params
        if run is None:
            prepared = self.documents.parse(params.query)
        else:
            async with run.parsing():
                prepared = self._parse_extended(run, params.query)
        document = prepared.document
        if document is None:
            return _request_error(prepared.syntax_errors, "GRAPHQL_PARSE_FAILED")
        # The transport's operation types are checked on the parsed document, before validation, so a
        # mutation over GET is refused whether or not the schema has a Mutation type.
        operation = get_operation_ast(document, params.operation_name)
        if operation is not None and operation.operation not in allowed:
            return PipelineResult(Outcome.NOT_ALLOWED, operation_type=operation.operation)
        if run is None:
            errors = self.documents.validate(prepared)
        else:
            async with run.validation():
                errors = self._validate_extended(run, prepared)
        if errors:
            return _request_error(errors, "GRAPHQL_VALIDATION_FAILED")
        if operation is None:
            message = (
                f"Unknown operation named {params.operation_name!r}"
                if params.operation_name
                else "Pass `operationName` to say which of the document's operations to run"
            )
            return _request_error([GraphQLError(message)], "OPERATION_RESOLUTION_FAILURE")
        definitions = operation.variable_definitions or ()
        coerced = get_variable_values(
            self.schema, definitions, params.variables or {}, MAX_VARIABLE_ERRORS, self.hide_suggestions
        )
        if isinstance(coerced, list):
            return _request_error(coerced, "BAD_USER_INPUT")
        state.document = document
        state.operation = operation
        state.variables = coerced
        return self._price(state, prepared) if self.cost is not None else None

    def _price(self, state: RequestState, prepared: Prepared) -> PipelineResult | None:
        """The operation's requested cost; the refusal when it is over the maximum (before any SQL)."""
        assert self.cost is not None and state.operation is not None
        plans = prepared.cost_plans
        name = state.params.operation_name
        plan = plans.get(name)
        if plan is None:
            plan = plans[name] = self.cost.plan(prepared.document, state.operation)
        state.cost_plan = plan
        cost = state.requested_cost = plan.requested(state.variables)
        limit = self.cost.prices.max_cost
        if cost > limit:
            return _request_error([cost_exceeded(cost, limit)], "MAX_COST_EXCEEDED")
        return None

    def _parse_extended(self, run: ExtensionRun, query: str) -> Prepared:
        context = run.execution_context
        if context.graphql_document is not None:  # an on_parse hook supplied it: not from our cache
            return Prepared(context.graphql_document, [])
        prepared = (
            self.documents.parse(query)
            if query == context.query
            else parse_document(context.query or "", self.documents.max_tokens)
        )
        context.graphql_document = prepared.document
        if prepared.syntax_errors:
            context.pre_execution_errors = prepared.syntax_errors
        return prepared

    def _validate_extended(self, run: ExtensionRun, prepared: Prepared) -> list[GraphQLError]:
        context = run.execution_context
        if context.pre_execution_errors is None:  # not preset by an on_validate hook
            if context.validation_rules is self.rules:  # the prepared entry caches its outcome under these
                context.pre_execution_errors = self.documents.validate(prepared)
            elif context.validation_rules:  # an extension changed the rules: validate without the cache
                assert context.graphql_document is not None
                context.pre_execution_errors = validate(
                    self.schema,
                    context.graphql_document,
                    context.validation_rules,
                    hide_suggestions=self.hide_suggestions,
                )
            else:
                context.pre_execution_errors = []
        return context.pre_execution_errors

    async def _admit(self, state: RequestState) -> PipelineResult | None:
        """Authenticate (headers or cookies only, no database), check introspection, then take the cost
        from the client's budget; the refusal when the budget does not hold it (it takes nothing)."""
        operation = state.operation
        assert operation is not None and state.document is not None
        summary = Operation(operation.operation.value, _root_fields(state.document, operation))
        state.viewer = self.authenticate(state.request, summary)
        persisted, resolved = self.persisted, state.resolved
        if persisted is not None and resolved is not None and not persisted.permits(resolved, state.viewer):
            return PipelineResult(Outcome.REQUEST_ERROR, errors=[persisted_query_required()])
        policy = self.introspection
        if policy is not None and not policy(state.viewer) and introspects(state.document, operation):
            raise IntrospectionDisabled("Introspection is disabled on this server")
        if self.budget is not None and state.requested_cost is not None:
            admission = state.admission = await self.budget.admit(state.request, state.viewer, state.requested_cost)
            if not admission.taken:
                return PipelineResult(Outcome.THROTTLED, errors=[throttled_error(admission)])
        if resolved is not None and resolved.register is not None and persisted is not None:
            # a valid, priced and admitted document: what a client may name by its hash from now on
            await persisted.register(resolved.register, state.params.query)
        return None

    def _give_columns(self, state: RequestState, context: Any) -> None:
        """Tell a column-aware context which row columns the document reads (see app.graphql.columns)."""
        if isinstance(context, ColumnAware) and state.document is not None:
            context.columns = self.column_needs.of(state.document)

    async def _execute(self, state: RequestState, run: ExtensionRun | None) -> None:
        async with self.context_factory(state.request, state.viewer) as context:
            state.context = context
            self._give_columns(state, context)
            if run is None:
                state.result = await self._execute_operation(state, context, None)
                return
            run.execution_context.context = context
            async with run.executing():
                if run.execution_context.result is None:  # not preset by an on_execute hook
                    run.execution_context.result = await self._execute_operation(state, context, run.middleware)
            state.result = run.execution_context.result  # type: ignore[assignment]

    async def _execute_operation(
        self, state: RequestState, context: Any, middleware: MiddlewareManager | None
    ) -> ExecutionResult:
        """Planned when the executor supports the operation (queries), else graphql-core's executor."""
        document, operation, params = state.document, state.operation, state.params
        assert document is not None and operation is not None
        fast = self.fast
        if fast is not None and middleware is None and fast.supports(document, operation):
            return await fast.execute(document, operation, state.variables, context)
        result = execute(
            self.schema,
            document,
            context_value=context,
            variable_values=params.variables,
            operation_name=params.operation_name,
            middleware=middleware,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return result

    async def _source_stream(self, state: RequestState, run: ExtensionRun | None) -> Any:
        """The subscription's response stream (an async generator), or its error result: graphql-core's
        `subscribe`, composed as its documentation shows so that each event's execution has the deadline."""
        assert state.document is not None
        executor = ExecutorThrowingOnIncremental.build(
            self.schema,
            state.document,
            context_value=state.context,
            raw_variable_values=state.params.variables,
            operation_name=state.params.operation_name,
            middleware=run.middleware if run is not None else None,
        )
        if isinstance(executor, list):
            return ExecutionResult(None, errors=executor)
        source = create_source_event_stream(executor)
        if isawaitable(source):
            source = await source
        if isinstance(source, ExecutionResult):
            return source
        return map_source_to_response_event(executor, source, self._timed_event)

    def _timed_event(self, executor: Any) -> Any:
        """One event's execution, stopped at the deadline with a TIMEOUT error (the subscription goes on)."""
        outcome = execute_subscription_event(executor)
        if self.timeout is None or not isawaitable(outcome):
            return outcome
        return _within(outcome, self.timeout)

    async def _finish(
        self, state: RequestState, run: ExtensionRun | None, refused: PipelineResult | None
    ) -> PipelineResult:
        """Format and mask the errors, then add the response extensions."""
        if refused is not None:
            result = refused
        else:
            assert state.result is not None
            result = _executed(state.result)
        result = await self._costed(state, result)
        if self.response_extensions or run is not None:
            extensions: dict[str, Any] = dict(result.extensions or {})
            for hook in self.response_extensions:
                extra = hook(state)
                if extra:
                    extensions.update(extra)
            if run is not None:
                extensions.update(await run.results())
            result.extensions = extensions or None
        return result

    async def _charge_event(
        self, state: RequestState, plan: CostPlan | None, result: PipelineResult
    ) -> PipelineResult | None:
        """Take an event's actual cost from its subscriber's budget; the refusal when it does not hold it."""
        if self.budget is None or plan is None:
            return None
        cost = min(plan.actual(result.data, state.variables), state.requested_cost or 0)
        admission = await self.budget.admit(state.request, state.viewer, cost)
        if admission.taken:
            return None
        return PipelineResult(Outcome.THROTTLED, errors=[throttled_error(admission)], headers=admission.headers())

    async def _costed(self, state: RequestState, result: PipelineResult) -> PipelineResult:
        """Add `extensions.cost` (requested, actual, the client's budget) and the rate-limit headers, giving
        back to the budget what the response did not use."""
        plan, requested = state.cost_plan, state.requested_cost
        if plan is None or requested is None:
            return result
        if result.executed:  # never more than requested (a list priced at its assumed size may hold more)
            actual = min(plan.actual(result.data, state.variables), requested)
        else:  # refused costs nothing; stopped at the deadline, it used what it took
            actual = requested if result.outcome is Outcome.TIMEOUT else 0
        cost: dict[str, Any] = {"requestedQueryCost": requested, "actualQueryCost": actual}
        admission = state.admission
        if admission is not None:
            assert self.budget is not None
            # With errors, what the response holds says nothing of the work done (an error deep down nulls
            # it all after every load ran): nothing is given back.
            await self.budget.settle(admission, requested if result.errors else actual)
            cost["throttleStatus"] = admission.status()
            result.headers = {**(result.headers or {}), **admission.headers()}
        result.extensions = {**(result.extensions or {}), "cost": cost}
        return result

    def _start_extensions(self, params: GraphQLParams) -> ExtensionRun | None:
        if self.extensions is None:
            return None
        return self.extensions.start(params.query, params.operation_name, params.variables, params.extensions)


async def _within(outcome: Any, seconds: float) -> ExecutionResult:
    try:
        async with asyncio.timeout(seconds):
            result: ExecutionResult = await outcome
            return result
    except TimeoutError:
        message = f"The event took longer than {seconds:g} s to deliver and was skipped"
        return ExecutionResult(None, errors=[GraphQLError(message, extensions={"code": "TIMEOUT"})])


def _hook(run: ExtensionRun | None, stage: Literal["operation", "executing"]) -> AbstractAsyncContextManager[Any]:
    if run is None:
        return _NO_HOOK
    return run.operation() if stage == "operation" else run.executing()


def _executed(result: ExecutionResult) -> PipelineResult:
    outcome = Outcome.OK
    errors = None
    if result.errors:
        errors = [format_error(error) for error in result.errors]
        if result.data is None and any(is_unavailable(error.original_error) for error in result.errors):
            outcome = Outcome.UNAVAILABLE
    extensions = dict(result.extensions) if result.extensions else None
    return PipelineResult(outcome, result.data, errors, extensions, executed=True)


def _request_error(errors: list[GraphQLError], code: str) -> PipelineResult:
    return PipelineResult(Outcome.REQUEST_ERROR, errors=format_request_errors(errors, code))


def _timed_out(seconds: float | None) -> PipelineResult:
    message = f"The request took longer than {seconds:g} s and was stopped"
    return PipelineResult(Outcome.TIMEOUT, errors=[{"message": message, "extensions": {"code": "TIMEOUT"}}])


def _failure(exc: Exception) -> PipelineResult:
    if isinstance(exc, DomainError):
        if exc.refusal is not None:
            return PipelineResult(Outcome(exc.refusal), errors=[format_failure(exc)], headers=exc.headers() or None)
        outcome = Outcome.REQUEST_ERROR
    elif is_unavailable(exc):
        outcome = Outcome.UNAVAILABLE
    else:
        outcome = Outcome.FAILURE
    return PipelineResult(outcome, errors=[format_failure(exc)])


def _root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> frozenset[str]:
    """The names of the fields at the operation's root, through fragments (without evaluating directives)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()
    pending = [operation.selection_set]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    pending.append(fragment.selection_set)
    return frozenset(names)
