"""A circuit breaker per upstream: after a run of failures, fail fast for a while.

Closed: requests pass, and `failure_threshold` failures in a row open the circuit. Open:
requests are refused at once (503), which spares a struggling upstream and the clients'
time. Half-open: after a pause one request at a time tries; its success closes the circuit,
its failure opens it again for a pause twice as long, up to `max_trial_delay_seconds`.

The first pause is short (`trial_delay_seconds`), so that traffic resumes soon after an
upstream comes back; the doubling keeps an upstream that stays down from seeing more than a
trial now and then. Each pause is shortened by a random part of up to half (jitter), so
that the gateway's replicas do not send their trials in step.

Each request gets a ticket, the circuit's generation when it started: an outcome that comes
back after the circuit opened (a slow request started before) says nothing of the upstream
now, and is ignored.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"circuit open, retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int,
        trial_delay_seconds: float,
        max_trial_delay_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        # In [0, 1): how much of half its length a pause loses.
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.trial_delay_seconds = trial_delay_seconds
        self.max_trial_delay_seconds = max_trial_delay_seconds
        self.clock = clock
        self.jitter = jitter
        self.state = CircuitState.CLOSED
        self._failures = 0
        # The pause of the circuit's latest opening, before jitter.
        self._delay = trial_delay_seconds
        self._trial_at = 0.0
        self._is_trial_in_flight = False
        self._generation = 0

    def before_request(self) -> int:
        """Let the request through, returning its ticket, or raise `CircuitOpen`."""
        if self.state is CircuitState.CLOSED:
            return self._generation
        remaining = self._trial_at - self.clock()
        if self.state is CircuitState.OPEN and remaining > 0:
            raise CircuitOpen(max(1, math.ceil(remaining)))
        if self._is_trial_in_flight:
            raise CircuitOpen(1)
        self.state = CircuitState.HALF_OPEN
        self._is_trial_in_flight = True
        return self._generation

    def record_neither(self, ticket: int) -> None:
        """The request ended for a reason that says nothing of the upstream (the client's)."""
        if ticket == self._generation:
            self._is_trial_in_flight = False

    def record_success(self, ticket: int) -> None:
        if ticket != self._generation:
            return
        self.state = CircuitState.CLOSED
        self._failures = 0
        self._delay = self.trial_delay_seconds
        self._is_trial_in_flight = False

    def record_failure(self, ticket: int) -> None:
        if ticket != self._generation:
            return
        self._failures += 1
        if self.state is CircuitState.HALF_OPEN:
            self._delay = min(2 * self._delay, self.max_trial_delay_seconds)
            self._open()
        elif self._failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        self.state = CircuitState.OPEN
        self._trial_at = self.clock() + self._delay * (1 - self.jitter() / 2)
        self._is_trial_in_flight = False
        self._generation += 1
