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


def _results(**overrides: dict[str, Any]) -> dict[str, Any]:
    scenarios = {
        "orders_direct": _scenario(2000, 500),
        "orders_via_gateway": _scenario(1400, 300),
        "orders_via_nginx": _scenario(1750, 20),
        "create_order_via_gateway": _scenario(550, 600),
        "login_via_gateway": _scenario(10, 2000),
        "gateway_only": _scenario(3300, 290),
        "naive_httpx_peer": _scenario(1000, 950),
        "aiohttp_floor_peer": _scenario(6600, 150),
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
    results["targets"] = report.targets(results)
    return results


def test_ratios_compare_throughput_and_cpu_as_the_issue_defines_them() -> None:
    ratios = _results()["ratios"]

    assert ratios["gateway_vs_direct"] == pytest.approx(0.7)
    assert ratios["gateway_vs_nginx"] == pytest.approx(0.8)
    assert ratios["gateway_only_vs_naive_httpx"] == pytest.approx(3.3)
    assert ratios["gateway_only_vs_aiohttp_floor"] == pytest.approx(0.5)
    assert ratios["gateway_cpu_vs_aiohttp_floor_cpu"] == pytest.approx(290 / 150)


def test_every_target_is_met_by_numbers_that_meet_it() -> None:
    assert all(target["met"] for target in _results()["targets"])


THROUGHPUT = "gateway throughput ≥ 3× the naive httpx peer"
CPU = "gateway CPU per request ≤ 2× the aiohttp floor"
VIA_GATEWAY = "`GET /orders/{id}` via the gateway ≥ 0.6× direct"
ORDERS = "`POST /orders` ≥ 500/s with zero errors"


@pytest.mark.parametrize(
    ("scenario", "measured", "missed"),
    [
        ("gateway_only", _scenario(2900, 290), THROUGHPUT),
        ("gateway_only", _scenario(3300, 301), CPU),
        ("orders_via_gateway", _scenario(1100, 300), VIA_GATEWAY),
        ("create_order_via_gateway", _scenario(499, 600), ORDERS),
        ("create_order_via_gateway", _scenario(900, 600, errors=1), ORDERS),
    ],
)
def test_a_target_missed_is_reported_as_missed(
    scenario: str, measured: dict[str, Any], missed: str
) -> None:
    targets = _results(**{scenario: measured})["targets"]

    assert [target["target"] for target in targets if not target["met"]] == [missed]


def test_memory_over_either_limit_misses_its_target() -> None:
    results = _results()
    results["memory_mib"]["orders"] = {"idle": 130.0, "peak": 140.0}
    results["memory_mib"]["auth"] = {"idle": 100.0, "peak": 260.0}

    missed = [target["target"] for target in report.targets(results) if not target["met"]]

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
