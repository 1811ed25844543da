"""A capacity limiter that serves its waiters by priority, each priority within its share."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager


class PriorityLimiter:
    """At most `capacity` holders at once.

    A freed slot goes to the most urgent waiter (the lowest priority number; first come,
    first served within one), passing over a priority that already holds its share of the
    slots (`shares`, by default all of them).
    """

    def __init__(self, capacity: int, shares: Mapping[int, int] | None = None) -> None:
        self.capacity = capacity
        self._shares = dict(shares or {})
        self._held = 0
        self._held_by: Counter[int] = Counter()
        self._waiters: defaultdict[int, deque[asyncio.Future[None]]] = defaultdict(deque)

    def waiting(self, priority: int) -> int:
        """How many wait for a slot with this priority."""
        return len(self._waiters[priority])

    def holding(self, priority: int) -> int:
        """How many slots this priority holds."""
        return self._held_by[priority]

    @asynccontextmanager
    async def slot(
        self, priority: int, *, max_wait_seconds: float | None = None
    ) -> AsyncIterator[None]:
        """Hold a slot for the duration of the block, waiting for one first if need be: at
        most `max_wait_seconds`, then `TimeoutError` (the block's own time is not limited)."""
        await self._acquire(priority, max_wait_seconds)
        try:
            yield
        finally:
            self._release(priority)

    def _may_take(self, priority: int) -> bool:
        share = self._shares.get(priority, self.capacity)
        return self._held < self.capacity and self._held_by[priority] < share

    def _take(self, priority: int) -> None:
        self._held += 1
        self._held_by[priority] += 1

    async def _acquire(self, priority: int, max_wait_seconds: float | None) -> None:
        # Every release serves whoever may be served, so no waiter could take a slot now:
        # one that is free may go to this newcomer without jumping a queue.
        if self._may_take(priority):
            self._take(priority)
            return
        queue = self._waiters[priority]
        handed_over = asyncio.get_running_loop().create_future()
        queue.append(handed_over)
        try:
            async with asyncio.timeout(max_wait_seconds):
                await handed_over
        except (asyncio.CancelledError, TimeoutError):
            if handed_over.done() and not handed_over.cancelled():
                self._release(priority)  # handed a slot as it gave up: pass the slot on
            else:
                handed_over.cancel()
                if handed_over in queue:
                    queue.remove(handed_over)
            raise

    def _release(self, priority: int) -> None:
        self._held -= 1
        self._held_by[priority] -= 1
        for waiting_priority in sorted(self._waiters):
            queue = self._waiters[waiting_priority]
            while queue and self._may_take(waiting_priority):
                handed_over = queue.popleft()
                if not handed_over.done():  # else cancelled, and its waiter not yet told
                    self._take(waiting_priority)
                    handed_over.set_result(None)
