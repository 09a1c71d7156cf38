"""Loader futures: batched, in order, and shared between fields without one caller's cancellation or
failure leaking into another's."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.db.loaders import BaseLoader


class GatedLoader(BaseLoader):
    """Each key's value is ten times the key (a negative key fails); batches wait for `release`."""

    def __init__(self) -> None:
        super().__init__(db=None, loaders=None)  # type: ignore[arg-type]
        self.release = asyncio.Event()
        self.batches: list[list[int]] = []

    async def batch_load_fn(self, keys: list[int]) -> list[Any]:
        self.batches.append(list(keys))
        await self.release.wait()
        return [ValueError(f"bad key {key}") if key < 0 else key * 10 for key in keys]


async def _settled(loader: GatedLoader) -> None:
    """Let the loader dispatch, release its batches and let every callback run."""
    loader.release.set()
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What the running loop's exception handler receives during the test."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


async def test_load_many_keeps_order_in_one_batch():
    # given
    loader = GatedLoader()
    loader.release.set()
    # when
    values = await loader.load_many([3, 1, 3, 2])
    # then
    assert values == [30, 10, 30, 20]
    assert loader.batches == [[3, 1, 2]]


async def test_load_many_of_no_keys():
    loader = GatedLoader()
    assert await loader.load_many([]) == []
    assert loader.batches == []


async def test_load_many_of_cached_keys_is_done_at_once():
    # given: keys already in the cache (primed by a listing)
    loader = GatedLoader()
    loader.prime(1, "one").prime(2, "two")
    # when
    future = loader.load_many([2, 1])
    # then: no loop turn needed, so the executor can read it on the spot
    assert future.done()
    assert future.result() == ["two", "one"]


async def test_cancelling_load_many_leaves_the_shared_futures():
    # given: a field waiting on keys 1 and 2, another on key 1
    loader = GatedLoader()
    combined = loader.load_many([1, 2])
    other = loader.load(1)
    await asyncio.sleep(0)
    # when: the first field is cancelled (a sibling failed) before the batch returns
    combined.cancel()
    await _settled(loader)
    # then
    assert combined.cancelled()
    assert await other == 10
    assert await loader.load_many([2, 1]) == [20, 10]
    assert loader.batches == [[1, 2]]


async def test_cancelling_load_leaves_the_shared_future():
    # given
    loader = GatedLoader()
    first = loader.load(1)
    second = loader.load(1)
    await asyncio.sleep(0)
    # when
    first.cancel()
    await _settled(loader)
    # then
    assert await second == 10


async def test_load_many_fails_with_the_first_failure():
    # given
    loader = GatedLoader()
    combined = loader.load_many([1, -2, 3])
    # when
    await _settled(loader)
    # then
    with pytest.raises(ValueError, match="bad key -2"):
        await combined
    assert await loader.load_many([3, 1]) == [30, 10]


async def test_failure_nobody_waits_for_is_not_logged(loop_errors):
    # given: the only caller of a failing key is cancelled before the batch fails
    loader = GatedLoader()
    combined = loader.load_many([-1, 2])
    await asyncio.sleep(0)
    combined.cancel()
    # when
    await _settled(loader)
    del loader, combined
    gc.collect()
    # then: asyncio did not report "exception was never retrieved"
    assert loop_errors == []
