"""The correctness gate and one timed wrk run with the server's CPU and memory around it."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.servers import ProcessTree, postgres_backends
from bench.workloads import Workload, mutation_cart_id, payload_errors, with_cart

if TYPE_CHECKING:
    from bench.carts import CartStock

__all__ = ["GateFailure", "Measurement", "Target", "check_answers", "gate", "run_wrk", "wrk_path"]

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().with_name("wrk_post.lua")
HEADERS = {"content-type": "application/json", "accept": "application/json"}


class GateFailure(AssertionError):
    """A response was not the one the benchmark may measure: an error, another status, other data."""


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench: wrk is not installed; on Debian or Ubuntu: apt-get install wrk")
    return found


@dataclass(frozen=True)
class Target:
    """One server's endpoint for one workload; `carts` for a workload on a fresh cart per request."""

    server: str  # "graphql" or "limit"
    url: str
    body_file: Path
    expected_file: Path
    carts: CartStock | None = None


def gate(
    client: httpx.Client,
    workload: Workload,
    graphql_url: str,
    limit_url: str,
    body: bytes,
    label: str,
    carts: CartStock | None = None,
) -> tuple[bytes, bytes]:
    """Send the request once to each server (on a fresh-cart workload, each on a new cart of `carts`): 200,
    no `errors`, and the same JSON from both. Returns the bodies."""
    cart_ids: tuple[str, str] | None = None
    graphql_body = limit_body = body
    if workload.fresh_cart:
        assert carts is not None, f"{workload.key} needs carts"
        graphql_cart, limit_cart = carts.take(2)
        cart_ids = graphql_cart, limit_cart
        graphql_body, limit_body = with_cart(body, graphql_cart), with_cart(body, limit_cart)
    graphql = client.post(graphql_url, content=graphql_body, headers=HEADERS)
    limit = client.post(limit_url, content=limit_body, headers=HEADERS)
    check_answers(workload, graphql, limit, label, cart_ids)
    return graphql.content, limit.content


def check_answers(
    workload: Workload,
    graphql: httpx.Response,
    limit: httpx.Response,
    label: str,
    cart_ids: tuple[str, str] | None = None,
) -> None:
    """Both answered 200, GraphQL with data and no `errors` (nor a payload's), and both with the same JSON
    (compared as `workload.comparable`); given `cart_ids`, each answer shows the cart it was asked to
    change. Else GateFailure."""
    for name, response in (("GraphQL", graphql), ("limit", limit)):
        if response.status_code != 200:
            raise GateFailure(f"{label}: {name} answered {response.status_code}: {response.text[:500]}")
    decoded = json.loads(graphql.content)
    if "errors" in decoded:
        raise GateFailure(f"{label}: GraphQL errors: {json.dumps(decoded['errors'])[:1000]}")
    if not isinstance(decoded.get("data"), dict) or not any(decoded["data"].values()):
        raise GateFailure(f"{label}: GraphQL returned no data: {graphql.text[:500]}")
    for name, response in (("GraphQL", graphql), ("limit", limit)):
        errors = payload_errors(json.loads(response.content))
        if errors:
            raise GateFailure(f"{label}: {name} answered the payload errors {json.dumps(errors)[:1000]}")
    if cart_ids is not None:
        for name, response, cart_id in (("GraphQL", graphql, cart_ids[0]), ("limit", limit, cart_ids[1])):
            if mutation_cart_id(json.loads(response.content)) != cart_id:
                raise GateFailure(f"{label}: {name} did not answer with the cart {cart_id}: {response.text[:500]}")
    if json.loads(workload.comparable(graphql.content)) != json.loads(workload.comparable(limit.content)):
        raise GateFailure(f"{label}: the limit's JSON differs from the GraphQL JSON")


