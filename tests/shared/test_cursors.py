from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.cursors import MAX_CURSOR_LENGTH, Cursor, InvalidCursor, SequenceCursor

# Examples are cheap, but a loaded machine must not fail a test on hypothesis's deadline.
property_test = settings(deadline=None, max_examples=300)

ITEM_ID = "5b4e0a3c-0000-0000-0000-000000000000"


def _signed(payload: bytes, scope: str = "") -> str:
    """A cursor with a valid checksum around `payload`, to reach the parser behind it: what
    anyone can make, since the checksum has no key."""
    check = hashlib.sha256(scope.encode() + b"\0" + payload).digest()[:8]
    return base64.urlsafe_b64encode(check + payload).rstrip(b"=").decode()


def _encoded(created_at: str, item_id: str = ITEM_ID) -> str:
    return _signed(json.dumps([created_at, item_id]).encode())


def _decodes_or_refuses(text: str, scope: str = "") -> Cursor | None:
    """`Cursor.decode`, which may refuse (`InvalidCursor`) but must not raise anything else;
    whatever it accepts is exactly the text the service would make for that position."""
    try:
        cursor = Cursor.decode(text, scope)
    except InvalidCursor:
        return None
    assert cursor.encode(scope) == text
    return cursor


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23))
timestamps = st.datetimes(timezones=st.none() | st.just(UTC) | st.builds(timezone, offsets))
# Near-valid positions: a pair whose halves are sometimes right, sometimes anything.
positions = st.tuples(
    timestamps.map(datetime.isoformat) | json_values,
    st.uuids().map(str) | st.uuids().map(lambda item_id: item_id.hex) | json_values,
).map(list)


@property_test
@given(position=json_values | positions, scope=st.text(max_size=20))
@example(position=["2026-01-01T00:00:00+00:00", 5], scope="")
@example(position=["2026-01-01T00:00:00+00:00", [ITEM_ID]], scope="")
@example(position=5, scope="")
def test_a_cursor_with_a_valid_checksum_around_any_json_is_decoded_or_refused(
    position: object, scope: str
) -> None:
    _decodes_or_refuses(_signed(json.dumps(position).encode(), scope), scope)


@property_test
@given(payload=st.binary(max_size=150))
def test_a_cursor_with_a_valid_checksum_around_any_bytes_is_decoded_or_refused(
    payload: bytes,
) -> None:
    _decodes_or_refuses(_signed(payload))


@property_test
@given(text=st.text(max_size=MAX_CURSOR_LENGTH + 20))
def test_any_text_is_decoded_or_refused(text: str) -> None:
    _decodes_or_refuses(text)


@property_test
@given(
    created_at=st.datetimes(
        min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
    ),
    item_id=st.uuids(),
    scope=st.text(max_size=40),
)
def test_a_cursor_survives_its_round_trip(
    created_at: datetime, item_id: uuid.UUID, scope: str
) -> None:
    cursor = Cursor(created_at, item_id)

    assert Cursor.decode(cursor.encode(scope), scope) == cursor


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
        _signed(b'["2026-01-01T00:00:00+00:00", 5]'),
        _signed(b'["2026-01-01T00:00:00+00:00", ["5b4e0a3c-0000-0000-0000-000000000000"]]'),
        _signed(b"12"),
        _encoded("0001-01-01T00:00:00+05:00"),
        _encoded("9999-12-31T23:59:59-05:00"),
        _encoded("2026-01-01T05:00:00+05:00"),
        _encoded("2026-01-01T00:00:00Z"),
        _encoded("2026-01-01T00:00:00+00:00", "{" + ITEM_ID + "}"),
        _encoded("2026-01-01T00:00:00+00:00", ITEM_ID.replace("-", "")),
        _signed(b'["2026-01-01T00:00:00+00:00","5b4e0a3c-0000-0000-0000-000000000000"]'),
        _encoded("2026-01-01T00:00:00+00:00") + "==",
        "A" * (MAX_CURSOR_LENGTH + 1),
    ],
    ids=[
        "alphabet",
        "json",
        "arity",
        "time",
        "naive-time",
        "uuid",
        "object",
        "number-id",
        "list-id",
        "number",
        "before-year-1",
        "after-year-9999",
        "another-offset",
        "zulu",
        "uuid-in-braces",
        "uuid-without-hyphens",
        "json-spacing",
        "padding",
        "too-long",
    ],
)
def test_a_cursor_the_service_did_not_make_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(text)


def test_a_cursor_is_made_in_utc() -> None:
    at_five = datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))

    cursor = Cursor.decode(Cursor(at_five, uuid.UUID(ITEM_ID)).encode())

    assert cursor.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert cursor.created_at.utcoffset() == timedelta(0)


def test_an_edited_cursor_is_refused() -> None:
    text = Cursor(datetime(2026, 1, 2, tzinfo=UTC), uuid.uuid4()).encode()
    raw = bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    raw[-3] ^= 1  # one bit of the id

    with pytest.raises(InvalidCursor):
        Cursor.decode(base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())


def test_a_cursor_is_good_only_for_the_listing_that_made_it() -> None:
    text = Cursor(datetime(2026, 1, 2, tzinfo=UTC), uuid.uuid4()).encode("orders|*|paid")

    assert Cursor.decode(text, "orders|*|paid")
    with pytest.raises(InvalidCursor):
        Cursor.decode(text, "orders|*|pending")


@property_test
@given(
    position=json_values | st.tuples(json_values, json_values).map(list),
    scope=st.text(max_size=20),
)
@example(position=[True, 1], scope="")
@example(position=[1.0, 1], scope="")
@example(position=[2**63, 1], scope="")
def test_a_sequence_cursor_with_a_valid_checksum_around_any_json_is_decoded_or_refused(
    position: object, scope: str
) -> None:
    text = _signed(json.dumps(position).encode(), scope)
    try:
        cursor = SequenceCursor.decode(text, scope)
    except InvalidCursor:
        return
    assert cursor.encode(scope) == text


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
