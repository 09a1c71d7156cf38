"""A budget of cost points per client, for the pipeline: an operation's requested cost is taken from the
client's bucket before it runs (or it is refused, THROTTLED, taking nothing), and what it did not use is
given back once its actual cost is known. Which client a request is (a customer, an address) is the
composition root's to say."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.buckets import Bucket, Buckets

__all__ = ["Admission", "CostBudget", "throttled_error"]

MINIMUM_CHARGE = 1  # points a request takes whatever its cost: `{ __typename }` in a loop is not free
ClientOf = Callable[[Any, Any], str]  # (transport request, viewer) -> the client's key


@dataclass(slots=True)
class Admission:
    """One request's draw on its client's bucket."""

    key: str
    cost: int
    taken: bool
    available: float
    bucket: Bucket

    @property
    def retry_after(self) -> int:
        """Whole seconds until the bucket holds this request's cost (at least 1 when refused)."""
        return max(1, math.ceil(self.bucket.wait(self.cost, self.available))) if not self.taken else 0

    def status(self) -> dict[str, float]:
        """Shopify's `throttleStatus`: the bucket's size, what it holds now, and its refill rate a second."""
        return {
            "maximumAvailable": _number(self.bucket.capacity),
            "currentlyAvailable": _number(math.floor(self.available * 10) / 10),
            "restoreRate": _number(self.bucket.rate),
        }

    def headers(self) -> dict[str, str]:
        """`X-RateLimit-Limit` and `-Remaining` (points), and `Retry-After` when refused."""
        headers = {
            "X-RateLimit-Limit": str(_number(self.bucket.capacity)),
            "X-RateLimit-Remaining": str(math.floor(self.available)),
        }
        if not self.taken:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class CostBudget:
    """Takes requested costs from per-client buckets and gives back what the responses did not use."""

    def __init__(self, buckets: Buckets, bucket: Bucket, client_of: ClientOf) -> None:
        self.buckets = buckets
        self.bucket = bucket
        self.client_of = client_of

    async def admit(self, request: Any, viewer: Any, cost: int) -> Admission:
        """Take `cost` from the client's bucket if it holds it (at least 1: a request that costs nothing
        still counts); the admission says whether it did."""
        cost = max(cost, MINIMUM_CHARGE)
        key = self.client_of(request, viewer)
        taken = await self.buckets.take(key, cost, self.bucket)
        return Admission(key, cost, taken.taken, taken.available, self.bucket)

    async def close(self) -> None:
        """Close the buckets' connection, if they have one."""
        close = getattr(self.buckets, "close", None)
        if close is not None:
            await close()

    async def settle(self, admission: Admission, actual: int) -> None:
        """Give back the part of an admitted cost the response did not use."""
        unused = admission.cost - max(actual, MINIMUM_CHARGE)
        if admission.taken and unused > 0:
            admission.available = (await self.buckets.take(admission.key, -unused, self.bucket)).available


def throttled_error(admission: Admission) -> dict[str, Any]:
    """The formatted THROTTLED error of a refused admission, with `retryAfter` in seconds."""
    wait = admission.retry_after
    return {
        "message": (
            f"Throttled: the query costs {admission.cost} points and {math.floor(admission.available)} are "
            f"available; try again in {wait} second{'s' if wait != 1 else ''}"
        ),
        "extensions": {"code": "THROTTLED", "retryAfter": wait, "cost": admission.cost},
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
