"""From measurements to the results file, the Markdown table and the verdict on each target."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SERVICES = ("auth", "orders", "gateway")
IDLE_RSS_LIMIT_MIB = 120
PEAK_RSS_LIMIT_MIB = 250
README_BLOCK = re.compile(r"(<!-- bench:results -->\n).*?(<!-- /bench:results -->)", re.DOTALL)


def _rps(scenarios: dict[str, Any], name: str) -> float:
    return float(scenarios[name]["rps"])


def ratios(scenarios: dict[str, Any]) -> dict[str, float]:
    """The issue's ratios; throughput ratios are rps over rps, the CPU one µs over µs."""
    return {
        "gateway_vs_direct": _rps(scenarios, "orders_via_gateway")
        / _rps(scenarios, "orders_direct"),
        "gateway_vs_nginx": _rps(scenarios, "orders_via_gateway")
        / _rps(scenarios, "orders_via_nginx"),
        "gateway_only_vs_naive_httpx": _rps(scenarios, "gateway_only")
        / _rps(scenarios, "naive_httpx_peer"),
        "gateway_only_vs_aiohttp_floor": _rps(scenarios, "gateway_only")
        / _rps(scenarios, "aiohttp_floor_peer"),
        "gateway_cpu_vs_aiohttp_floor_cpu": scenarios["gateway_only"]["cpu_us_per_request"]
        / scenarios["aiohttp_floor_peer"]["cpu_us_per_request"],
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with what was measured and whether it was met."""
    ratio = results["ratios"]
    orders = results["scenarios"]["create_order_via_gateway"]
    verdicts = [
        ("gateway throughput ≥ 3× the naive httpx peer", "≥ 3.0",
         round(ratio["gateway_only_vs_naive_httpx"], 2), ratio["gateway_only_vs_naive_httpx"] >= 3),
        ("gateway CPU per request ≤ 2× the aiohttp floor", "≤ 2.0",
         round(ratio["gateway_cpu_vs_aiohttp_floor_cpu"], 2),
         ratio["gateway_cpu_vs_aiohttp_floor_cpu"] <= 2),
        ("`GET /orders/{id}` via the gateway ≥ 0.6× direct", "≥ 0.6",
         round(ratio["gateway_vs_direct"], 2), ratio["gateway_vs_direct"] >= 0.6),
        ("`POST /orders` ≥ 500/s with zero errors", "≥ 500/s, 0 errors",
         f"{orders['rps']:.0f}/s, {orders['errors']} errors",
         orders["rps"] >= 500 and orders["errors"] == 0),
    ]  # fmt: skip
    for service in SERVICES:
        memory = results["memory_mib"][service]
        verdicts.append((
            f"{service} RSS idle < {IDLE_RSS_LIMIT_MIB} MiB, peak < {PEAK_RSS_LIMIT_MIB} MiB",
            f"< {IDLE_RSS_LIMIT_MIB} / < {PEAK_RSS_LIMIT_MIB}",
            f"{memory['idle']:.0f} / {memory['peak']:.0f}",
            memory["idle"] < IDLE_RSS_LIMIT_MIB and memory["peak"] < PEAK_RSS_LIMIT_MIB,
        ))  # fmt: skip
    return [
        {"target": name, "wanted": wanted, "measured": measured, "met": met}
        for name, wanted, measured, met in verdicts
    ]


def markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        f"Measured {results['generated_at']} on {results['machine']}, wrk "
        f"{settings['connections']} connections, {settings['seconds']} s per scenario.",
        "",
        "| scenario | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in results["scenarios"].values():
        lines.append(
            f"| {scenario['title']} | {scenario['rps']:.0f} | {scenario['p50_ms']:.2f} | "
            f"{scenario['p90_ms']:.2f} | {scenario['p99_ms']:.2f} | {scenario['errors']} | "
            f"{scenario['cpu_us_per_request']:.0f} |"
        )
    lines += ["", "| target | wanted | measured | met |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['wanted']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |"
        for t in results["targets"]
    ]
    ratio = results["ratios"]
    lines += [
        "",
        f"Ratios: gateway/direct {ratio['gateway_vs_direct']:.2f}, "
        f"gateway/nginx {ratio['gateway_vs_nginx']:.2f}, "
        f"gateway-only/naive httpx {ratio['gateway_only_vs_naive_httpx']:.2f}, "
        f"gateway-only/aiohttp floor {ratio['gateway_only_vs_aiohttp_floor']:.2f} "
        f"(throughput); gateway CPU per request {results['gateway_cpu_us_per_request']:.0f} µs, "
        f"{ratio['gateway_cpu_vs_aiohttp_floor_cpu']:.2f}× the floor's.",
    ]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, table: str) -> None:
    """Replaces the README's results block (between its two markers) with `table`."""
    text = readme.read_text()
    if not README_BLOCK.search(text):
        raise ValueError(f"{readme} has no <!-- bench:results --> block")
    readme.write_text(README_BLOCK.sub(lambda m: m.group(1) + table + m.group(2), text))
