"""UUIDv7 (RFC 9562): the time first, in order within a millisecond too."""

from __future__ import annotations

import time
import uuid

import pytest

from shared import identifiers
from shared.identifiers import uuid7


@pytest.fixture(autouse=True)
def fresh_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test as if no id had been made yet (monkeypatch restores the state after)."""
    monkeypatch.setattr(identifiers, "_last_ms", -1)
    monkeypatch.setattr(identifiers, "_last_counter", 0)


def test_an_id_is_version_7_of_the_rfc_variant_with_the_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid7()
    after = time.time_ns() // 1_000_000

    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_made_one_after_another_increase_within_one_millisecond_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(identifiers, "_clock_ns", lambda: 1_700_000_000_000 * 1_000_000)

    made = [uuid7() for _ in range(1000)]

    assert made == sorted(made)
    assert len(set(made)) == 1000
    assert {one.int >> 80 for one in made} == {1_700_000_000_000}


def test_a_clock_that_steps_back_never_makes_an_earlier_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(identifiers, "_clock_ns", lambda: 1_800_000_000_000 * 1_000_000)
    later = uuid7()
    monkeypatch.setattr(identifiers, "_clock_ns", lambda: 1_799_999_999_000 * 1_000_000)

    assert uuid7() > later


def test_a_counter_that_runs_out_moves_the_time_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identifiers, "_clock_ns", lambda: 1_900_000_000_000 * 1_000_000)
    first = uuid7()
    monkeypatch.setattr(identifiers, "_last_counter", (1 << 42) - 1)

    following = uuid7()

    assert following > first
    assert following.int >> 80 == 1_900_000_000_001
