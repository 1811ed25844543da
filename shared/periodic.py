"""Background jobs that repeat for as long as a service runs (clean-ups, mostly)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from opentelemetry.trace import StatusCode, Tracer

from shared.tracing import Tracing

logger = logging.getLogger(__name__)


async def _run_once(job: Callable[[], Awaitable[object]], name: str) -> None:
    try:
        await job()
    except Exception:
        # A failed round (the database briefly away) must not end the next ones.
        logger.exception("periodic_job_failed", extra={"job": name})


async def _run_traced(job: Callable[[], Awaitable[object]], name: str, tracer: Tracer) -> None:
    # Each round is a trace of its own (the task runs outside any request), its statements
    # the round's spans.
    with tracer.start_as_current_span(name, attributes={"job.name": name}) as span:
        try:
            await job()
        except Exception as error:
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(StatusCode.ERROR)
            logger.exception("periodic_job_failed", extra={"job": name})


async def _repeat(
    job: Callable[[], Awaitable[object]], name: str, interval_seconds: float, tracer: Tracer | None
) -> None:
    while True:
        if tracer is None:
            await _run_once(job, name)
        else:
            await _run_traced(job, name, tracer)
        await asyncio.sleep(interval_seconds)


@asynccontextmanager
async def running_periodically(
    job: Callable[[], Awaitable[object]],
    *,
    name: str,
    interval_seconds: float,
    tracing: Tracing | None = None,
) -> AsyncIterator[None]:
    """Run `job` now and then every `interval_seconds` until the block exits; while tracing
    is on, each run is a span."""
    tracer = tracing.tracer(__name__) if tracing is not None else None
    task = asyncio.create_task(_repeat(job, name, interval_seconds, tracer), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
