"""Driving a level's awaitables to their results without an asyncio task each, and cancelling them."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.graphql.executor.plan import FieldPlan

__all__ = ["Pending", "settle"]

log = logging.getLogger("storefront.executor")


class Pending:
    """A resolver result still to be awaited, with where its completed value goes.

    For a batch resolver, `link` is a list: one object link per source.
    """

    __slots__ = ("awaitable", "blocked_on", "context", "iterator", "link", "plan", "result")

    def __init__(self, awaitable: Any, plan: FieldPlan, link: Any) -> None:
        self.awaitable = awaitable
        self.plan = plan
        self.link = link
        self.result: Any = None
        # Each awaitable runs in a context of its own, as in a task of its own: what one resolver sets in
        # a contextvar is not seen by its siblings and does not outlive the operation.
        self.context = contextvars.copy_context()
        self.iterator: Any = None  # the awaitable's iterator, once `settle` drives it
        self.blocked_on: Any = _NOT_STARTED  # the future it waits on, None after a bare yield, or _DONE


async def settle(pending: list[Pending]) -> None:
    """Drive every pending awaitable to its result (or exception) without a task per awaitable.

    Each awaitable's iterator runs until it blocks on a future. Iterators whose future is done (or that
    yielded bare, to let the loop run) are resumed; otherwise the executor waits until any of the
    futures completes: waiting for all of them could deadlock, since one awaitable may hold a lock
    another is queued on. When the request itself is cancelled, every awaitable is cancelled as its own
    task would be (see `_cancel`), and the cancellation propagates.
    """
    for entry in pending:
        entry.iterator = entry.awaitable.__await__()
    waiting = pending
    try:
        while waiting:
            waiting = _advance(waiting)
            if waiting:
                await _wait_any(waiting)
    except BaseException:
        await _cancel(pending)
        raise


_NOT_STARTED = object()

_DONE = object()


def _advance(entries: list[Pending], cancelling: bool = False) -> list[Pending]:
    """Resume every entry that can go on; the entries still unfinished, in order."""
    unfinished = []
    for entry in entries:
        blocked_on = entry.blocked_on
        if blocked_on is _NOT_STARTED or blocked_on is None or blocked_on.done():
            entry.blocked_on = blocked_on = _step(entry, cancelling)
        if blocked_on is not _DONE:
            unfinished.append(entry)
    return unfinished


async def _wait_any(entries: list[Pending]) -> None:
    """Wait until at least one entry can go on."""
    futures = [entry.blocked_on for entry in entries]
    if any(future is None for future in futures):
        await asyncio.sleep(0)  # a bare yield asks for one turn of the event loop
    elif not any(future.done() for future in futures):
        await asyncio.wait(set(futures), return_when=asyncio.FIRST_COMPLETED)


async def _cancel(pending: list[Pending]) -> None:
    """Cancel every unfinished awaitable as `Task.cancel` would, and drive each until it has finished.

    An awaitable blocked on a future gets that future cancelled, so it resumes with CancelledError where
    it waits and its `finally` blocks and context managers run (a statement in flight is cancelled in the
    driver, a connection is handed back). Closing it instead would raise GeneratorExit where it waits,
    which SQLAlchemy's greenlet bridge cannot honour. An awaitable never started is closed.
    """
    for entry in pending:
        blocked_on = entry.blocked_on
        if blocked_on is _NOT_STARTED:
            entry.iterator.close()
            entry.blocked_on = _DONE
        elif blocked_on is _DONE:
            continue
        elif blocked_on is None or not blocked_on.cancel():
            # It yielded bare, or its future is already done (cancel() would be a no-op and it would go on
            # with the result): throw the cancellation in once, as Task.cancel does with `_must_cancel`.
            entry.blocked_on = _step(entry, cancelling=True, throw=True)
    waiting = [entry for entry in pending if entry.blocked_on is not _DONE]
    try:
        while waiting:
            waiting = _advance(waiting, cancelling=True)
            if waiting:
                await _wait_any(waiting)
    except BaseException:  # cancelled again while cleaning up: give up on the rest
        for entry in waiting:
            _close(entry)
        raise


def _close(entry: Pending) -> None:
    """Close an awaitable given up on; one whose cleanup awaits cannot be closed, which is logged, so the
    cancellation still propagates and the other awaitables are closed too."""
    try:
        entry.iterator.close()
    except Exception:
        log.warning("an abandoned resolver could not finish its cleanup", exc_info=True)


def _step(entry: Pending, cancelling: bool = False, throw: bool = False) -> Any:
    """Resume one awaitable: _DONE when it finished (result stored), else the future it waits on or None.

    With `throw`, CancelledError is thrown in instead; while `cancelling`, whatever the awaitable raises
    ends it (its result no longer matters).
    """
    iterator = entry.iterator
    try:
        if throw:
            yielded = entry.context.run(iterator.throw, asyncio.CancelledError())
        else:
            yielded = entry.context.run(iterator.send, None)
    except StopIteration as stop:
        entry.result = stop.value
        return _DONE
    except Exception as error:
        entry.result = error
        return _DONE
    except BaseException as error:
        if not cancelling:
            raise
        entry.result = error
        return _DONE
    if yielded is None:
        return None
    if not isinstance(yielded, asyncio.Future):
        iterator.close()
        entry.result = RuntimeError(f"cannot drive an awaitable that yields {yielded!r}")
        return _DONE
    yielded._asyncio_future_blocking = False
    return yielded
