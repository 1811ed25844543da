"""The order service and its floor are measured in rounds, alternating; each reading is the
median of the rounds."""

from __future__ import annotations

import pytest

from bench.rounds import median, pace, plan
from bench.scenarios import PACE_OF_RATE, Scenario
from bench.wrk import Load


def _scenario(name: str, *, every_round: bool = False, paced_by: str | None = None) -> Scenario:
    return Scenario(
        name,
        name,
        Load("http://127.0.0.1:1/"),
        server=name,
        every_round=every_round,
        paced_by=paced_by,
    )


def test_the_pairs_come_again_in_each_round_alternating_and_warm_only_at_first() -> None:
    scenarios = [
        _scenario("service", every_round=True),
        _scenario("floor", every_round=True),
        _scenario("gateway"),
    ]

    planned = [(scenario.name, warm_up) for scenario, warm_up in plan(scenarios, 3)]

    assert planned == [
        ("service", True), ("floor", True), ("gateway", True),
        ("floor", False), ("service", False),
        ("service", False), ("floor", False),
    ]  # fmt: skip


def test_one_round_measures_each_scenario_once() -> None:
    scenarios = [_scenario("service", every_round=True), _scenario("gateway")]

    assert [scenario.name for scenario, _ in plan(scenarios, 1)] == ["service", "gateway"]


def test_a_paced_pair_is_held_to_a_share_of_the_first_rate_of_the_scenario_that_sets_it() -> None:
    service = _scenario("service", every_round=True)
    paced_service = _scenario("service_paced", every_round=True, paced_by="service")
    paced_floor = _scenario("floor_paced", every_round=True, paced_by="service")
    runs: dict[str, list[dict[str, object]]] = {
        "service": [_run(2000, 500, 60), _run(1000, 500, 60)]
    }

    assert pace(paced_service, runs) == pace(paced_floor, runs) == 2000 * PACE_OF_RATE
    assert pace(service, runs) is None


def test_a_paced_scenario_without_the_one_that_sets_its_pace_before_it_is_refused() -> None:
    paced_floor = _scenario("floor_paced", paced_by="service")

    with pytest.raises(ValueError, match="floor_paced is paced by service"):
        plan([paced_floor, _scenario("service")], 1)


def _run(rps: float, cpu: float, postgres: float, errors: int = 0) -> dict[str, object]:
    return {
        "title": "t",
        "rps": rps,
        "errors": errors,
        "cpu_us_per_request": cpu,
        "postgres_cpu_us_per_request": postgres,
    }


def test_each_reading_is_the_median_of_the_rounds_and_every_error_counts() -> None:
    runs = [_run(100, 500, 60), _run(300, 450, 90, errors=2), _run(200, 900, 70, errors=1)]

    assert median(runs) == {
        "title": "t",
        "rps": 200,
        "errors": 3,
        "cpu_us_per_request": 500,
        "postgres_cpu_us_per_request": 70,
        "cpu_us_per_request_by_round": [500, 450, 900],
        "postgres_cpu_us_per_request_by_round": [60, 90, 70],
    }


def test_a_scenario_measured_once_is_that_run() -> None:
    assert median([_run(100, 500, 60)]) == _run(100, 500, 60)
