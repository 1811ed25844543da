from __future__ import annotations

import asyncio

from shared.periodic import running_periodically


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
