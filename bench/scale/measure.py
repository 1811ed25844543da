"""One operation measured at every size: its latency under load (wrk), in rounds, and the
database buffers it touched per request (the database's own counters, before and after)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from bench.scale.load_generator import run_requests
from bench.scale.operations import Operation
from bench.wrk import Measurement

# Postgres publishes a connection's counters once it is idle, at most once a second.
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    rps: float
    # The median round's (each round's are listed below).
    p50_ms: float
    p99_ms: float
    rounds_p50_ms: list[float]
    rounds_p99_ms: list[float]
    # Shared buffers found in memory, and read from the kernel, per request: the database's
    # counters over the run (every statement of every request, approximate: a connection
    # publishes its counts once a second) ...
    buffers_hit: float
    buffers_read: float
    # ... and, for a read, exactly: its statement's `EXPLAIN (ANALYZE, BUFFERS)`, averaged;
    # with the B-tree descents of each index in that plan (per statement) and each index's
    # levels, which say how much of the buffers' growth the data's growth explains.
    plan_buffers: float | None
    index_descents: dict[str, float] | None = None
    index_levels: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            name: round(value, 3) if isinstance(value, float) else value
            for name, value in asdict(self).items()
        }


async def buffer_counters(dsn: str) -> tuple[int, int]:
    """The database's shared buffer hits and reads so far."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return int(row["blks_hit"]), int(row["blks_read"])


@dataclass(frozen=True)
class PlanReading:
    buffers: float
    index_descents: dict[str, float]
    index_levels: dict[str, int]


_LEVELS = """
SELECT c.relname, (bt_metap(c.relname::text)).level
FROM pg_class c JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'btree' AND c.relname = ANY($1::text[])
"""
_INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}


def index_descents(plan: dict[str, Any]) -> dict[str, int]:
    """How many times the plan went down each index: an index scan's loops."""
    descents: dict[str, int] = {}
    if plan["Node Type"] in _INDEX_SCANS:
        descents[plan["Index Name"]] = plan["Actual Loops"]
    for child in plan.get("Plans", []):
        for name, loops in index_descents(child).items():
            descents[name] = descents.get(name, 0) + loops
    return descents


async def plan_buffers(dsn: str, operation: Operation) -> PlanReading | None:
    """The shared buffers (hit and read) of the operation's statements, per statement; the
    descents into each index, per statement, and the indexes' levels (above their leaves)."""
    if not operation.statements:
        return None
    connection = await asyncpg.connect(dsn)
    total = 0
    descents: dict[str, float] = {}
    try:
        for statement, parameters in operation.statements:
            explained = await connection.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement.sql}",
                *statement.args(parameters),
            )
            plan = json.loads(explained)[0]["Plan"]
            total += plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
            for name, loops in index_descents(plan).items():
                descents[name] = descents.get(name, 0) + loops / len(operation.statements)
        # The B-tree's metapage says its root's level (pageinspect, a contrib module).
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        levels = {
            row["relname"]: int(row["level"])
            for row in await connection.fetch(_LEVELS, list(descents))
        }
    finally:
        await connection.close()
    rounded = {name: round(loops, 3) for name, loops in descents.items()}
    return PlanReading(total / len(operation.statements), rounded, levels)


def _result(
    operation: Operation,
    dsn: str,
    runs: list[Measurement],
    before: tuple[int, int],
    after: tuple[int, int],
) -> Result:
    requests = sum(run.requests for run in runs)
    plan = asyncio.run(plan_buffers(dsn, operation))
    return Result(
        requests=requests,
        errors=sum(run.errors for run in runs),
        rps=statistics.median(run.rps for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        rounds_p50_ms=[round(run.p50_ms, 3) for run in runs],
        rounds_p99_ms=[round(run.p99_ms, 3) for run in runs],
        buffers_hit=(after[0] - before[0]) / max(1, requests),
        buffers_read=(after[1] - before[1]) / max(1, requests),
        plan_buffers=plan.buffers if plan else None,
        index_descents=plan.index_descents if plan else None,
        index_levels=plan.index_levels if plan else None,
    )


def measure_at_sizes(
    at_sizes: Sequence[tuple[Operation, str]],
    *,
    seconds: float,
    warmup: float,
    connections: int,
    rounds: int,
    settle: float = SETTLE_SECONDS,
) -> list[Result]:
    """One operation at each size (its database's dsn beside it): warmed up at each, then run
    `rounds` times at each, the sizes in turn and in reverse order every other round (ABBA),
    so that what else the machine does, and how that drifts, weighs on the sizes alike.

    Its latency is the median round's, which one round caught in a stall or a checkpoint does
    not move; its buffers are counted over all rounds (each size has a database of its own,
    whose counters the others' runs do not touch)."""
    for operation, _ in at_sizes:
        if warmup > 0:
            run_requests(operation.requests, seconds=warmup, connections=connections)
    time.sleep(settle)
    before = [asyncio.run(buffer_counters(dsn)) for _, dsn in at_sizes]
    runs: list[list[Measurement]] = [[] for _ in at_sizes]
    for round_ in range(rounds):
        in_turn = range(len(at_sizes))
        for index in in_turn if round_ % 2 == 0 else reversed(in_turn):
            operation, _ = at_sizes[index]
            runs[index].append(
                run_requests(operation.requests, seconds=seconds, connections=connections)
            )
    time.sleep(settle)
    after = [asyncio.run(buffer_counters(dsn)) for _, dsn in at_sizes]
    return [
        _result(operation, dsn, measured, counted_before, counted_after)
        for (operation, dsn), measured, counted_before, counted_after in zip(
            at_sizes, runs, before, after, strict=True
        )
    ]
