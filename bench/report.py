"""Medians over repetitions, the markdown tables and the chart."""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.workloads import WORKLOADS

__all__ = ["summarise", "summarise_paced", "summarise_peers", "write_chart", "write_markdown"]

TITLES = {workload.key: workload.title for workload in WORKLOADS}
SHORT = {"w1": "W1 listing", "w2": "W2 product page", "w3": "W3 search", "w4": "W4 cart add"}
LABELS = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
METRICS = ("rps", "p50_ms", "p90_ms", "p99_ms", "cpu_ms_per_request", "db_cpu_ms_per_request", "peak_rss_mb")
PACED_METRICS = ("max_rps", "target_rps", "requests", "rps", "p50_ms", "p90_ms", "p99_ms", "cpu_ms_per_request")
# Issue 3's target: p99 of W1 under 50 ms at half its maximum throughput, for the GraphQL server.
TARGET_WORKLOAD = "w1"
TARGET_P99_MS = 50.0
ORDER = {"postgresql": 0, "sqlite": 1}
OURS = ("graphql", "limit")
PEER_METRICS = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "db_cpu_ms_per_request", "peak_rss_mb")
CARTS_NOTE = (
    "",
    "W4 is a mutation: each request adds one line to its own empty guest cart, made in the database before the "
    "run (more than the run can use; a run that runs out fails) and replaced before the next, so each server and "
    "repetition starts on fresh carts, beside 5,000 other carts with 2 lines each. After each run the database "
    "had one line of quantity 1 in as many carts as requests completed (plus at most those in flight when wrk "
    "stopped), and no payload `errors` were answered. The limit does the resolver's work in SQL, in one "
    "transaction: lock the open cart by its token, check the variant is on sale and the quantity, insert or merge "
    "the line, move the cart's `updated_at`, read its lines back. W4 runs against our server and the limit only "
    "(peers: not applicable).",
)


