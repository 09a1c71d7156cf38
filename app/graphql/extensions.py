"""A strawberry schema's `SchemaExtension`s, driven from the pipeline's stages as strawberry drives them.

Strawberry's own `Schema.execute` parses, validates and runs graphql-core's executor inside the hooks
`on_operation`, `on_parse`, `on_validate` and `on_execute`; the pipeline does those stages itself (with its
document cache, its rule list and the planned executor), so it opens the same hooks around its own stages,
with strawberry's `ExecutionContext` filled in as strawberry fills it. What an extension may do there works
as in strawberry: supply the document in `on_parse` (a parser cache), change `validation_rules` or preset
`pre_execution_errors` before validation, preset `result` in `on_execute` (a response cache), rewrite the
result's errors on the way out (`MaskErrors`), and add to the response through `get_results()`. One
difference: the pipeline builds the request's context (and its database handle) only once the document is
valid, so `execution_context.context` is set from `on_execute` on, not before.

An extension with a `resolve` hook is graphql-core middleware, which the planned executor does not run, so
such a schema's operations execute on graphql-core's executor.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import strawberry
from graphql import ASTValidationRule, DocumentNode
from graphql.execution import MiddlewareManager
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType as StrawberryOperationType

__all__ = ["ExtensionRun", "SchemaExtensions"]

ALL_OPERATIONS = tuple(StrawberryOperationType)


class SchemaExtensions:
    """The extensions of one strawberry schema; `start` makes fresh instances for one request."""

    def __init__(self, schema: strawberry.Schema, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.schema = schema
        self.rules = rules
        self.has_middleware = any(extension._implements_resolve() for extension in schema.get_extensions())

    @staticmethod
    def configured(schema: strawberry.Schema) -> bool:
        """True when the schema has extensions to run (strawberry adds one of its own for directives)."""
        return bool(schema.extensions) or bool(schema.directives)

    def start(self, query: str, operation_name: str | None, variables: Any, extensions: Any) -> ExtensionRun:
        """The extensions of one request, with their shared execution context."""
        context = ExecutionContext(
            query=query,
            schema=self.schema,
            allowed_operations=ALL_OPERATIONS,
            variables=variables,
            validation_rules=self.rules,
            provided_operation_name=operation_name,
            operation_extensions=extensions,
        )
        return ExtensionRun(self.schema, context, self.has_middleware)


class ExtensionRun:
    """One request's extension instances and strawberry `ExecutionContext`, with a hook per stage."""

    __slots__ = ("execution_context", "middleware", "runner")

    def __init__(self, schema: strawberry.Schema, execution_context: ExecutionContext, has_middleware: bool) -> None:
        extensions = schema.get_extensions()
        for extension in extensions:
            extension.execution_context = execution_context
        self.execution_context = execution_context
        self.runner = schema.create_extensions_runner(execution_context, extensions)
        self.middleware: MiddlewareManager | None = (
            schema._get_middleware_manager(extensions) if has_middleware else None
        )

    def operation(self) -> AbstractAsyncContextManager[None]:
        """`on_operation`: around every stage of the request."""
        return self.runner.operation()

    def parsing(self) -> AbstractAsyncContextManager[None]:
        """`on_parse`: around reading the document."""
        return self.runner.parsing()

    def validation(self) -> AbstractAsyncContextManager[None]:
        """`on_validate`: around validating the document."""
        return self.runner.validation()

    def executing(self) -> AbstractAsyncContextManager[None]:
        """`on_execute`: around executing the operation (the context exists by then)."""
        return self.runner.executing()

    @property
    def document(self) -> DocumentNode | None:
        """The document an `on_parse` hook supplied, or the one the pipeline parsed."""
        return self.execution_context.graphql_document

    async def results(self) -> dict[str, Any]:
        """What the extensions add to the response's `extensions` (their `get_results()`)."""
        return await self.runner.get_extensions_results(self.execution_context)
