"""A planned, breadth-first executor for validated query operations.

graphql-core's reference executor walks the result depth-first, builds a resolve-info object, checks
for awaitables and wraps every field, and gives every pending list item an asyncio task. Most of that
work is the same for every object of a list, so this executor:

- collects each (object type, selection) once into a plan of fields, cached per document when no
  directive depends on a variable;
- resolves one level of the result at a time for every object of that level together, so every
  dataloader sees the whole level in one batch;
- reads plain (default-resolver) fields with `getattr` and passes strings, ints and booleans through
  without calling their scalar's serializer;
- completes values with functions made once per planned field for its return type (non-null, list,
  leaf, object), so a value's completion does no type inspection;
- keeps one `Link` per object and list for null propagation, and builds response paths from the links
  only when an error or a resolver's `info` needs one;
- drives the awaitables of a level itself (a small trampoline over their `__await__` iterators) and
  waits for the futures they block on together, instead of creating a task per awaitable.

Semantics follow the specification and graphql-core: aliases, fragments, abstract types,
`@include`/`@skip`, argument defaults and variables, custom scalars, `is_type_of`, non-null
propagation (an error nulls the nearest nullable position; errors below an already nulled position
are dropped, as graphql-core's CollectedErrors does), errors with paths and locations. Operations it
does not plan (mutations, subscriptions, `@defer`/`@stream`, disabled error propagation) go to the
reference executor; see `supports`.

One constraint comes with the trampoline: resolvers run inside the request's task, so code that
cancels the *current* task to enforce a deadline (`asyncio.timeout`, as SQLAlchemy's pool checkout
does) must run in a task of its own; `RequestDatabase` does so for the pool checkout.

The package, by concern: `plan` (fields collected and planned per object type and selection, cached per
document), `complete` (result positions, value completion, null propagation), `settle` (driving a level's
awaitables without a task each, and cancelling them) and `run` (the executor and one execution, level by
level), with `compile` (the plain fields of a selection written by code generated once per plan).
"""

from __future__ import annotations

from app.graphql.executor.compile import inline_object
from app.graphql.executor.plan import BATCH_METADATA_KEY
from app.graphql.executor.run import FastExecutor

__all__ = ["BATCH_METADATA_KEY", "FastExecutor", "inline_object"]
