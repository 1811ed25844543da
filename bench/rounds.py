"""Rounds: the order service and its floor are measured again and again, alternating, so that
what the machine does meanwhile weighs on both alike; each reading is their median."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.scenarios import PACE_OF_RATE, Scenario


def plan(chosen: Sequence[Scenario], rounds: int) -> list[tuple[Scenario, bool]]:
    """What to measure in turn, each with whether to warm it up first: every scenario once,
    then those measured beside their floor again in each further round (warm already), each
    round in the reverse order of the one before, so that neither of a pair always goes first.
    A paced scenario comes after the one that sets its pace."""
    seen: set[str] = set()
    for scenario in chosen:
        if scenario.paced_by is not None and scenario.paced_by not in seen:
            raise ValueError(f"{scenario.name} is paced by {scenario.paced_by}: measure it first")
        seen.add(scenario.name)
    order = [(scenario, True) for scenario in chosen]
    again = [scenario for scenario in chosen if scenario.every_round]
    for round_number in range(1, rounds):
        turn = again if round_number % 2 == 0 else list(reversed(again))
        order += [(scenario, False) for scenario in turn]
    return order


def pace(scenario: Scenario, runs: dict[str, list[dict[str, Any]]]) -> float | None:
    """The rate a paced scenario is held to in every round: `PACE_OF_RATE` of the rate of the
    scenario that sets its pace, in its first run (None: not paced)."""
    if scenario.paced_by is None:
        return None
    return PACE_OF_RATE * float(runs[scenario.paced_by][0]["rps"])


def median(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A scenario's runs as one: the median of each reading, the errors of all of them, and
    the CPU per request (the server's, Postgres's) of each round."""
    if len(runs) == 1:
        return dict(runs[0])
    result: dict[str, Any] = {}
    for reading, first in runs[0].items():
        if reading == "errors":
            result[reading] = sum(run[reading] for run in runs)
        elif isinstance(first, int | float):
            result[reading] = statistics.median(run[reading] for run in runs)
        else:
            result[reading] = first
    for reading in ("cpu_us_per_request", "postgres_cpu_us_per_request"):
        if reading in runs[0]:
            result[f"{reading}_by_round"] = [run[reading] for run in runs]
    return result
