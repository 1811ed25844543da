from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from gateway.circuit import CircuitBreaker, CircuitOpen, CircuitState
from tests.gateway.conftest import gateway_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def breaker_with(clock: Clock, jitter: Callable[[], float] = lambda: 0.0) -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=3,
        trial_delay_seconds=2,
        max_trial_delay_seconds=10,
        clock=clock,
        jitter=jitter,
    )


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    """Without jitter: every pause is as long as it can be."""
    return breaker_with(clock)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.before_request())


def next_trial(breaker: CircuitBreaker, clock: Clock) -> tuple[float, int]:
    """How long the open circuit refuses requests, found by moving the clock on (in steps a
    float holds exactly) until a trial goes through, and that trial's ticket."""
    opened_at = clock.now
    while True:
        try:
            trial = breaker.before_request()
        except CircuitOpen:
            clock.now += 1 / 16
        else:
            return clock.now - opened_at, trial


def test_failures_in_a_row_open_the_circuit(breaker: CircuitBreaker) -> None:
    fail(breaker, 3)

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen) as refusal:
        breaker.before_request()
    assert refusal.value.retry_after_seconds == 2


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record_success(breaker.before_request())
    fail(breaker, 2)

    assert breaker.state is CircuitState.CLOSED


def test_after_the_pause_one_trial_goes_through(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 2

    breaker.before_request()  # the trial

    assert breaker.state is CircuitState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_request()  # others wait for the trial's outcome


def test_a_successful_trial_closes_the_circuit(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 2
    trial = breaker.before_request()

    breaker.record_success(trial)

    assert breaker.state is CircuitState.CLOSED
    breaker.before_request()


def test_a_failed_trial_opens_it_for_a_pause_twice_as_long(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now += 2
    trial = breaker.before_request()

    breaker.record_failure(trial)
    clock.now += 1

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen) as refusal:
        breaker.before_request()
    assert refusal.value.retry_after_seconds == 3


def test_the_pauses_double_with_every_failed_trial_up_to_the_maximum(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    pauses = []
    for _ in range(5):
        pause, trial = next_trial(breaker, clock)
        pauses.append(pause)
        breaker.record_failure(trial)

    assert pauses == [2, 4, 8, 10, 10]


def test_after_a_successful_trial_the_next_opening_pauses_briefly_again(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    for _ in range(2):
        breaker.record_failure(next_trial(breaker, clock)[1])
    breaker.record_success(next_trial(breaker, clock)[1])

    fail(breaker, 3)

    assert next_trial(breaker, clock)[0] == 2


def test_jitter_shortens_a_pause_by_up_to_half(clock: Clock) -> None:
    pauses = []
    for jitter in (0.0, 0.5, 1.0):
        breaker = breaker_with(clock, jitter=functools.partial(float, jitter))
        fail(breaker, 3)
        pauses.append(next_trial(breaker, clock)[0])

    assert pauses == [2, 1.5, 1]


def test_a_trial_that_ended_for_the_clients_reasons_lets_the_next_one_try(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now += 2
    trial = breaker.before_request()

    breaker.record_neither(trial)

    breaker.before_request()
    assert breaker.state is CircuitState.HALF_OPEN


def test_a_late_success_from_before_the_circuit_opened_does_not_close_it(
    breaker: CircuitBreaker,
) -> None:
    slow = breaker.before_request()
    fail(breaker, 3)

    breaker.record_success(slow)

    assert breaker.state is CircuitState.OPEN


def test_a_late_failure_does_not_restart_the_pause_or_lengthen_the_next(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    slow = breaker.before_request()
    fail(breaker, 3)
    clock.now += 1.5

    breaker.record_failure(slow)

    with pytest.raises(CircuitOpen) as refusal:
        breaker.before_request()
    assert refusal.value.retry_after_seconds == 1
    assert next_trial(breaker, clock)[0] == 0.5


def test_a_maximum_pause_below_the_first_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_CIRCUIT_MAX_TRIAL_DELAY_SECONDS"):
        gateway_settings(circuit_trial_delay_seconds=2, circuit_max_trial_delay_seconds=1)
