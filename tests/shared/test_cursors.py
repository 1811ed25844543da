from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.cursors import Cursor, InvalidCursor, SequenceCursor


def _signed(payload: bytes) -> str:
    """A cursor with a valid checksum around `payload`, to reach the parser behind it."""
    check = hashlib.sha256(b"\0" + payload).digest()[:8]
    return base64.urlsafe_b64encode(check + payload).decode()


def _encoded(created_at: str) -> str:
    return _signed(f'["{created_at}", "5b4e0a3c-0000-0000-0000-000000000000"]'.encode())


def test_a_cursor_survives_its_round_trip() -> None:
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())

    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "not base64!",
        _signed(b"not json"),
        _signed(b'["2026-01-01T00:00:00+00:00"]'),
        _signed(b'["yesterday", "5b4e0a3c-0000-0000-0000-000000000000"]'),
        _signed(b'["2026-01-01T00:00:00", "5b4e0a3c-0000-0000-0000-000000000000"]'),
        _signed(b'["2026-01-01T00:00:00+00:00", "nope"]'),
        _signed(b'{"a": 1}'),
        _encoded("0001-01-01T00:00:00+05:00"),
        _encoded("9999-12-31T23:59:59-05:00"),
    ],
    ids=[
        "alphabet",
        "json",
        "arity",
        "time",
        "naive-time",
        "uuid",
        "object",
        "before-year-1",
        "after-year-9999",
    ],
)
def test_a_tampered_cursor_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(text)


def test_a_cursor_with_another_offset_is_read_in_utc() -> None:
    cursor = Cursor.decode(_encoded("2026-01-01T05:00:00+05:00"))

    assert cursor.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert cursor.created_at.utcoffset() == timedelta(0)


def test_an_edited_cursor_is_refused() -> None:
    text = Cursor(datetime(2026, 1, 2, tzinfo=UTC), uuid.uuid4()).encode()
    raw = bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    raw[-3] ^= 1  # one bit of the id

    with pytest.raises(InvalidCursor):
        Cursor.decode(base64.urlsafe_b64encode(bytes(raw)).decode())


def test_a_cursor_is_good_only_for_the_listing_that_made_it() -> None:
    text = Cursor(datetime(2026, 1, 2, tzinfo=UTC), uuid.uuid4()).encode("orders|*|paid")

    assert Cursor.decode(text, "orders|*|paid")
    with pytest.raises(InvalidCursor):
        Cursor.decode(text, "orders|*|pending")


def test_a_sequence_cursor_survives_its_round_trip() -> None:
    cursor = SequenceCursor(2**40 + 7, 12)

    assert SequenceCursor.decode(cursor.encode("feed"), "feed") == cursor


@pytest.mark.parametrize(
    "payload",
    [
        b"[1]",
        b"[1, 2, 3]",
        b'["1", 2]',
        b"[1.0, 2]",
        b"[true, 2]",
        b"[-1, 2]",
        b"[1, 9223372036854775808]",
    ],
    ids=["short", "long", "string", "float", "bool", "negative", "too-large"],
)
def test_a_sequence_cursor_holds_two_whole_numbers_a_database_can_store(payload: bytes) -> None:
    with pytest.raises(InvalidCursor):
        SequenceCursor.decode(_signed(payload))


def test_a_sequence_cursor_is_refused_by_another_listing() -> None:
    text = SequenceCursor(1, 2).encode("events|alice")

    with pytest.raises(InvalidCursor):
        SequenceCursor.decode(text, "events|bob")
