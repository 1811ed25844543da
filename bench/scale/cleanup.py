"""The clean-up of expired idempotency keys while customers check out: `POST /orders` (with
keys) measured for the whole time the service's own job, `forget_expired_keys`, deletes a
backlog of expired keys beside it, against a run without."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.scale.load import Shape, add_expired_keys
from bench.scale.load_generator import requests_running, run_requests
from bench.scale.operations import Operation
from bench.wrk import Measurement
from order_service.config import OrdersSettings
from order_service.idempotency import forget_expired_keys
from order_service.store import Store
from shared.database import create_engine

# A bound on the checkout beside the clean-up, should the clean-up never end.
LONGEST_CLEANUP_SECONDS = 1800


@dataclass(frozen=True)
class CleanupRun:
    expired_keys: int
    seconds: float
    # In its transactions (the rest of its time it paused for requests).
    batch_seconds: float
    error: str | None
    keys_left: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "expired_keys": self.expired_keys,
            "seconds": round(self.seconds, 3),
            "batch_seconds": round(self.batch_seconds, 3),
            "failed": self.error is not None,
            "error": self.error,
            # Of those expired when the clean-up began.
            "expired_keys_left": self.keys_left,
        }


async def _expired_keys(dsn: str, by: datetime) -> int:
    """Keys that had expired by `by` (the live keys of the load's last day keep expiring as
    the benchmark runs: those are the next clean-up's)."""
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE expires_at <= $1", by
        )
    finally:
        await connection.close()
    return count


async def _clean_up(dsn: str) -> tuple[float, float, str | None]:
    """The service's job, with the service's settings (its statement timeout included): how
    long it took, and in its batches."""
    started = time.monotonic()
    error = None
    batch_seconds = 0.0
    settings = OrdersSettings(database_url=dsn)
    async with Store(create_engine(settings), settings=settings) as store:
        try:
            deleted = await forget_expired_keys(
                store,
                batch_size=settings.housekeeping_batch_size,
                database_share=settings.housekeeping_database_share,
            )
            batch_seconds = deleted.batch_seconds
        except Exception as failure:
            error = repr(failure)
    return time.monotonic() - started, batch_seconds, error


async def _checkout_beside_clean_up(
    operation: Operation, dsn: str, *, connections: int
) -> tuple[Measurement, tuple[float, float, str | None], int]:
    """Checkout for exactly as long as the clean-up takes, from its start to its end."""
    started_at = datetime.now(UTC)
    with requests_running(
        operation.requests, connections=connections, longest=LONGEST_CLEANUP_SECONDS
    ) as stop:
        cleaned_up = await _clean_up(dsn)
        # Off the loop: stopping waits for wrk (and for its first second, at the least).
        measured = await asyncio.to_thread(stop)
    return measured, cleaned_up, await _expired_keys(dsn, started_at)


def checkout_during_cleanup(
    checkout: Operation,
    dsn: str,
    shape: Shape,
    *,
    expired_keys: int,
    seconds: float,
    connections: int,
) -> dict[str, Any]:
    """Checkout for `seconds` without a clean-up, then for the whole of one: each p99 over
    all of its run's requests (tens of thousands: a tail of hundreds, not one stall's)."""
    asyncio.run(add_expired_keys(dsn, shape, expired_keys))
    without = run_requests(checkout.requests, seconds=seconds, connections=connections)
    during, (took, in_batches, error), left = asyncio.run(
        _checkout_beside_clean_up(checkout, dsn, connections=connections)
    )
    run = CleanupRun(expired_keys, took, in_batches, error, left)
    settings = OrdersSettings(database_url=dsn)
    return {
        # How the service's clean-up paces itself (`ORDERS_HOUSEKEEPING_*`).
        "pace": {
            "batch_size": settings.housekeeping_batch_size,
            "database_share": settings.housekeeping_database_share,
        },
        "operation": checkout.name,
        "without": _latency(without),
        "during": _latency(during),
        "p99_ratio": round(during.p99_ms / without.p99_ms, 3) if without.p99_ms else None,
        "cleanup": run.as_dict(),
    }


def _latency(measured: Measurement) -> dict[str, float]:
    return {
        "requests": measured.requests,
        "errors": measured.errors,
        "seconds": round(measured.seconds, 1),
        "rps": round(measured.rps, 1),
        "p50_ms": round(measured.p50_ms, 3),
        "p99_ms": round(measured.p99_ms, 3),
    }