@dataclass(frozen=True)
class Measurement:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    cpu_ms_per_request: float
    db_cpu_ms_per_request: float | None
    peak_rss_mb: float
    carts_used: int | None = None  # W4: the run's carts that got their line (checked against `requests`)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _BackendSampler(threading.Thread):
    """Samples the CPU of the database's PostgreSQL backends while a run lasts (backends may come and go)."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.first = postgres_backends(database)
        self.last = dict(self.first)
        self._finished = threading.Event()

    def run(self) -> None:
        while not self._finished.wait(0.25):
            self.last.update(postgres_backends(self.database))

    def finish(self) -> float:
        self._finished.set()
        self.join()
        self.last.update(postgres_backends(self.database))
        return sum(seconds - self.first.get(pid, 0.0) for pid, seconds in self.last.items())


def run_wrk(
    wrk: str,
    target: Target,
    tree: ProcessTree,
    concurrency: int,
    duration: float,
    postgres_database: str | None,
    mismatch_file: Path,
    mean_delay_ms: float | None = None,
) -> Measurement:
    """One timed run; raises GateFailure on a socket error, a non-2xx status or a body that differs.

    With `mean_delay_ms` the run is paced: each connection waits an exponentially distributed time of that
    mean before each request (see bench/wrk_post.lua). A target with `carts` gets fresh ones for the run,
    each request its own, and what the run left in them is checked after it."""
    threads = min(2, concurrency)
    wrk_seconds = max(1, round(duration))
    cart_arguments = []
    if target.carts is not None:
        cart_arguments = [str(target.carts.provision(wrk_seconds)), str(threads)]
    command = [
        wrk,
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{wrk_seconds}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(LUA),
        target.url,
        "--",
        str(target.body_file),
        str(target.expected_file),
        str(mismatch_file),
        "-" if mean_delay_ms is None else f"{mean_delay_ms:.3f}",
        *cart_arguments,
    ]
    tree.reset_peak_memory()
    sampler = _BackendSampler(postgres_database) if postgres_database else None
    cpu_before = tree.cpu()
    if sampler:
        sampler.start()
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120, check=False)
    elapsed = time.perf_counter() - started
    cpu_after = tree.cpu()
    db_cpu = sampler.finish() if sampler else None
    peak = tree.peak_memory_mb()
    summary = _summary(completed)
    label = f"{target.server} {target.url} at {concurrency}" + (
        "" if mean_delay_ms is None else f" paced ({mean_delay_ms:.1f} ms mean delay)"
    )
    problems = {
        name: summary[name]
        for name in ("connect_errors", "read_errors", "write_errors", "non_2xx", "timeouts", "mismatches")
        if summary[name]
    }
    if summary["checked"] != summary["requests"]:
        problems["unchecked"] = summary["requests"] - summary["checked"]
    if summary.get("exhausted"):
        problems["requests without a cart"] = summary["exhausted"]
    if problems:
        detail = f"; first differing response saved in {mismatch_file}" if summary["mismatches"] else ""
        if target.carts is not None and summary.get("exhausted"):
            detail += f"; all {target.carts.provisioned} carts were used: raise bench.carts.CARTS_PER_SECOND"
        raise GateFailure(
            f"{label}: {problems} of {summary['requests']} responses "
            f"({summary['mismatches_with_errors']} with GraphQL errors){detail}"
        )
    requests = summary["requests"]
    if requests == 0:
        raise GateFailure(f"{label}: no request completed")
    carts_used = None if target.carts is None else target.carts.check_run(requests, concurrency, label).carts
    cpu = sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items())
    seconds = summary["duration_us"] / 1e6 or elapsed
    latency = summary["latency_us"]
    return Measurement(
        requests=requests,
        seconds=seconds,
        rps=requests / seconds,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        max_ms=latency["max"] / 1000,
        cpu_ms_per_request=cpu * 1000 / requests,
        db_cpu_ms_per_request=None if db_cpu is None else db_cpu * 1000 / requests,
        peak_rss_mb=peak,
        carts_used=carts_used,
    )


def _summary(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])  # type: ignore[no-any-return]
    raise RuntimeError(f"wrk printed no summary (exit {completed.returncode}): {completed.stdout}{completed.stderr}")
