"""From measurements to the results file, the Markdown table and the verdict on each target."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

from bench.scenarios import paced_name

SERVICES = ("auth", "orders", "gateway")
IDLE_RSS_LIMIT_MIB = 120
PEAK_RSS_LIMIT_MIB = 250
README_BLOCK = re.compile(r"(<!-- bench:results -->\n).*?(<!-- /bench:results -->)", re.DOTALL)
# What tracing costs: each traced scenario beside its untraced twin, as (service, off, on,
# and a control: a peer the platform's code does not touch, which measures the machine).
TRACING_PAIRS = (
    ("gateway", "gateway_only", "gateway_only_traced", "aiohttp_floor_peer"),
    ("orders", "orders_direct", "orders_direct_traced", "aiohttp_floor_peer"),
)
# The order service beside its floor: (what, the service's scenario, the floor's, the most
# the service's CPU per request may be, as a multiple of the floor's).
FLOOR_PAIRS = (
    ("order_get", "orders_direct", "orders_floor_get", 2.5),
    ("order_post", "order_post_direct", "orders_floor_post", 2.0),
    ("order_post_idempotent", "order_post_idempotent_direct", "orders_floor_post_idempotent", 2.0),
)
FLOOR_TITLES = {
    "order_get": "`GET /orders/{id}`",
    "order_post": "`POST /orders`",
    "order_post_idempotent": "`POST /orders` with a key",
}
MAX_KEYED_OVER_UNKEYED = 1.3
# Postgres's own work per request: no round trip the SQL does not need. Compared with both
# sides held to one pace, as its CPU per statement grows with the wait between statements
# (bench/README.md); unpaced, it is reported beside.
MAX_POSTGRES_VS_FLOOR = 1.2
# A paced run kept its pace if it got this share of its requests answered (else the two sides
# were not compared at one pace, and the target is not judged).
MIN_SHARE_OF_PACE = 0.95
MAX_TRACING_INCREASE = 0.10
# With tracing off nothing of it runs: CPU per request is the previous run's, within a run's
# usual spread (HISTORY.md: about ±5%).
MAX_UNTRACED_DRIFT = 0.05


def _rps(scenarios: dict[str, Any], name: str) -> float:
    return float(scenarios[name]["rps"])


def _postgres_cpu(scenarios: dict[str, Any], name: str) -> float:
    return float(scenarios[name]["postgres_cpu_us_per_request"])


def _postgres_ratio(scenarios: dict[str, Any], service: str, floor: str) -> float:
    return _postgres_cpu(scenarios, service) / _postgres_cpu(scenarios, floor)


def _paced_postgres_ratio(scenarios: dict[str, Any], service: str, floor: str) -> float:
    """The median of each round's ratio: a paced run is short, and the service and its floor
    measured back to back share what the machine was doing then, which the median of each
    side's own readings would not pair."""
    rounds = "postgres_cpu_us_per_request_by_round"
    if rounds not in scenarios[service] or rounds not in scenarios[floor]:
        return _postgres_ratio(scenarios, service, floor)
    paired = zip(scenarios[service][rounds], scenarios[floor][rounds], strict=True)
    return float(statistics.median(ours / theirs for ours, theirs in paired))


def _floor_ratios(scenarios: dict[str, Any]) -> dict[str, float]:
    """The order service's CPU per request over its floor's, as fast as each answers, and
    Postgres's for it over that for the floor, at one pace (and, for context, unpaced)."""
    measured = {}
    for what, service, floor, _ in FLOOR_PAIRS:
        measured[f"{what}_cpu_vs_floor"] = _cpu(scenarios, service) / _cpu(scenarios, floor)
        measured[f"{what}_pg_cpu_vs_floor"] = _paced_postgres_ratio(
            scenarios, paced_name(service), paced_name(floor)
        )
        measured[f"{what}_pg_cpu_vs_floor_unpaced"] = _postgres_ratio(scenarios, service, floor)
    measured["order_post_idempotent_vs_unkeyed_cpu"] = _cpu(
        scenarios, "order_post_idempotent_direct"
    ) / _cpu(scenarios, "order_post_direct")
    return measured


