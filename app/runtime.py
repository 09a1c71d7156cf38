"""Process-wide tuning for serving: the garbage collector."""

from __future__ import annotations

import gc

__all__ = ["tune_garbage_collector"]

# Young-generation threshold: CPython's default (700) made the collector run dozens of times per listing.
YOUNG_THRESHOLD = 20_000
_tuned = False


def tune_garbage_collector() -> None:
    """Freeze what startup allocated and collect young objects less often; once per process.

    A GraphQL request allocates thousands of short-lived containers (result dicts and lists, row views,
    futures) that reference counting frees on its own. With the default thresholds the cycle collector
    ran every 700 allocations, and its older generations walked the whole heap of modules, the schema and
    SQLAlchemy's metadata. Frozen objects are never scanned again (the technique of gc.freeze's docs for
    pre-fork servers); request garbage with cycles is still collected, just in larger batches.
    """
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
