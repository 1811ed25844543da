"""The opaque cursor of keyset pagination: the position after the last item of a page.

A cursor carries a checksum over its position and the listing it belongs to (its scope: the
filters), so that an edited cursor, or one taken from another listing, is refused instead
of quietly paging from somewhere else. Decoding is strict: only the exact text `encode`
would make for the position is accepted, so whatever else arrives is an `InvalidCursor`
(a 422), never a crash.

Why a checksum and not a signature (HMAC with a key only the service knows): the position
is not a secret (the time and id of an item the caller has just been shown), and a forged
one only moves within what the caller may list anyway: the listing's own filters decide
what is visible, the cursor only where a page starts. A key would have to be shared by
every replica and survive restarts, one more secret for operators to provision and rotate,
and buy nothing that the strict decoding does not already give.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

_CHECK_BYTES = 8

# Longer than any cursor `encode` makes (about 120 characters): a bound on what the decoder
# reads, whatever the caller lets through.
MAX_CURSOR_LENGTH = 200


def _check(scope: str, payload: bytes) -> bytes:
    return hashlib.sha256(scope.encode() + b"\0" + payload).digest()[:_CHECK_BYTES]


class InvalidCursor(Exception):
    """The cursor is not one this service made (answered as a 422 by `shared.problems`)."""


@dataclass(frozen=True)
class Cursor:
    """The position after the last item of a page: its creation time and id."""

    created_at: datetime
    id: uuid.UUID

    def encode(self, scope: str = "") -> str:
        # In UTC, as stored, so that a position has one text.
        created_at = self.created_at.astimezone(UTC).isoformat()
        payload = json.dumps([created_at, str(self.id)]).encode()
        raw = _check(scope, payload) + payload
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str, scope: str = "") -> Cursor:
        """Parse a cursor this listing (`scope`) gave out; raises `InvalidCursor` otherwise."""
        if len(text) > MAX_CURSOR_LENGTH:
            raise InvalidCursor(text)
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            check, payload = raw[:_CHECK_BYTES], raw[_CHECK_BYTES:]
            if not hmac.compare_digest(check, _check(scope, payload)):
                raise ValueError("checksum")
            cursor = cls._parse(json.loads(payload))
            # A timestamp at the ends of the calendar can overflow on its way to UTC.
            is_canonical = cursor.encode(scope) == text
        except (binascii.Error, ValueError, OverflowError):
            raise InvalidCursor(text) from None
        # Another spelling of a position (an offset, a UUID in braces, padding, spaces) was
        # not made here: refused, so that a cursor has exactly one form.
        if not is_canonical:
            raise InvalidCursor(text)
        return cursor

    @classmethod
    def _parse(cls, position: object) -> Cursor:
        """The position as JSON gave it: exactly `[created_at, id]`, two strings."""
        match position:
            case [str() as created_at_text, str() as item_id]:
                created_at = datetime.fromisoformat(created_at_text)
                if created_at.tzinfo is None:
                    raise ValueError("naive timestamp")
                return cls(created_at, uuid.UUID(item_id))
            case _:
                raise ValueError("not a position")


# Both databases store the keys as signed 64-bit integers: a larger one was never given out.
_MAX_KEY = 2**63 - 1


@dataclass(frozen=True)
class SequenceCursor:
    """The position after the last item of a page of a listing ordered by two whole numbers,
    oldest first: a feed read in (`major`, `minor`) order."""

    major: int
    minor: int

    def encode(self, scope: str = "") -> str:
        payload = json.dumps([self.major, self.minor]).encode()
        raw = _check(scope, payload) + payload
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str, scope: str = "") -> SequenceCursor:
        """Parse a cursor this listing (`scope`) gave out; raises `InvalidCursor` otherwise
        (as strictly as `Cursor.decode`: only the exact text `encode` makes)."""
        if len(text) > MAX_CURSOR_LENGTH:
            raise InvalidCursor(text)
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            check, payload = raw[:_CHECK_BYTES], raw[_CHECK_BYTES:]
            if not hmac.compare_digest(check, _check(scope, payload)):
                raise ValueError("checksum")
            cursor = cls._parse(json.loads(payload))
        except (binascii.Error, ValueError):
            raise InvalidCursor(text) from None
        if cursor.encode(scope) != text:
            raise InvalidCursor(text)
        return cursor

    @classmethod
    def _parse(cls, position: object) -> SequenceCursor:
        """The position as JSON gave it: exactly `[major, minor]`, whole numbers in range
        (bool is an int to Python; neither it nor a float is a position)."""
        match position:
            case [int() as major, int() as minor] if all(
                type(key) is int and 0 <= key <= _MAX_KEY for key in (major, minor)
            ):
                return cls(major, minor)
            case _:
                raise ValueError("not a position")
