from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report


def _scenario(
    rps: float,
    cpu: float,
    errors: int = 0,
    postgres: float | None = None,
    pace: float | None = None,
) -> dict[str, Any]:
    scenario = {
        "title": "t",
        "rps": rps,
        "p50_ms": 1.0,
        "p90_ms": 2.0,
        "p99_ms": 3.0,
        "errors": errors,
        "cpu_us_per_request": cpu,
    }
    if postgres is not None:
        scenario["postgres_cpu_us_per_request"] = postgres
    if pace is not None:
        scenario["pace_rps"] = pace
    return scenario


def _results(previous: dict[str, Any] | None = None, **overrides: dict[str, Any]) -> dict[str, Any]:
    scenarios = {
        "orders_direct": _scenario(2000, 500, postgres=70),
        "orders_floor_get": _scenario(4700, 250, postgres=50),
        "order_post_direct": _scenario(500, 1200, postgres=875),
        "orders_floor_post": _scenario(650, 700, postgres=700),
        "order_post_idempotent_direct": _scenario(450, 1400, postgres=975),
        "orders_floor_post_idempotent": _scenario(500, 800, postgres=750),
        # At one pace, a quarter of the service's rate: the unpaced Postgres ratios are 1.4,
        # 1.25 and 1.3, the paced ones those the tests below read.
        "orders_direct_paced": _scenario(500, 520, postgres=66, pace=500),
        "orders_floor_get_paced": _scenario(500, 260, postgres=60, pace=500),
        "order_post_direct_paced": _scenario(124, 1250, postgres=750, pace=125),
        "orders_floor_post_paced": _scenario(125, 720, postgres=750, pace=125),
        "order_post_idempotent_direct_paced": _scenario(113, 1450, postgres=850, pace=112.5),
        "orders_floor_post_idempotent_paced": _scenario(112, 820, postgres=800, pace=112.5),
        "order_post_idempotent_via_gateway": _scenario(450, 650, postgres=800),
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
        "settings": {"seconds": 10, "paced_seconds": 5, "connections": 8, "rounds": 3},
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
    "scenarios": {
        "gateway_only": _scenario(3300, 295),
        "aiohttp_floor_peer": _scenario(6600, 150),
        "orders_direct": _scenario(2000, 505),
    },
}


def test_ratios_compare_throughput_and_cpu_as_the_issue_defines_them() -> None:
    ratios = _results()["ratios"]

    assert ratios["gateway_vs_direct"] == pytest.approx(0.7)
    assert ratios["gateway_vs_nginx"] == pytest.approx(0.8)
    assert ratios["gateway_only_vs_naive_httpx"] == pytest.approx(3.3)
    assert ratios["gateway_only_vs_aiohttp_floor"] == pytest.approx(0.5)
    assert ratios["gateway_cpu_vs_aiohttp_floor_cpu"] == pytest.approx(290 / 150)


def test_the_order_service_is_compared_with_its_floor_and_a_key_with_none() -> None:
    ratios = _results()["ratios"]

    assert ratios["order_get_cpu_vs_floor"] == pytest.approx(2.0)
    assert ratios["order_post_cpu_vs_floor"] == pytest.approx(1200 / 700)
    assert ratios["order_post_idempotent_cpu_vs_floor"] == pytest.approx(1400 / 800)
    assert ratios["order_post_idempotent_vs_unkeyed_cpu"] == pytest.approx(1400 / 1200)


def test_postgres_is_compared_with_the_floor_at_one_pace_and_unpaced_beside() -> None:
    ratios = _results()["ratios"]

    assert ratios["order_get_pg_cpu_vs_floor"] == pytest.approx(1.1)
    assert ratios["order_post_pg_cpu_vs_floor"] == pytest.approx(1.0)
    assert ratios["order_post_idempotent_pg_cpu_vs_floor"] == pytest.approx(850 / 800)
    assert ratios["order_get_pg_cpu_vs_floor_unpaced"] == pytest.approx(1.4)
    assert ratios["order_post_pg_cpu_vs_floor_unpaced"] == pytest.approx(1.25)
    assert ratios["order_post_idempotent_pg_cpu_vs_floor_unpaced"] == pytest.approx(1.3)
    assert "`GET /orders/{id}` 2.00× (Postgres 1.10× at one pace, 1.40× unpaced)" in (
        report.markdown(_results())
    )


