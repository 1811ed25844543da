"""`python -m bench`: start the stack and its peers, seed, measure every scenario in turn, and
write `results/latest.json` and `results/latest.md` (and the README's table, if asked)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.processes import cpu_seconds, peak_rss_mib, rss_mib
from bench.profile import profiling
from bench.scenarios import Scenario, scenarios
from bench.seed import seed
from bench.stack import Stack, running_stack
from bench.wrk import run_wrk
from shared.settings import DEFAULT_TRACE_RATIO

_HERE = Path(__file__).parent


def _measure(scenario: Scenario, stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """A warm-up run, then the measured one, with the server's CPU time read around it."""
    if args.warmup > 0:
        run_wrk(scenario.load, seconds=args.warmup, connections=args.connections)
    pid = stack.processes[scenario.server].pid
    cpu_before = cpu_seconds(pid)
    profile = args.results_dir / f"profile-{scenario.name}.txt" if args.profile else None
    with profiling(pid, profile):
        measured = run_wrk(scenario.load, seconds=args.seconds, connections=args.connections)
    cpu = cpu_seconds(pid) - cpu_before
    result: dict[str, Any] = {
        "title": scenario.title,
        "rps": round(measured.rps, 1),
        "p50_ms": round(measured.p50_ms, 3),
        "p90_ms": round(measured.p90_ms, 3),
        "p99_ms": round(measured.p99_ms, 3),
        "errors": measured.errors,
        "requests": measured.requests,
        "cpu_us_per_request": round(cpu / max(measured.requests, 1) * 1e6, 1),
    }
    print(
        f"{scenario.name:26} {measured.rps:8.0f} req/s  p50 {measured.p50_ms:6.2f} ms  "
        f"p99 {measured.p99_ms:6.2f} ms  errors {measured.errors}  "
        f"{result['cpu_us_per_request']:6.0f} µs CPU/request ({scenario.server})",
        flush=True,
    )
    return result


def _spans_exported(stack: Stack) -> int:
    """What the traced services had sent the sink by the end (they export every 5 s)."""
    stats = httpx.get(stack.urls["otlp_sink"] + "/stats", timeout=5).json()
    return int(stats["spans"])


def run(args: argparse.Namespace, previous: dict[str, Any] | None) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as run_dir,
        running_stack(args.database_url, Path(run_dir)) as stack,
    ):
        data = seed(stack.urls["gateway"])
        idle = {name: rss_mib(process.pid) for name, process in stack.processes.items()}
        measured = {
            scenario.name: _measure(scenario, stack, args)
            for scenario in scenarios(stack.urls, data)
            if not args.only or scenario.name in args.only
        }
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
        "settings": {"seconds": args.seconds, "connections": args.connections},
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
    parser.add_argument("--warmup", type=float, default=2, help="each warm-up (0: none)")
    parser.add_argument("--connections", type=int, default=8, help="wrk's open connections")
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
