"""When a failed delivery is tried again: exponential back-off with full jitter, about a day
in all, then it is given up."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class RetrySchedule:
    """`attempts` in all: the first at once, then the k-th retry after a random wait between
    0 and min(`first_delay` × 2^(k-1), `max_delay`). With the defaults the waits add up to
    about 25 hours on average (the ceilings to 50), so an endpoint down for a day still
    gets its events. Full jitter spreads the retries of many deliveries that failed together
    (an endpoint's outage), instead of bringing them back at once."""

    attempts: int = 18
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=6)
    # A number in [0, 1): tests pass their own to know the waits.
    random: Callable[[], float] = field(default=random.random)

    def is_last(self, attempt: int) -> bool:
        """Whether the `attempt`-th attempt (from 1) is the last one."""
        return attempt >= self.attempts

    def ceiling(self, attempt: int) -> timedelta:
        """The longest wait after the `attempt`-th attempt failed."""
        doubled: timedelta = self.first_delay * 2 ** (attempt - 1)
        return min(doubled, self.max_delay)

    def wait_after(self, attempt: int) -> timedelta:
        """How long to wait after the `attempt`-th attempt failed."""
        return self.ceiling(attempt) * self.random()
