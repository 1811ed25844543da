from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from auth_service.priority_limiter import PriorityLimiter
from tests.support.servers import eventually

URGENT, ROUTINE = 0, 1


class Holders:
    """Tasks that each take a slot, note that they got it, and hold it until let go."""

    def __init__(self, limiter: PriorityLimiter) -> None:
        self.limiter = limiter
        self.served: list[str] = []
        self._let_go: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, priority: int) -> None:
        self._let_go[name] = asyncio.Event()
        self.tasks[name] = asyncio.create_task(self._hold(name, priority))

    async def _hold(self, name: str, priority: int) -> None:
        async with self.limiter.slot(priority):
            self.served.append(name)
            await self._let_go[name].wait()

    async def let_go(self, name: str) -> None:
        self._let_go[name].set()
        await self.tasks[name]

    async def let_all_go(self) -> None:
        for name in self.tasks:
            self._let_go[name].set()
        await asyncio.gather(*self.tasks.values())


async def until(condition: Callable[[], bool], what: str) -> None:
    await eventually(condition, what, seconds=10)


async def test_a_freed_slot_goes_to_the_most_urgent_waiter() -> None:
    holders = Holders(PriorityLimiter(1))
    holders.start("routine 1", ROUTINE)
    holders.start("routine 2", ROUTINE)
    holders.start("routine 3", ROUTINE)
    await until(lambda: holders.limiter.waiting(ROUTINE) == 2, "two routine waiters")
    holders.start("urgent", URGENT)
    await until(lambda: holders.limiter.waiting(URGENT) == 1, "the urgent waiter")

    await holders.let_go("routine 1")
    await until(lambda: len(holders.served) == 2, "the next holder")
    await holders.let_all_go()

    assert holders.served == ["routine 1", "urgent", "routine 2", "routine 3"]


async def test_waiters_of_one_priority_are_served_in_order_of_arrival() -> None:
    holders = Holders(PriorityLimiter(1))
    for number in range(5):
        holders.start(f"urgent {number}", URGENT)
    await until(lambda: holders.limiter.waiting(URGENT) == 4, "four waiters")

    await holders.let_all_go()

    assert holders.served == [f"urgent {number}" for number in range(5)]


async def test_a_priority_at_its_share_leaves_the_other_slots_to_the_rest() -> None:
    holders = Holders(PriorityLimiter(2, shares={ROUTINE: 1}))
    holders.start("routine 1", ROUTINE)
    holders.start("routine 2", ROUTINE)
    await until(lambda: holders.limiter.waiting(ROUTINE) == 1, "routine 2 waiting")

    holders.start("urgent", URGENT)
    await until(lambda: len(holders.served) == 2, "the urgent holder")

    # A slot was free for the urgent one at once: the routine share was spent.
    assert holders.served == ["routine 1", "urgent"]
    assert holders.limiter.waiting(ROUTINE) == 1
    await holders.let_all_go()
    assert holders.served[-1] == "routine 2"


async def test_a_cancelled_waiter_gives_up_its_place_and_takes_no_slot() -> None:
    holders = Holders(PriorityLimiter(1))
    holders.start("first", URGENT)
    holders.start("cancelled", URGENT)
    holders.start("last", URGENT)
    await until(lambda: holders.limiter.waiting(URGENT) == 2, "two waiters")

    holders.tasks["cancelled"].cancel()
    await until(lambda: holders.limiter.waiting(URGENT) == 1, "the cancelled one gone")
    await holders.let_go("first")
    await until(lambda: holders.served == ["first", "last"], "the last one served")
    await holders.let_go("last")

    assert holders.tasks["cancelled"].cancelled()
    assert holders.limiter.holding(URGENT) == 0


async def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_goes_on_to_the_next() -> None:
    limiter = PriorityLimiter(1)
    holders = Holders(limiter)
    first_slot = limiter.slot(URGENT)
    await first_slot.__aenter__()
    holders.start("cancelled", URGENT)
    holders.start("next", URGENT)
    await until(lambda: limiter.waiting(URGENT) == 2, "two waiters")

    # Released and cancelled in one step of the event loop: the slot is the waiter's
    # already, but it never runs to take it.
    await first_slot.__aexit__(None, None, None)
    holders.tasks["cancelled"].cancel()
    await until(lambda: holders.served == ["next"], "the next one served")
    await holders.let_go("next")

    assert holders.tasks["cancelled"].cancelled()
    assert limiter.holding(URGENT) == 0


async def test_a_waiter_cancelled_just_before_a_release_is_passed_over() -> None:
    limiter = PriorityLimiter(1)
    holders = Holders(limiter)
    first_slot = limiter.slot(URGENT)
    await first_slot.__aenter__()
    holders.start("cancelled", URGENT)
    holders.start("next", URGENT)
    await until(lambda: limiter.waiting(URGENT) == 2, "two waiters")

    # Cancelled, then released in the same step: the waiter has not yet heard it.
    holders.tasks["cancelled"].cancel()
    await first_slot.__aexit__(None, None, None)
    await until(lambda: holders.served == ["next"], "the next one served")
    await holders.let_go("next")

    assert holders.tasks["cancelled"].cancelled()
    assert (limiter.holding(URGENT), limiter.waiting(URGENT)) == (0, 0)


async def test_a_waiter_that_times_out_leaves_the_queue_and_takes_no_slot() -> None:
    limiter = PriorityLimiter(1)
    holders = Holders(limiter)
    holders.start("holder", ROUTINE)
    await until(lambda: holders.served == ["holder"], "the holder")

    with pytest.raises(TimeoutError):
        async with limiter.slot(ROUTINE, max_wait_seconds=0.05):
            pytest.fail("a slot that was never free")

    assert limiter.waiting(ROUTINE) == 0
    await holders.let_go("holder")
    async with limiter.slot(ROUTINE, max_wait_seconds=0.05):
        assert limiter.holding(ROUTINE) == 1
