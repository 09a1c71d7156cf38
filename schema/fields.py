"""Field helpers: a relation is declared once and gives both of its resolvers."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry import Info

from app.graphql.columns import COLUMNS_METADATA_KEY
from app.graphql.executor import BATCH_METADATA_KEY

__all__ = ["relation"]

_SELF = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
_INFO = inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info)


def relation(
    load: Callable[..., Awaitable[list[Any]]],
    *,
    columns: tuple[str, ...],
    description: str,
    permission_classes: list[type[Any]] | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Declare a relation field of a type that wraps a `row`, from its per-level loader and its conversion.

    `columns` names the parent row's columns `load` reads (its keys), so loaders of the parent type select
    them whenever the field is asked for (see app.graphql.columns).

    `load(context, rows, **arguments)` gives what the field holds for each parent row, in order; the decorated
    `convert(context, value, **arguments)` turns one loaded value into the field's value. The parameters of
    `convert` after the first two are the field's GraphQL arguments and its return annotation is the field's
    type, so the field is written once:

        @relation(catalog.products_images, description="The first images, by position.")
        def images(context: Any, rows: list[Any], first: Annotated[int, strawberry.argument(...)] = 10) -> list[Image]:
            return [Image.from_row(row) for row in rows]

    The planned executor calls the per-level batch (field metadata under `BATCH_METADATA_KEY`) once for all
    parents of a level; graphql-core's executor calls the per-object resolver, `load` on the one row. Both get
    the arguments as the resolver does: Python names and strawberry inputs. With `permission_classes`
    (a private field), both executors check them per object before loading.
    """

    def declare(convert: Callable[..., Any]) -> Any:
        async def resolve(self: Any, info: Info, **arguments: Any) -> Any:
            context = info.context
            return convert(context, (await load(context, [self.row], **arguments))[0], **arguments)

        async def batch(context: Any, sources: list[Any], arguments: dict[str, Any]) -> list[Any]:
            values = await load(context, [source.row for source in sources], **arguments)
            return [convert(context, value, **arguments) for value in values]

        signature = inspect.signature(convert)
        arguments = list(signature.parameters.values())[2:]
        # strawberry reads the field's arguments and type from this signature, resolving its (string)
        # annotations in the module of `convert`, where the field is declared.
        resolve.__signature__ = signature.replace(parameters=[_SELF, _INFO, *arguments])  # type: ignore[attr-defined]
        resolve.__name__, resolve.__qualname__ = convert.__name__, convert.__qualname__
        resolve.__module__ = convert.__module__
        metadata = {BATCH_METADATA_KEY: batch, COLUMNS_METADATA_KEY: columns}
        return strawberry.field(
            resolver=resolve, description=description, metadata=metadata, permission_classes=permission_classes
        )

    return declare
