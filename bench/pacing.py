"""Paced runs: each workload again at half the maximum throughput its closed-loop runs reached.

wrk has no open-loop mode: a paced run is a few connections that each wait an exponentially distributed
think time before each request (bench/wrk_post.lua). The mean think time is chosen so that
connections x 1000 / (mean delay + expected latency) is the target rate; the expected latency is first
estimated from the closed-loop runs, then measured by a short pilot at that pace. See bench/README.md,
"Paced runs".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench import report

__all__ = ["LOAD_FRACTION", "PACED_CONNECTIONS", "Pace", "pilot_seconds", "plan"]

LOAD_FRACTION = 0.5
PACED_CONNECTIONS = 8
PILOT_FRACTION = 0.2


@dataclass(frozen=True)
class Pace:
    """How one paced run is driven, and what it is derived from."""

    max_rps: float  # the best median req/s over the configuration's closed-loop concurrencies
    target_rps: float
    expected_latency_ms: float
    connections: int
    mean_delay_ms: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def with_latency(self, latency_ms: float) -> Pace:
        """The same target with another expected latency (the pilot's mean)."""
        return _pace(self.max_rps, latency_ms)


def pilot_seconds(duration: float) -> int:
    """How long the unmeasured pilot of a paced run lasts: a fifth of a run, at least wrk's 1 s."""
    return max(1, round(duration * PILOT_FRACTION))


def plan(closed_runs: list[dict[str, Any]], workload: str, server: str, workers: int) -> Pace:
    """The first pace for `server` on `workload`, from the closed-loop runs of one (database, workers)
    configuration.

    The latency estimate is 1000 x min(c, workers) / req/s at the lowest concurrency c measured: at c = 1 that
    is the measured mean latency; at a higher c, about the time one worker spends on one request."""
    rows = [row for row in report.summarise(closed_runs) if row["workload"] == workload]
    lowest = min(rows, key=lambda row: row["concurrency"])
    return _pace(
        max(row[f"{server}_rps"] for row in rows),
        1000 * min(lowest["concurrency"], workers) / lowest[f"{server}_rps"],
    )


def _pace(max_rps: float, expected_ms: float) -> Pace:
    target = max_rps * LOAD_FRACTION
    # Enough connections that the think time, not the latency, sets the pace (mean delay >= 3 x latency).
    connections = max(PACED_CONNECTIONS, math.ceil(4 * target * expected_ms / 1000))
    return Pace(
        max_rps=max_rps,
        target_rps=target,
        expected_latency_ms=expected_ms,
        connections=connections,
        mean_delay_ms=connections * 1000 / target - expected_ms,
    )