def _median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (database, workers, workload, concurrency): medians over repetitions for each server,
    and the GraphQL/limit ratios taken within each repetition, then their median."""
    grouped: dict[tuple[str, int, str, int], dict[int, dict[str, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for run in runs:
        if run.get("mode", "closed") != "closed":  # results written before paced runs existed have no mode
            continue
        key = (run["database"], run["workers"], run["workload"], run["concurrency"])
        grouped[key][run["repetition"]][run["server"]] = run
    rows = []
    for (database, workers, workload, concurrency), repetitions in grouped.items():
        complete = [pair for pair in repetitions.values() if "graphql" in pair and "limit" in pair]
        row: dict[str, Any] = {
            "database": database,
            "workers": workers,
            "workload": workload,
            "concurrency": concurrency,
            "repetitions": len(complete),
        }
        for server in ("graphql", "limit"):
            for metric in METRICS:
                row[f"{server}_{metric}"] = _median([pair[server][metric] for pair in complete])
            row[f"{server}_peak_rss_mb"] = max(pair[server]["peak_rss_mb"] for pair in complete)
        row["rps_ratio"] = _median([pair["graphql"]["rps"] / pair["limit"]["rps"] for pair in complete])
        row["p99_ratio"] = _median([pair["graphql"]["p99_ms"] / pair["limit"]["p99_ms"] for pair in complete])
        row["cpu_ratio"] = _median(
            [pair["graphql"]["cpu_ms_per_request"] / pair["limit"]["cpu_ms_per_request"] for pair in complete]
        )
        rows.append(row)
    rows.sort(key=lambda r: (ORDER.get(r["database"], 9), r["workers"], r["workload"], r["concurrency"]))
    return rows


def summarise_paced(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (database, workers, workload) of the paced runs: medians for each server, and whether
    GraphQL met issue 3's target (W1 only; None for the other workloads)."""
    grouped: dict[tuple[str, int, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if run.get("mode") == "paced":
            grouped[(run["database"], run["workers"], run["workload"])][run["server"]].append(run)
    rows = []
    for (database, workers, workload), servers in grouped.items():
        row: dict[str, Any] = {"database": database, "workers": workers, "workload": workload}
        for server in ("graphql", "limit"):
            measured = servers.get(server, [])
            row[f"{server}_connections"] = max((run["connections"] for run in measured), default=None)
            for metric in PACED_METRICS:
                row[f"{server}_{metric}"] = _median([run[metric] for run in measured])
        p99 = row["graphql_p99_ms"]
        row["target_met"] = p99 < TARGET_P99_MS if workload == TARGET_WORKLOAD and p99 is not None else None
        rows.append(row)
    rows.sort(key=lambda r: (ORDER.get(r["database"], 9), r["workers"], r["workload"]))
    return rows


def summarise_peers(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (database, workers, workload, concurrency, server) of the closed-loop runs in which peers
    ran (W1 on PostgreSQL with 1 worker): our GraphQL server, the limit and each peer, with medians over the
    repetitions and `ours_ratio` = our req/s ÷ that server's req/s taken within each repetition, then the
    median."""
    grouped: dict[tuple[str, int, str, int], dict[int, dict[str, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for run in runs:
        if run.get("mode", "closed") == "closed":
            grouped[(run["database"], run["workers"], run["workload"], run["concurrency"])][run["repetition"]][
                run["server"]
            ] = run
    rows = []
    for (database, workers, workload, concurrency), repetitions in grouped.items():
        servers = list(dict.fromkeys(server for pair in repetitions.values() for server in pair))
        if not set(servers) - set(OURS):
            continue
        for server in sorted(servers, key=lambda name: OURS.index(name) if name in OURS else len(OURS)):
            measured = [pair for pair in repetitions.values() if server in pair and "graphql" in pair]
            row: dict[str, Any] = {
                "database": database,
                "workers": workers,
                "workload": workload,
                "concurrency": concurrency,
                "server": server,
                "repetitions": len(measured),
            }
            for metric in PEER_METRICS:
                row[metric] = _median([pair[server][metric] for pair in measured])
            row["peak_rss_mb"] = max((pair[server]["peak_rss_mb"] for pair in measured), default=None)
            row["ours_ratio"] = _median([pair["graphql"]["rps"] / pair[server]["rps"] for pair in measured])
            rows.append(row)
    rows.sort(key=lambda r: (ORDER.get(r["database"], 9), r["workers"], r["workload"], r["concurrency"]))
    return rows


def _num(value: float | None, places: int = 1) -> str:
    if value is None:
        return "-"
    if places == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{places}f}"


def _pair(row: dict[str, Any], metric: str, places: int = 1) -> str:
    return f"{_num(row[f'graphql_{metric}'], places)} / {_num(row[f'limit_{metric}'], places)}"


def write_markdown(
    path: Path,
    rows: list[dict[str, Any]],
    statements: dict[str, dict[str, dict[str, int]]],
    meta: dict[str, Any],
    paced: list[dict[str, Any]] | None = None,
    peers: list[dict[str, Any]] | None = None,
) -> None:
    """The results README: the table at the table concurrency, the peers, the sweep, the paced runs,
    workloads, versions."""
    table_concurrency = meta["table_concurrency"]
    measured = [workload for workload in WORKLOADS if any(row["workload"] == workload.key for row in rows)]
    on_carts = any(workload.fresh_cart for workload in measured)
    sweep_database, sweep_workers = meta["sweep"]
    lines = [
        "# Benchmark results",
        "",
        f"Made by `{meta['command']}` on {meta['date']} at commit `{meta['commit']}`"
        + (" with uncommitted changes (listed below)" if meta["dirty"] else "")
        + f"; {meta['minutes']:.0f} minutes. How to read it: [../README.md](../README.md).",
        "",
        f"Machine: {meta['machine']}. Each run: {meta['duration']:g} s of wrk at a fixed concurrency "
        f"(connections = concurrency, threads = min(2, concurrency)), {meta['repeat']} repetitions, GraphQL "
        "and limit back to back in each (their order alternating), medians shown. Every response of every run "
        "was compared byte for byte with the body the correctness gate accepted (no GraphQL errors, JSON equal "
        "to the limit's"
        + ("; for W4 with the cart's and lines' IDs blanked, as each request has its own cart" if on_carts else "")
        + "), and the gate ran before and after every run.",
        "",
        f"## All configurations at concurrency {table_concurrency}",
        "",
        "Each cell is GraphQL / limit. *Ratio* is GraphQL requests/s ÷ limit requests/s measured in the same "
        "repetition (1.00 = as fast as the hand-written limit). CPU is the server processes' user+system time "
        "per request; DB CPU is that of the PostgreSQL backends serving the database (not measured for SQLite, "
        "which runs inside the server). Peak RSS is the largest process's VmHWM during the run.",
        "",
        "| database | workers | workload | req/s | ratio | p50 ms | p99 ms | SQL/request | CPU ms/request "
        "| DB CPU ms/request | peak RSS MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row["concurrency"] != table_concurrency:
            continue
        counts = statements[row["database"]][row["workload"]]
        lines.append(
            f"| {LABELS[row['database']]} | {row['workers']} | {SHORT[row['workload']]} | {_pair(row, 'rps', 0)} "
            f"| {_num(row['rps_ratio'], 2)} | {_pair(row, 'p50_ms')} | {_pair(row, 'p99_ms')} "
            f"| {counts['graphql']} / {counts['limit']} | {_pair(row, 'cpu_ms_per_request')} "
            f"| {_pair(row, 'db_cpu_ms_per_request')} | {_pair(row, 'peak_rss_mb', 0)} |"
        )
    lines += _peer_table(peers, meta, rows)
    sweep_rows = [r for r in rows if r["database"] == sweep_database and r["workers"] == sweep_workers]
    if len({r["concurrency"] for r in sweep_rows}) > 1:
        lines += [
            "",
            f"## {LABELS[sweep_database]}, {sweep_workers} worker{'s' if sweep_workers > 1 else ''}, "
            "by concurrency (the chart)",
            "",
            "![throughput and p99 against concurrency](chart.png)",
            "",
            "| workload | concurrency | req/s | ratio | p50 ms | p99 ms | CPU ms/request |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in sweep_rows:
            lines.append(
                f"| {SHORT[row['workload']]} | {row['concurrency']} | {_pair(row, 'rps', 0)} "
                f"| {_num(row['rps_ratio'], 2)} | {_pair(row, 'p50_ms')} | {_pair(row, 'p99_ms')} "
                f"| {_pair(row, 'cpu_ms_per_request')} |"
            )
    lines += _paced_table(paced, meta)
    lines += [
        "",
        "## Workloads",
        "",
        *(f"- **{workload.title}**" for workload in measured),
        *(CARTS_NOTE if on_carts else []),
        "",
        f"Variables: {meta['variables']}. The documents are in `bench/workloads.py`.",
        "",
        "SQL statements per request are counted exactly, in-process, on one request after a first one "
        "(`app.db.sql_counter` on the app's engine, transaction control included; the limit counts its own). "
        "They leave out what the "
        "drivers send besides: the app's ping of a pooled connection idle for over 5 s (its PostgreSQL reads "
        "run in autocommit, with no BEGIN or ROLLBACK), and asyncpg's reset when the limit releases a connection.",
        "",
        "## Versions",
        "",
        *(f"- {name}: {version}" for name, version in meta["versions"].items()),
    ]
    if meta["dirty"]:
        lines += ["", "Files of the working tree that differed from the commit when this ran:", ""]
        lines += [f"- `{name}`" for name in meta["dirty"]]
    path.write_text("\n".join(lines) + "\n")


def _peer_table(peers: list[dict[str, Any]] | None, meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    if not peers:
        return []
    on_carts = any(row["workload"] == "w4" for row in rows)
    names = {"graphql": "Storefront BFF (GraphQL server)", "limit": "the limit", **meta.get("peers", {})}
    lines = [
        "",
        "## W1 against the peers (PostgreSQL, 1 process each)",
        "",
        "PostGraphile answers W1's shape in its own schema (`allProducts(first: 100, orderBy: PRIMARY_KEY_ASC, "
        'condition: { status: "ACTIVE" })` with `categoryByCategoryId { name }` and '
        "`productVariantsByProductId(orderBy: [POSITION_ASC, ...]) { nodes { sku price stockQuantity } }`), "
        "one Node.js process each, over the same database with at most 10 connections, production settings. "
        "The gate checked before and after every run that each peer answered without errors and with the same "
        "products, titles, categories, SKUs, prices and stock as ours, and wrk compared every response with "
        "the body the gate accepted. All servers ran back to back in each repetition, same concurrency and "
        "duration. *ours ÷ server* is our GraphQL server's req/s divided by that server's, measured in the same "
        "repetition (median over repetitions): 1.00 is as fast, below 1 slower. CPU is the server process's "
        "user+system time per request; DB CPU that of the PostgreSQL backends."
        + (
            " Peers: not applicable to W4 cart add (PostGraphile's generated `createCartLine` would neither "
            "check the variant, merge a line nor answer the cart); it ran against our server and the limit only."
            if on_carts
            else ""
        ),
        "",
        "| concurrency | server | req/s | ours ÷ server | p50 ms | p99 ms | CPU ms/request | DB CPU ms/request "
        "| peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in peers:
        lines.append(
            f"| {row['concurrency']} | {names.get(row['server'], row['server'])} | {_num(row['rps'], 0)} "
            f"| {_num(row['ours_ratio'], 2)} | {_num(row['p50_ms'])} | {_num(row['p99_ms'])} "
            f"| {_num(row['cpu_ms_per_request'], 2)} | {_num(row['db_cpu_ms_per_request'], 2)} "
            f"| {_num(row['peak_rss_mb'], 0)} |"
        )
    return lines


def _paced_table(paced: list[dict[str, Any]] | None, meta: dict[str, Any]) -> list[str]:
    if not paced:
        return []
    connections = sorted({r[f"{s}_connections"] for r in paced for s in ("graphql", "limit")} - {None})
    lines = [
        "",
        f"## Paced at half the maximum throughput (issue 3: W1's p99 under {TARGET_P99_MS:g} ms)",
        "",
        "After the closed-loop runs of each configuration, each workload ran once more on each server, "
        f"{meta['duration']:g} s, paced at half of *max*: the best median req/s that server reached on that "
        "workload over the concurrencies measured in that configuration (only "
        f"concurrency {meta['table_concurrency']} outside the sweep). Pacing is a closed loop with think time: "
        f"{' or '.join(map(str, connections))} connections each wait an exponentially distributed time before "
        "each request, its mean set from the mean latency of a short unmeasured pilot, so the achieved rate "
        "differs a little from the target; latency is measured from the request's send. Each cell is "
        f"GraphQL / limit; the last column says whether GraphQL's W1 p99 was under {TARGET_P99_MS:g} ms. With "
        "fewer than 100 requests, p99 is the slowest one.",
        "",
        "| database | workers | workload | max req/s | target req/s | achieved req/s | requests | p50 ms | p99 ms "
        f"| W1 p99 < {TARGET_P99_MS:g} ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in paced:
        met = {True: "**yes**", False: "no", None: ""}[row["target_met"]]
        lines.append(
            f"| {LABELS[row['database']]} | {row['workers']} | {SHORT[row['workload']]} "
            f"| {_pair(row, 'max_rps')} | {_pair(row, 'target_rps')} | {_pair(row, 'rps')} "
            f"| {_pair(row, 'requests', 0)} | {_pair(row, 'p50_ms')} | {_pair(row, 'p99_ms')} | {met} |"
        )
    return lines


def _minor_label(value: float, _position: int) -> str:
    """Label the minor ticks 2, 3 and 5 of each decade, so a log axis that spans less than a decade reads."""
    mantissa = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0
    return f"{value:g}" if round(mantissa, 6) in (2, 3, 5) else ""


def write_chart(path: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    database, workers = meta["sweep"]
    selected = [r for r in rows if r["database"] == database and r["workers"] == workers]
    workloads = [w.key for w in WORKLOADS if any(r["workload"] == w.key for r in selected)]
    figure, axes = plt.subplots(2, len(workloads), figsize=(5 * len(workloads), 7.5), squeeze=False)
    styles = {
        "graphql": ("GraphQL (strawberry)", "tab:blue", "o"),
        "limit": ("limit (Starlette + SQL)", "tab:orange", "s"),
    }
    for column, workload in enumerate(workloads):
        points = sorted((r for r in selected if r["workload"] == workload), key=lambda r: r["concurrency"])
        concurrency = [r["concurrency"] for r in points]
        for row_index, (metric, ylabel) in enumerate(
            (("rps", "requests/s (log scale)"), ("p99_ms", "p99 latency, ms (log scale)"))
        ):
            axis = axes[row_index][column]
            for server, (label, colour, marker) in styles.items():
                axis.plot(
                    concurrency, [r[f"{server}_{metric}"] for r in points], marker=marker, color=colour, label=label
                )
            axis.set_xscale("log", base=2)
            axis.set_xticks(concurrency, [str(c) for c in concurrency])
            axis.set_xlabel("concurrency (connections)")
            axis.set_ylabel(ylabel)
            axis.set_yscale("log")
            axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _position: f"{value:g}"))
            axis.yaxis.set_minor_formatter(ticker.FuncFormatter(_minor_label))
            axis.grid(True, which="both", alpha=0.3)
            if row_index == 0:
                axis.set_title(SHORT[workload])
        axes[0][column].legend(fontsize="small")
    figure.suptitle(
        f"{LABELS[database]}, {workers} worker{'s' if workers > 1 else ''}: throughput and p99 against concurrency "
        f"({meta['date']}, {meta['machine_short']})"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str]) -> int:
    """Redraw README.md and chart.png of a results folder from its results.json."""
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results"
    saved = json.loads((folder / "results.json").read_text())
    rows = summarise(saved["runs"])
    write_markdown(
        folder / "README.md",
        rows,
        saved["statements"],
        saved["meta"],
        summarise_paced(saved["runs"]),
        summarise_peers(saved["runs"]),
    )
    write_chart(folder / "chart.png", rows, saved["meta"])
    print(f"redrew {folder / 'README.md'} and {folder / 'chart.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
