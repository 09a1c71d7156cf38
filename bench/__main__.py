"""python -m bench: the GraphQL server against the hand-written limit, on PostgreSQL and SQLite.

Seeds the databases, starts both servers per (database, worker count) (on PostgreSQL with 1 worker also the
peers, PostGraphile 5 and 4, for W1), checks their answers, runs wrk for each workload at fixed concurrencies,
interleaved and repeated (W4 on fresh carts made for each run), then paced at half the maximum throughput
reached, and writes bench/results/ (README.md with the tables, chart.png, results.json) only when every
correctness check passed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from bench import peer_servers, report
from bench.carts import CartStock
from bench.databases import POSTGRES_DATABASE, BenchDatabase, prepare
from bench.inprocess import count_statements
from bench.load import GateFailure, Target, gate, run_wrk, wrk_path
from bench.pacing import pilot_seconds, plan
from bench.peer_servers import BY_KEY as PEERS
from bench.peer_servers import gate_peer, parse_peers, peer_server
from bench.servers import BIN, ProcessTree, Server, free_port, stop_all
from bench.workloads import BY_KEY as WORKLOADS_BY_KEY
from bench.workloads import WORKLOADS, Workload, pick_variables

# wrk is one client on 127.0.0.1 standing for a crowd: its bucket of cost points is sized never to throttle
# it, so every request still pays for pricing and the rate limiter, as a crowd's would
UNTHROTTLED = {"RATE_LIMIT_POINTS": "1000000000", "RATE_LIMIT_RESTORE_RATE": "1000000000"}
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench"
DEFAULTS = {"duration": 10.0, "repeat": 2, "warmup": 2.0, "concurrency": "1,4,16,64"}
QUICK = {"duration": 3.0, "repeat": 1, "warmup": 1.0, "concurrency": "1,16"}
MACHINE = "2 cores and 24 GiB, shared with other work and noisy; wrk, both servers and PostgreSQL on the same cores"


def _int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive whole numbers separated by commas, e.g. 1,4,16")
    return values


def _name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(names) - {"postgresql", "sqlite"}
    if not names or unknown:
        raise argparse.ArgumentTypeError("expected postgresql, sqlite or both, separated by a comma")
    return names


def _workload_list(text: str) -> list[Workload]:
    keys = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = set(keys) - set(WORKLOADS_BY_KEY)
    if not keys or unknown:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(WORKLOADS_BY_KEY)}, separated by commas")
    return [workload for workload in WORKLOADS if workload.key in keys]


def _peer_list(text: str) -> list[str]:
    try:
        return parse_peers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 s runs, 1 repetition, concurrency 1,16; writes to var/bench/quick-results unless --output is given",
    )
    parser.add_argument("--duration", type=float, help="seconds per run (default 10; 3 with --quick)")
    parser.add_argument("--repeat", type=int, help="repetitions of every run (default 2; 1 with --quick)")
    parser.add_argument(
        "--concurrency",
        type=_int_list,
        help="concurrencies swept for the chart on PostgreSQL with 1 worker (default 1,4,16,64)",
    )
    parser.add_argument(
        "--table-concurrency",
        type=int,
        default=16,
        help="the concurrency every configuration runs at, for the main table (default 16)",
    )
    parser.add_argument(
        "--databases", type=_name_list, default=["postgresql", "sqlite"], help="postgresql,sqlite (default both)"
    )
    parser.add_argument("--workers", type=_int_list, default=[1, 2], help="worker processes (default 1,2)")
    parser.add_argument(
        "--workloads",
        type=_workload_list,
        default=list(WORKLOADS),
        help="the workloads to run, e.g. w1,w4 (default all: " + ",".join(WORKLOADS_BY_KEY) + ")",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        help="seconds of unmeasured load per server and workload after start (default 2; 1 with --quick)",
    )
    parser.add_argument("--output", type=Path, help="where to write the results (default bench/results)")
    parser.add_argument(
        "--peers",
        type=_peer_list,
        default=parse_peers("all"),
        help="peers run against W1 on PostgreSQL with 1 worker: all (default), none, or postgraphile5,postgraphile4",
    )
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    args.duration = args.duration or preset["duration"]
    args.repeat = args.repeat or preset["repeat"]
    args.warmup = preset["warmup"] if args.warmup is None else args.warmup
    args.concurrency = args.concurrency or _int_list(str(preset["concurrency"]))
    if args.output is None:
        args.output = WORK / "quick-results" if args.quick else RESULTS
    if args.repeat < 1 or args.duration < 1:
        parser.error("--repeat and --duration must be at least 1")
    return args


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = wrk_path()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    started = time.monotonic()
    sweep = (
        ("postgresql", 1)
        if "postgresql" in args.databases and 1 in args.workers
        else (args.databases[0], args.workers[0])
    )
    if not ("postgresql" in args.databases and 1 in args.workers) or WORKLOADS_BY_KEY["w1"] not in args.workloads:
        args.peers = []
    if args.peers:
        peer_servers.install(log)
    databases = prepare(args.databases, log)
    runs: list[dict[str, Any]] = []
    statements: dict[str, dict[str, dict[str, int]]] = {}
    variables: dict[str, Any] = {}
    try:
        for database in databases:
            variables = asyncio.run(pick_variables(database.url))
            counts = asyncio.run(count_statements(database.url, variables, args.workloads))
            statements[database.name] = {key: {"graphql": c.graphql, "limit": c.limit} for key, c in counts.items()}
            log(
                f"{database.name}: SQL statements per request (GraphQL / limit): "
                + ", ".join(f"{key} {c.graphql} / {c.limit}" for key, c in counts.items())
            )
            for workers in args.workers:
                concurrencies = [args.table_concurrency]
                if (database.name, workers) == sweep:
                    concurrencies = sorted({*args.concurrency, args.table_concurrency})
                runs += run_configuration(wrk, database, workers, concurrencies, variables, args)
    except GateFailure as failure:
        log(f"correctness gate failed: {failure}")
        log("no results written")
        return 1
    finally:
        stop_all()
    meta = _meta(args, sweep, variables, time.monotonic() - started)
    rows = report.summarise(runs)
    paced = report.summarise_paced(runs)
    peers = report.summarise_peers(runs)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(
        json.dumps(
            {"meta": meta, "statements": statements, "summary": rows, "paced": paced, "peers": peers, "runs": runs},
            indent=1,
        )
        + "\n"
    )
    report.write_markdown(args.output / "README.md", rows, statements, meta, paced, peers)
    report.write_chart(args.output / "chart.png", rows, meta)
    log(
        f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}/"
        f"README.md, chart.png and results.json in {meta['minutes']:.1f} minutes"
    )
    return 0


def _exit_on_signal(signum: int, _frame: Any) -> None:
    stop_all()
    raise SystemExit(128 + signum)


def run_configuration(
    wrk: str,
    database: BenchDatabase,
    workers: int,
    concurrencies: list[int],
    variables: dict[str, Any],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Start both servers (and the peers, on PostgreSQL with 1 worker), warm them up, run every (repetition,
    concurrency, workload, server; the peers on W1 only), then every (workload, server) paced at half its
    maximum throughput; stop them."""
    label = f"{database.name}, {workers} worker{'s' if workers > 1 else ''}"
    files = WORK / "run" / f"{database.name}-{workers}"
    files.mkdir(parents=True, exist_ok=True)
    graphql_port, limit_port = free_port(), free_port()
    graphql = Server(
        "GraphQL server",
        [
            str(BIN / "storefront"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(graphql_port),
            "--workers",
            str(workers),
        ],
        {"DATABASE_URL": database.url, "STOREFRONT_ENV": "test", "LOG_LEVEL": "WARNING", **UNTHROTTLED},
        "/readyz",
        files / "graphql.log",
        graphql_port,
    )
    limit = Server(
        "limit server",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.limit_server:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(limit_port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-server-header",
        ],
        {"LIMIT_DATABASE_URL": database.url},
        "/healthz",
        files / "limit.log",
        limit_port,
    )
    peers = {
        key: peer_server(PEERS[key], database.url, free_port(), files / f"{key}.log")
        for key in (args.peers if not database.is_sqlite and workers == 1 else [])
    }
    carts = CartStock(database.url, files / "w4-carts.txt")
    runs: list[dict[str, Any]] = []
    try:
        log(f"{label}: starting the servers" + (f" and the peers ({', '.join(peers)})" if peers else ""))
        graphql.start()
        limit.start()
        for peer in peers.values():
            peer.start()
        for started_server in (graphql, limit):
            _wait_for_workers(started_server, workers)
        targets = _write_request_files(files, graphql, limit, variables, peers, args.workloads, carts)
        with httpx.Client(timeout=60.0) as client:
            _gate_all(client, targets, files, "first check")
            trees = {"graphql": graphql.tree(), "limit": limit.tree()}
            trees.update({key: peer.tree() for key, peer in peers.items()})
            postgres = None if database.is_sqlite else POSTGRES_DATABASE
            if args.warmup:
                log(f"{label}: warming up ({args.warmup:g} s per server and workload)")
                for workload in args.workloads:
                    for server in targets[workload.key]:
                        run_wrk(
                            wrk,
                            targets[workload.key][server],
                            trees[server],
                            args.table_concurrency,
                            args.warmup,
                            postgres,
                            files / "mismatch.txt",
                        )
                _gate_all(client, targets, files, "after the warm-up")
            for repetition in range(args.repeat):
                for concurrency in concurrencies:
                    for workload in args.workloads:
                        # Every server of the workload back to back; the order reverses between repetitions.
                        order = list(targets[workload.key])
                        for server in order if repetition % 2 == 0 else reversed(order):
                            measured = run_wrk(
                                wrk,
                                targets[workload.key][server],
                                trees[server],
                                concurrency,
                                args.duration,
                                postgres,
                                files / "mismatch.txt",
                            )
                            _gate_all(client, targets, files, f"after {server} {workload.key} at {concurrency}")
                            runs.append(
                                {
                                    "database": database.name,
                                    "workers": workers,
                                    "workload": workload.key,
                                    "mode": "closed",
                                    "concurrency": concurrency,
                                    "repetition": repetition,
                                    "server": server,
                                    **measured.as_dict(),
                                }
                            )
                            log(
                                f"{label}: rep {repetition + 1}/{args.repeat} {workload.key} c={concurrency} "
                                f"{server:13} {measured.rps:8.1f} req/s  p50 {measured.p50_ms:7.1f} ms  "
                                f"p99 {measured.p99_ms:7.1f} ms  cpu {measured.cpu_ms_per_request:6.2f} ms/req"
                                + ("" if measured.carts_used is None else f"  {measured.carts_used} carts got a line")
                            )
            runs += _paced_runs(wrk, targets, trees, client, files, label, postgres, runs, args.duration)
    finally:
        graphql.stop()
        limit.stop()
        for peer in peers.values():
            peer.stop()
        carts.close()
    return runs


def _paced_runs(
    wrk: str,
    targets: dict[str, dict[str, Target]],
    trees: dict[str, ProcessTree],
    client: httpx.Client,
    files: Path,
    label: str,
    postgres: str | None,
    closed: list[dict[str, Any]],
    duration: float,
) -> list[dict[str, Any]]:
    """Every workload on each server once more, paced at half the maximum throughput its closed-loop runs of
    this configuration reached, with the same checks of every response. An unmeasured pilot at the pace
    estimated from the closed-loop runs gives the latency the measured run's pace is set from."""
    configuration = {"database": closed[0]["database"], "workers": closed[0]["workers"]}
    runs: list[dict[str, Any]] = []
    for key in targets:
        for server in ("graphql", "limit"):
            target, tree, mismatch = targets[key][server], trees[server], files / "mismatch.txt"
            pace = plan(closed, key, server, configuration["workers"])
            pilot = run_wrk(
                wrk, target, tree, pace.connections, pilot_seconds(duration), postgres, mismatch, pace.mean_delay_ms
            )
            pace = pace.with_latency(pilot.mean_ms)
            measured = run_wrk(wrk, target, tree, pace.connections, duration, postgres, mismatch, pace.mean_delay_ms)
            _gate_all(client, targets, files, f"after {server} {key} paced")
            runs.append(
                {
                    **configuration,
                    "workload": key,
                    "mode": "paced",
                    "repetition": 0,
                    "server": server,
                    **pace.as_dict(),
                    **measured.as_dict(),
                }
            )
            log(
                f"{label}: paced {key} {server:7} target {pace.target_rps:7.1f} req/s "
                f"({pace.connections} connections, mean delay {pace.mean_delay_ms:.1f} ms): "
                f"{measured.rps:7.1f} req/s  p50 {measured.p50_ms:7.1f} ms  p99 {measured.p99_ms:7.1f} ms"
            )
    return runs


def _wait_for_workers(server: Server, workers: int, timeout: float = 60.0) -> None:
    """With several workers uvicorn's master answers as soon as one worker is up: wait until all are spawned,
    then as long as one took to start (the warm-up that follows loads every worker in any case)."""
    if workers == 1:
        return
    deadline = time.monotonic() + timeout
    tree = server.tree()
    while time.monotonic() < deadline:
        if sum(b"spawn_main" in _cmdline(pid) for pid in tree.pids()) >= workers:
            time.sleep(max(2.0, server.start_seconds))
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name}: {workers} workers did not start within {timeout:.0f} s")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _write_request_files(
    files: Path,
    graphql: Server,
    limit: Server,
    variables: dict[str, Any],
    peers: dict[str, Server],
    workloads: list[Workload],
    carts: CartStock,
) -> dict[str, dict[str, Target]]:
    """Each workload's targets: "graphql" and "limit" first, then the peers (W1 only), each with its own body.
    A fresh-cart workload's targets take their carts from `carts`."""
    targets: dict[str, dict[str, Target]] = {}
    for workload in workloads:
        key = workload.key
        body_file = files / f"{key}-request.json"
        body_file.write_bytes(workload.body(variables[key]))
        stock = carts if workload.fresh_cart else None
        targets[key] = {
            "graphql": Target(
                "graphql", graphql.base_url + "/graphql", body_file, files / f"{key}-graphql-expected.json", stock
            ),
            "limit": Target(
                "limit", limit.base_url + f"/{key}", body_file, files / f"{key}-limit-expected.json", stock
            ),
        }
    for key, server in peers.items():
        body_file = files / f"w1-{key}-request.json"
        body_file.write_bytes(PEERS[key].body())
        targets["w1"][key] = Target(key, server.base_url + "/graphql", body_file, files / f"w1-{key}-expected.json")
    return targets


