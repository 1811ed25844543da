"""`python -m bench`: start the stack and its peers, seed, measure every scenario in turn (and
the order service beside its floor in several rounds, alternating), and write
`results/latest.json` and `results/latest.md` (and the README's table, if asked)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from bench import report, rounds
from bench.postgres_cpu import PostgresCpu, spent
from bench.processes import cpu_seconds, peak_rss_mib, rss_mib
from bench.profile import profiling
from bench.scenarios import PACED_CONNECTIONS, Scenario, scenarios
from bench.seed import seed
from bench.stack import Stack, running_stack, start_orders_floor
from bench.wrk import run_wrk
from shared.settings import DEFAULT_TRACE_RATIO

_HERE = Path(__file__).parent


def _measure(
    scenario: Scenario,
    stack: Stack,
    args: argparse.Namespace,
    *,
    postgres: PostgresCpu,
    warm_up: bool = True,
    pace: float | None = None,
) -> dict[str, Any]:
    """A warm-up run, then the measured one, with the server's CPU time read around it (and
    its database's, for a scenario that names its client); `pace`, at that many requests per
    second over `PACED_CONNECTIONS`."""
    load = replace(scenario.load, rate=pace)
    seconds = args.seconds if pace is None else args.paced_seconds
    connections = args.connections if pace is None else PACED_CONNECTIONS
    if warm_up and args.warmup > 0:
        run_wrk(load, seconds=args.warmup, connections=connections)
    pid = stack.processes[scenario.server].pid
    client = stack.processes[scenario.database_client] if scenario.database_client else None
    backends_before = postgres.seconds_by_backend(client.pid) if client else {}
    cpu_before = cpu_seconds(pid)
    profile = args.results_dir / f"profile-{scenario.name}.txt" if args.profile else None
    with profiling(pid, profile):
        measured = run_wrk(load, seconds=seconds, connections=connections)
    cpu = cpu_seconds(pid) - cpu_before
    requests = max(measured.requests, 1)
    result: dict[str, Any] = {
        "title": scenario.title,
        "rps": round(measured.rps, 1),
        "p50_ms": round(measured.p50_ms, 3),
        "p90_ms": round(measured.p90_ms, 3),
        "p99_ms": round(measured.p99_ms, 3),
        "errors": measured.errors,
        "requests": measured.requests,
        "cpu_us_per_request": round(cpu / requests * 1e6, 1),
    }
    if pace is not None:
        result["pace_rps"] = round(pace, 1)
        result["connections"] = connections
    shown = ""
    if client is not None:
        database_cpu = spent(backends_before, postgres.seconds_by_backend(client.pid))
        result["postgres_cpu_us_per_request"] = round(database_cpu / requests * 1e6, 1)
        shown = f", Postgres {result['postgres_cpu_us_per_request']:4.0f} µs"
    print(
        f"{scenario.name:34} {measured.rps:8.0f} req/s  p50 {measured.p50_ms:6.2f} ms  "
        f"p99 {measured.p99_ms:6.2f} ms  errors {measured.errors}  "
        f"{result['cpu_us_per_request']:6.0f} µs CPU/request ({scenario.server}){shown}",
        flush=True,
    )
    return result


def _measure_all(
    stack: Stack, args: argparse.Namespace, chosen: Sequence[Scenario], postgres: PostgresCpu
) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {scenario.name: [] for scenario in chosen}
    for scenario, warm_up in rounds.plan(chosen, args.rounds):
        pace = rounds.pace(scenario, runs)
        runs[scenario.name].append(
            _measure(scenario, stack, args, postgres=postgres, warm_up=warm_up, pace=pace)
        )
    return {name: rounds.median(measured) for name, measured in runs.items()}


def _spans_exported(stack: Stack) -> int:
    """What the traced services had sent the sink by the end (they export every 5 s)."""
    stats = httpx.get(stack.urls["otlp_sink"] + "/stats", timeout=5).json()
    return int(stats["spans"])


def run(args: argparse.Namespace, previous: dict[str, Any] | None) -> dict[str, Any]:
    postgres = PostgresCpu(args.database_url)  # refuses a server it could not read, at once
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as run_dir,
        running_stack(args.database_url, Path(run_dir)) as stack,
    ):
        data = seed(stack.urls["gateway"])
        start_orders_floor(stack, data.user_token, data.user_id)
        idle = {name: rss_mib(process.pid) for name, process in stack.processes.items()}
        chosen = [
            scenario
            for scenario in scenarios(stack.urls, data)
            if not args.only or scenario.name in args.only
        ]
        measured = _measure_all(stack, args, chosen, postgres)
        memory = {
            name: {"idle": round(idle[name], 1), "peak": round(peak_rss_mib(process.pid), 1)}
            for name, process in stack.processes.items()
        }
        spans_exported = _spans_exported(stack)
    if args.only:
        return {"scenarios": measured}
    results: dict[str, Any] = {
        "generated_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "settings": {
            "seconds": args.seconds,
            "paced_seconds": args.paced_seconds,
            "connections": args.connections,
            "rounds": args.rounds,
        },
        "scenarios": measured,
        "gateway_cpu_us_per_request": measured["gateway_only"]["cpu_us_per_request"],
        "memory_mib": memory,
    }
    results["ratios"] = {name: round(value, 3) for name, value in report.ratios(measured).items()}
    results["tracing"] = {
        "ratio": DEFAULT_TRACE_RATIO,
        "cost": report.tracing_cost(measured),
        "spans_exported": spans_exported,
    }
    if previous is not None:
        results["previous_run"] = previous["generated_at"]
    results["targets"] = report.targets(results, previous)
    return results


def _previous(results_dir: Path) -> dict[str, Any] | None:
    """The results this run replaces, if any (tracing off is compared with them)."""
    latest = results_dir / "latest.json"
    if not latest.exists():
        return None
    previous: dict[str, Any] = json.loads(latest.read_text())
    return previous


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10, help="each measured run")
    parser.add_argument(
        "--paced-seconds",
        type=float,
        default=5,
        help="each measured run of a paced scenario (the service and its floor at one pace)",
    )
    parser.add_argument("--warmup", type=float, default=2, help="each warm-up (0: none)")
    parser.add_argument("--connections", type=int, default=8, help="wrk's open connections")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the order service beside its floor, alternating; medians reported",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="an admin URL of the Postgres to create the bench's databases on",
    )  # fmt: skip
    parser.add_argument(
        "--only", nargs="+", metavar="SCENARIO", help="measure these only (no report)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy each scenario's server into results-dir"
    )
    parser.add_argument("--results-dir", type=Path, default=_HERE / "results")
    parser.add_argument("--update-readme", type=Path, help="the README whose table to replace")
    args = parser.parse_args()

    results = run(args, _previous(args.results_dir))
    if args.only:
        return
    table = report.markdown(results)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.results_dir / "latest.md").write_text(table)
    if args.update_readme:
        report.update_readme(args.update_readme, table)
    print("\n" + table)


if __name__ == "__main__":
    main()
