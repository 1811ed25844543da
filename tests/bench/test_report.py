from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report


def _scenario(rps: float, cpu: float, errors: int = 0) -> dict[str, Any]:
    return {
        "title": "t",
        "rps": rps,
        "p50_ms": 1.0,
        "p90_ms": 2.0,
        "p99_ms": 3.0,
        "errors": errors,
        "cpu_us_per_request": cpu,
    }


def _results(previous: dict[str, Any] | None = None, **overrides: dict[str, Any]) -> dict[str, Any]:
    scenarios = {
        "orders_direct": _scenario(2000, 500),
        "orders_via_gateway": _scenario(1400, 300),
        "orders_via_nginx": _scenario(1750, 20),
        "create_order_via_gateway": _scenario(550, 600),
        "login_via_gateway": _scenario(10, 2000),
        "gateway_only": _scenario(3300, 290),
        "naive_httpx_peer": _scenario(1000, 950),
        "aiohttp_floor_peer": _scenario(6600, 150),
        "orders_direct_traced": _scenario(1900, 530),
        "gateway_only_traced": _scenario(3100, 310),
        **overrides,
    }
    results: dict[str, Any] = {
        "generated_at": "2026-11-26 05:00 UTC",
        "machine": "2 cores",
        "settings": {"seconds": 10, "connections": 8},
        "scenarios": scenarios,
        "gateway_cpu_us_per_request": scenarios["gateway_only"]["cpu_us_per_request"],
        "memory_mib": {
            name: {"idle": 100.0, "peak": 200.0} for name in ("auth", "orders", "gateway")
        },
    }
    results["ratios"] = report.ratios(scenarios)
    results["tracing"] = {
        "ratio": 0.01,
        "cost": report.tracing_cost(scenarios),
        "spans_exported": 120,
    }
    results["targets"] = report.targets(results, previous)
    return results


PREVIOUS: dict[str, Any] = {
    "generated_at": "2026-11-25 05:00 UTC",
    "scenarios": {"gateway_only": _scenario(3300, 295), "orders_direct": _scenario(2000, 505)},
}


def test_ratios_compare_throughput_and_cpu_as_the_issue_defines_them() -> None:
    ratios = _results()["ratios"]

    assert ratios["gateway_vs_direct"] == pytest.approx(0.7)
    assert ratios["gateway_vs_nginx"] == pytest.approx(0.8)
    assert ratios["gateway_only_vs_naive_httpx"] == pytest.approx(3.3)
    assert ratios["gateway_only_vs_aiohttp_floor"] == pytest.approx(0.5)
    assert ratios["gateway_cpu_vs_aiohttp_floor_cpu"] == pytest.approx(290 / 150)


def test_every_target_is_met_by_numbers_that_meet_it() -> None:
    assert all(target["met"] for target in _results(PREVIOUS)["targets"])


def test_what_tracing_costs_is_each_services_cpu_with_it_against_without() -> None:
    cost = _results()["tracing"]["cost"]

    assert cost["gateway"] == {"off": 290, "on": 310, "increase": pytest.approx(0.069, abs=1e-3)}
    assert cost["orders"]["increase"] == pytest.approx(0.06)


def test_without_an_earlier_run_tracing_off_is_not_judged() -> None:
    [untraced] = [t for t in _results()["targets"] if t["target"].startswith("tracing off")]

    assert untraced["met"] is None
    assert untraced["measured"] == "no earlier run"
    assert "| n/a |" in report.markdown(_results())


THROUGHPUT = "gateway throughput ≥ 3× the naive httpx peer"
CPU = "gateway CPU per request ≤ 2× the aiohttp floor"
VIA_GATEWAY = "`GET /orders/{id}` via the gateway ≥ 0.6× direct"
ORDERS = "`POST /orders` ≥ 500/s with zero errors"
GATEWAY_TRACED = "gateway CPU per request, tracing on (1 in 100 traces sampled)"
ORDERS_TRACED = "orders CPU per request, tracing on (1 in 100 traces sampled)"
UNTRACED = "tracing off: CPU per request as in the previous run"


@pytest.mark.parametrize(
    ("scenario", "measured", "missed"),
    [
        ("gateway_only", _scenario(2900, 290), THROUGHPUT),
        ("gateway_only", _scenario(3300, 301), CPU),
        ("orders_via_gateway", _scenario(1100, 300), VIA_GATEWAY),
        ("create_order_via_gateway", _scenario(499, 600), ORDERS),
        ("create_order_via_gateway", _scenario(900, 600, errors=1), ORDERS),
        ("gateway_only_traced", _scenario(3000, 320), GATEWAY_TRACED),
        ("orders_direct_traced", _scenario(1800, 551), ORDERS_TRACED),
        ("orders_direct", _scenario(1800, 531), UNTRACED),
    ],
)
def test_a_target_missed_is_reported_as_missed(
    scenario: str, measured: dict[str, Any], missed: str
) -> None:
    targets = _results(PREVIOUS, **{scenario: measured})["targets"]

    assert [target["target"] for target in targets if not target["met"]] == [missed]


def test_memory_over_either_limit_misses_its_target() -> None:
    results = _results()
    results["memory_mib"]["orders"] = {"idle": 130.0, "peak": 140.0}
    results["memory_mib"]["auth"] = {"idle": 100.0, "peak": 260.0}

    missed = [target["target"] for target in report.targets(results, PREVIOUS) if not target["met"]]

    assert missed == [
        "auth RSS idle < 120 MiB, peak < 250 MiB",
        "orders RSS idle < 120 MiB, peak < 250 MiB",
    ]


def test_the_table_has_a_row_per_scenario_and_per_target() -> None:
    results = _results(create_order_via_gateway=_scenario(499, 600))

    table = report.markdown(results)

    scenario_rows = [line for line in table.splitlines() if line.startswith("| t |")]
    assert len(scenario_rows) == len(results["scenarios"])
    assert (
        "| `POST /orders` ≥ 500/s with zero errors | ≥ 500/s, 0 errors | 499/s, 0 errors | **no** |"
        in table
    )


def test_the_readme_block_is_replaced_and_nothing_else(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:results -->\nold table\n<!-- /bench:results -->\nend\n")

    report.update_readme(readme, "new table\n")

    assert readme.read_text() == (
        "intro\n<!-- bench:results -->\nnew table\n<!-- /bench:results -->\nend\n"
    )


def test_a_readme_without_the_block_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")

    with pytest.raises(ValueError, match="bench:results"):
        report.update_readme(readme, "table\n")