def _gate_all(client: httpx.Client, targets: dict[str, dict[str, Target]], files: Path, when: str) -> None:
    """Every workload once on both servers: no errors, equal JSON, and the very bytes the load runs expect
    (written on the first check; on fresh carts, the same bytes but for the IDs). Each peer of a workload:
    no errors and the same data as our answer."""
    for key, pair in targets.items():
        workload = WORKLOADS_BY_KEY[key]
        body = pair["graphql"].body_file.read_bytes()
        answers = gate(
            client, workload, pair["graphql"].url, pair["limit"].url, body, f"{key} {when}", pair["graphql"].carts
        )
        checked = [(pair["graphql"], answers[0]), (pair["limit"], answers[1])]
        for server, target in pair.items():
            if server in PEERS:
                checked.append((target, gate_peer(client, PEERS[server], target.url, answers[0], f"{key} {when}")))
        for target, answer in checked:
            if not target.expected_file.exists() or when == "first check":
                target.expected_file.write_bytes(answer)
            elif workload.comparable(target.expected_file.read_bytes()) != workload.comparable(answer):
                saved = files / f"{key}-{target.server}-changed.json"
                saved.write_bytes(answer)
                raise GateFailure(f"{key} {when}: {target.server} answered other bytes than before (saved {saved})")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.rstrip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _meta(
    args: argparse.Namespace, sweep: tuple[str, int], variables: dict[str, Any], seconds: float
) -> dict[str, Any]:
    changed = _git("status", "--porcelain", "--", "app", "schema", "resolvers", "bench", "pyproject.toml")
    dirty = [line[3:] for line in changed.splitlines() if not line[3:].startswith("bench/results")]
    versions = {"Python": platform.python_version(), "SQLite": sqlite3.sqlite_version}
    for package in (
        "strawberry-graphql",
        "graphql-core",
        "starlette",
        "uvicorn",
        "SQLAlchemy",
        "asyncpg",
        "aiosqlite",
        "orjson",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    versions["PostgreSQL"] = _postgres_version() if "postgresql" in args.databases else "not run"
    versions.update(peer_servers.versions(args.peers))
    versions["wrk"] = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("[")[0].strip()
    command = "python -m bench" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    return {
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": dirty,
        "minutes": seconds / 60,
        "machine": f"{MACHINE}; {platform.machine()}, Linux {platform.release()}, {os.cpu_count()} CPUs seen",
        "machine_short": "2 shared cores",
        "duration": args.duration,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "table_concurrency": args.table_concurrency,
        "concurrency": args.concurrency,
        "databases": args.databases,
        "workers": args.workers,
        "sweep": list(sweep),
        "peers": {key: PEERS[key].label() for key in args.peers},
        "workloads": [workload.key for workload in args.workloads],
        "variables": json.dumps({key: value for key, value in variables.items() if value}),
        "versions": versions,
    }


def _postgres_version() -> str:
    async def fetch() -> str:
        import asyncpg

        from bench.databases import database_url

        connection = await asyncpg.connect("postgresql://" + database_url("postgresql").split("://", 1)[1])
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    try:
        return asyncio.run(fetch())
    except Exception as exc:  # the version is a note; the run does not depend on it
        return f"unknown ({type(exc).__name__})"


if __name__ == "__main__":
    sys.exit(main())
