from __future__ import annotations

import pytest

from gateway.circuit import CircuitBreaker, CircuitOpen, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, open_seconds=10, clock=clock)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.before_request())


def test_failures_in_a_row_open_the_circuit(breaker: CircuitBreaker) -> None:
    fail(breaker, 3)

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen) as refusal:
        breaker.before_request()
    assert refusal.value.retry_after_seconds == 10


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record_success(breaker.before_request())
    fail(breaker, 2)

    assert breaker.state is CircuitState.CLOSED


def test_after_the_pause_one_trial_goes_through(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 10

    breaker.before_request()  # the trial

    assert breaker.state is CircuitState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_request()  # others wait for the trial's outcome


def test_a_successful_trial_closes_the_circuit(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 10
    trial = breaker.before_request()

    breaker.record_success(trial)

    assert breaker.state is CircuitState.CLOSED
    breaker.before_request()


def test_a_failed_trial_opens_it_for_another_pause(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 10
    trial = breaker.before_request()

    breaker.record_failure(trial)
    clock.now += 4

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen) as refusal:
        breaker.before_request()
    assert refusal.value.retry_after_seconds == 6


def test_a_trial_that_ended_for_the_clients_reasons_lets_the_next_one_try(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now += 10
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


def test_a_late_failure_does_not_restart_the_pause(breaker: CircuitBreaker, clock: Clock) -> None:
    slow = breaker.before_request()
    fail(breaker, 3)
    clock.now += 8

    breaker.record_failure(slow)

    with pytest.raises(CircuitOpen) as refusal:
        breaker.before_request()
    assert refusal.value.retry_after_seconds == 2
