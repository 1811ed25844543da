from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from shared.pagination import Cursor
from shared.problems import Problem


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
    ],
    ids=["alphabet", "json", "arity", "time", "naive-time", "uuid", "object"],
)
def test_a_tampered_cursor_is_a_422_problem(text: str) -> None:
    with pytest.raises(Problem) as raised:
        Cursor.decode(text)

    assert raised.value.status == 422
    assert raised.value.extensions["errors"][0]["loc"] == ["query", "cursor"]