def test_at_one_pace_postgres_is_compared_round_by_round() -> None:
    # The second round ran while the machine was busy: both sides cost more in it.
    service = {
        **_scenario(500, 520, postgres=62, pace=500),
        "postgres_cpu_us_per_request_by_round": [60, 90, 62],
    }
    floor = {
        **_scenario(500, 260, postgres=58, pace=500),
        "postgres_cpu_us_per_request_by_round": [58, 100, 50],
    }

    ratios = _results(orders_direct_paced=service, orders_floor_get_paced=floor)["ratios"]

    # Not 62 / 58, the medians': their rounds differ.
    assert ratios["order_get_pg_cpu_vs_floor"] == pytest.approx(60 / 58)


def test_postgres_against_the_floor_is_not_judged_when_a_side_did_not_keep_the_pace() -> None:
    slow_floor = _scenario(470, 260, postgres=30, pace=500)

    targets = _results(PREVIOUS, orders_floor_get_paced=slow_floor)["targets"]

    [judged] = [target for target in targets if target["target"] == PG_GET]
    assert judged["met"] is None
    assert judged["measured"] == "2.20, pace not kept"


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


def test_a_machine_slower_today_is_not_a_change_with_tracing_off() -> None:
    slower = {
        "gateway_only": _scenario(1000, 2 * 290),
        "aiohttp_floor_peer": _scenario(1000, 2 * 150),
        "orders_direct": _scenario(1000, 2 * 500, postgres=70),
    }
    [untraced] = [
        t for t in _results(PREVIOUS, **slower)["targets"] if t["target"].startswith("tracing off")
    ]

    assert untraced["met"] is True
    # As multiples of the control, as they were (295/150, 505/150), give or take a per cent.
    assert untraced["measured"] == "gateway -1.7%, orders -1.0%"


THROUGHPUT = "gateway throughput ≥ 3× the naive httpx peer"
CPU = "gateway CPU per request ≤ 2× the aiohttp floor"
VIA_GATEWAY = "`GET /orders/{id}` via the gateway ≥ 0.6× direct"
ORDERS = "`POST /orders` ≥ 500/s with zero errors"
GATEWAY_TRACED = "gateway CPU per request, tracing on (1 in 100 traces sampled)"
ORDERS_TRACED = "orders CPU per request, tracing on (1 in 100 traces sampled)"
UNTRACED = "tracing off: CPU per request as in the previous run, beside a control"
FLOOR_GET = "order service CPU per request, `GET /orders/{id}`, ≤ 2.5× its floor"
FLOOR_POST = "order service CPU per request, `POST /orders`, ≤ 2× its floor"
FLOOR_KEYED = "order service CPU per request, `POST /orders` with a key, ≤ 2× its floor"
KEYED = "order service CPU per request, `POST /orders` with a key ≤ 1.3× without"
PG_GET = "Postgres CPU per request at one pace, `GET /orders/{id}`, ≤ 1.2× the floor's"
PG_POST = "Postgres CPU per request at one pace, `POST /orders`, ≤ 1.2× the floor's"
PG_KEYED = "Postgres CPU per request at one pace, `POST /orders` with a key, ≤ 1.2× the floor's"


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
        ("orders_direct", _scenario(1800, 531, postgres=70), UNTRACED),
        ("orders_floor_get", _scenario(4700, 199, postgres=50), FLOOR_GET),
        ("order_post_direct", _scenario(500, 1401, postgres=875), FLOOR_POST),
        ("orders_floor_post_idempotent", _scenario(500, 699, postgres=750), FLOOR_KEYED),
        ("order_post_direct", _scenario(500, 1076, postgres=875), KEYED),
        ("orders_direct_paced", _scenario(500, 520, postgres=73, pace=500), PG_GET),
        ("orders_floor_post_paced", _scenario(125, 720, postgres=624, pace=125), PG_POST),
        (
            "order_post_idempotent_direct_paced",
            _scenario(113, 1450, postgres=961, pace=112.5),
            PG_KEYED,
        ),
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
    # Postgres's CPU where it was read, nothing where it was not.
    assert scenario_rows[0].endswith("| 500 | 70 |")
    assert scenario_rows[-1].endswith("| 310 |  |")
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
