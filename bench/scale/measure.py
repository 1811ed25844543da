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
    # ... and, for a read, exactly: its statement's `EXPLAIN (ANALYZE, BUFFERS)`, averaged.
    plan_buffers: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            name: round(value, 3) if value is not None else None
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


async def plan_buffers(dsn: str, operation: Operation) -> float | None:
    """The shared buffers (hit and read) of the operation's statements, per statement."""
    if not operation.statements:
        return None
    connection = await asyncpg.connect(dsn)
    total = 0
    try:
        for statement, parameters in operation.statements:
            explained = await connection.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement.sql}",
                *statement.args(parameters),
            )
            plan = json.loads(explained)[0]["Plan"]
            total += plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
    finally:
        await connection.close()
    return total / len(operation.statements)


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
    return Result(
        requests=measured.requests,
        errors=measured.errors,
        rps=measured.rps,
        p50_ms=measured.p50_ms,
        p99_ms=measured.p99_ms,
        buffers_hit=(hit_after - hit_before) / requests,
        buffers_read=(read_after - read_before) / requests,
        plan_buffers=asyncio.run(plan_buffers(dsn, operation)),
    )
