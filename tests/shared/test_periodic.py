from __future__ import annotations

import asyncio

from shared.periodic import running_periodically
from shared.tracing import flushed_at_exit
from tests.shared.tracing_support import receiver, traced
from tests.support.otlp import OtlpReceiver

__all__ = ["receiver"]  # the fixture


async def test_a_periodic_job_repeats_and_outlives_a_failed_round() -> None:
    rounds = 0
    third_round = asyncio.Event()

    async def job() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise ConnectionError("the database is away")
        if rounds == 3:
            third_round.set()

    async with running_periodically(job, name="test-job", interval_seconds=0.001):
        await asyncio.wait_for(third_round.wait(), timeout=5)

    assert rounds >= 3


async def test_each_round_of_a_traced_job_is_a_trace_of_its_own(receiver: OtlpReceiver) -> None:
    rounds = 0
    second_round = asyncio.Event()

    async def job() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise ConnectionError("the database is away")
        second_round.set()

    async with (
        flushed_at_exit(traced(receiver)) as tracing,
        running_periodically(job, name="test-job", interval_seconds=0.001, tracing=tracing),
    ):
        await asyncio.wait_for(second_round.wait(), timeout=5)

    failed, succeeded, *_ = sorted(receiver.spans, key=lambda span: span.start_ns)
    assert failed.name == succeeded.name == "test-job"
    assert failed.attributes == {"job.name": "test-job", "error.type": "ConnectionError"}
    assert failed.is_error
    assert not succeeded.is_error
    assert failed.is_root
    assert succeeded.is_root
    assert failed.trace_id != succeeded.trace_id
