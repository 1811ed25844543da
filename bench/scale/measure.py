"""One operation measured: its latency under load (wrk) and the database buffers it touched
per request (the database's own counters, before and after)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from bench.scale.load_generator import run_requests
from bench.scale.operations import Operation

# Postgres publishes a connection's counters once it is idle, at most once a second.
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
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


def measure(
    operation: Operation,
    dsn: str,
    *,
    seconds: float,
    warmup: float,
    connections: int,
    settle: float = SETTLE_SECONDS,
) -> Result:
    if warmup > 0:
        run_requests(operation.requests, seconds=warmup, connections=connections)
    time.sleep(settle)
    hit_before, read_before = asyncio.run(buffer_counters(dsn))
    measured = run_requests(operation.requests, seconds=seconds, connections=connections)
    time.sleep(settle)
    hit_after, read_after = asyncio.run(buffer_counters(dsn))
    requests = max(1, measured.requests)
    plan = asyncio.run(plan_buffers(dsn, operation))
    return Result(
        requests=measured.requests,
        errors=measured.errors,
        rps=measured.rps,
        p50_ms=measured.p50_ms,
        p99_ms=measured.p99_ms,
        buffers_hit=(hit_after - hit_before) / requests,
        buffers_read=(read_after - read_before) / requests,
        plan_buffers=plan.buffers if plan else None,
        index_descents=plan.index_descents if plan else None,
        index_levels=plan.index_levels if plan else None,
    )
