from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.cursors import Cursor, InvalidCursor


def _encoded(created_at: str) -> str:
    raw = f'["{created_at}", "5b4e0a3c-0000-0000-0000-000000000000"]'.encode()
    return base64.urlsafe_b64encode(raw).decode()


def test_a_cursor_survives_its_round_trip() -> None:
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())

    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00"]').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "5b4e0a3c-0000-0000-0000-000000000000"]').decode(),
        base64.urlsafe_b64encode(
            b'["2026-01-01T00:00:00", "5b4e0a3c-0000-0000-0000-000000000000"]'
        ).decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "nope"]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
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