def ratios(scenarios: dict[str, Any]) -> dict[str, float]:
    """The issues' ratios; throughput ratios are rps over rps, the CPU ones µs over µs."""
    return {
        **_floor_ratios(scenarios),
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


def _cpu(scenarios: dict[str, Any], name: str) -> float:
    return float(scenarios[name]["cpu_us_per_request"])


def tracing_cost(scenarios: dict[str, Any]) -> dict[str, dict[str, float]]:
    """CPU per request of each traced service, tracing off and on, and the increase."""
    return {
        service: {
            "off": _cpu(scenarios, off),
            "on": _cpu(scenarios, on),
            "increase": round(_cpu(scenarios, on) / _cpu(scenarios, off) - 1, 4),
        }
        for service, off, on, _ in TRACING_PAIRS
    }


def _untraced_drift(
    results: dict[str, Any], previous: dict[str, Any] | None
) -> tuple[str, bool | None]:
    """Tracing off against the run this one replaces: what changed, and whether it is noise.

    Each as a multiple of its control in its own run, so that a machine that is faster or
    slower today (a shared host's CPUs vary by 2× from day to day) is not taken for a change.
    """
    if previous is None:
        return "no earlier run", None
    changes = {
        service: _cpu(results["scenarios"], off)
        / _cpu(results["scenarios"], control)
        / (_cpu(previous["scenarios"], off) / _cpu(previous["scenarios"], control))
        - 1
        for service, off, _, control in TRACING_PAIRS
    }
    shown = ", ".join(f"{service} {change:+.1%}" for service, change in changes.items())
    return shown, all(change <= MAX_UNTRACED_DRIFT for change in changes.values())


def _tracing_targets(
    results: dict[str, Any], previous: dict[str, Any] | None
) -> list[tuple[str, str, str, bool | None]]:
    verdicts: list[tuple[str, str, str, bool | None]] = [
        (
            f"{service} CPU per request, tracing on (1 in {round(1 / results['tracing']['ratio'])}"
            " traces sampled)",
            f"≤ +{MAX_TRACING_INCREASE:.0%}",
            f"{cost['increase']:+.1%}",
            cost["increase"] <= MAX_TRACING_INCREASE,
        )
        for service, cost in results["tracing"]["cost"].items()
    ]
    verdicts.append((
        "tracing off: CPU per request as in the previous run, beside a control",
        f"≤ +{MAX_UNTRACED_DRIFT:.0%}",
        *_untraced_drift(results, previous),
    ))  # fmt: skip
    return verdicts


def _pace_kept(scenarios: dict[str, Any], *names: str) -> bool:
    return all(
        scenarios[name]["rps"] >= MIN_SHARE_OF_PACE * scenarios[name]["pace_rps"] for name in names
    )


def _floor_targets(results: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    ratio = results["ratios"]
    verdicts: list[tuple[str, str, Any, bool | None]] = []
    for what, _, _, most in FLOOR_PAIRS:
        measured = ratio[f"{what}_cpu_vs_floor"]
        verdicts.append((
            f"order service CPU per request, {FLOOR_TITLES[what]}, ≤ {most:g}× its floor",
            f"≤ {most:.1f}", round(measured, 2), measured <= most,
        ))  # fmt: skip
    keyed, most_keyed = ratio["order_post_idempotent_vs_unkeyed_cpu"], MAX_KEYED_OVER_UNKEYED
    verdicts.append((
        f"order service CPU per request, `POST /orders` with a key ≤ {most_keyed}× without",
        f"≤ {most_keyed}", round(keyed, 2), keyed <= most_keyed,
    ))  # fmt: skip
    most = MAX_POSTGRES_VS_FLOOR
    for what, service, floor, _ in FLOOR_PAIRS:
        measured = ratio[f"{what}_pg_cpu_vs_floor"]
        name = f"Postgres CPU per request at one pace, {FLOOR_TITLES[what]}, ≤ {most}× the floor's"
        if _pace_kept(results["scenarios"], paced_name(service), paced_name(floor)):
            verdicts.append((name, f"≤ {most}", round(measured, 2), measured <= most))
        else:
            verdicts.append((name, f"≤ {most}", f"{measured:.2f}, pace not kept", None))
    return verdicts


def targets(
    results: dict[str, Any], previous: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each target of the issue with what was measured and whether it was met (None: nothing
    to tell it by); `previous` is the run this one replaces."""
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
    verdicts += _floor_targets(results)
    for service in SERVICES:
        memory = results["memory_mib"][service]
        verdicts.append((
            f"{service} RSS idle < {IDLE_RSS_LIMIT_MIB} MiB, peak < {PEAK_RSS_LIMIT_MIB} MiB",
            f"< {IDLE_RSS_LIMIT_MIB} / < {PEAK_RSS_LIMIT_MIB}",
            f"{memory['idle']:.0f} / {memory['peak']:.0f}",
            memory["idle"] < IDLE_RSS_LIMIT_MIB and memory["peak"] < PEAK_RSS_LIMIT_MIB,
        ))  # fmt: skip
    verdicts += _tracing_targets(results, previous)
    return [
        {"target": name, "wanted": wanted, "measured": measured, "met": met}
        for name, wanted, measured, met in verdicts
    ]


def markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        f"Measured {results['generated_at']} on {results['machine']}, wrk "
        f"{settings['connections']} connections, {settings['seconds']} s per scenario "
        f"({settings['paced_seconds']} s paced); the order service and its floor (1, 1f, 7, 7f,"
        f" 8, 8f, and each pair at one pace, 1p to 8fp) in {settings['rounds']} rounds, "
        "alternating, medians shown.",
        "",
        "| scenario | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU µs/req "
        "| Postgres CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in results["scenarios"].values():
        postgres = scenario.get("postgres_cpu_us_per_request")
        lines.append(
            f"| {scenario['title']} | {scenario['rps']:.0f} | {scenario['p50_ms']:.2f} | "
            f"{scenario['p90_ms']:.2f} | {scenario['p99_ms']:.2f} | {scenario['errors']} | "
            f"{scenario['cpu_us_per_request']:.0f} | "
            f"{'' if postgres is None else f'{postgres:.0f}'} |"
        )
    lines += ["", "| target | wanted | measured | met |", "|---|---|---|---|"]
    verdict = {True: "yes", False: "**no**", None: "n/a"}
    lines += [
        f"| {t['target']} | {t['wanted']} | {t['measured']} | {verdict[t['met']]} |"
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
        "",
        "The order service against its floor, CPU per request: "
        + ", ".join(
            f"{FLOOR_TITLES[what]} {ratio[f'{what}_cpu_vs_floor']:.2f}× "
            f"(Postgres {ratio[f'{what}_pg_cpu_vs_floor']:.2f}× at one pace, "
            f"{ratio[f'{what}_pg_cpu_vs_floor_unpaced']:.2f}× unpaced)"
            for what, _, _, _ in FLOOR_PAIRS
        )
        + f"; a key costs {ratio['order_post_idempotent_vs_unkeyed_cpu']:.2f}× an order"
        " without.",
    ]
    tracing = results["tracing"]
    costs = "; ".join(
        f"{service} {cost['off']:.0f} → {cost['on']:.0f} µs ({cost['increase']:+.1%})"
        for service, cost in tracing["cost"].items()
    )
    lines += [
        "",
        f"Tracing on (OTLP to the benchmark's sink, 1 in {round(1 / tracing['ratio'])} traces"
        f" sampled), CPU per request: {costs}; {tracing['spans_exported']} spans exported.",
    ]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, table: str) -> None:
    """Replaces the README's results block (between its two markers) with `table`."""
    text = readme.read_text()
    if not README_BLOCK.search(text):
        raise ValueError(f"{readme} has no <!-- bench:results --> block")
    readme.write_text(README_BLOCK.sub(lambda m: m.group(1) + table + m.group(2), text))
