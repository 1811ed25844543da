"""The opaque cursor of keyset pagination: the position after the last item of a page.

A cursor carries a checksum over its position and the listing it belongs to (its scope: the
filters), so that an edited cursor, or one taken from another listing, is refused instead
of quietly paging from somewhere else. It is not a secret: a forged one can only move
within what the caller may list anyway.
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
        payload = json.dumps([self.created_at.isoformat(), str(self.id)]).encode()
        raw = _check(scope, payload) + payload
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str, scope: str = "") -> Cursor:
        """Parse a cursor this listing (`scope`) gave out; raises `InvalidCursor` otherwise."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            check, payload = raw[:_CHECK_BYTES], raw[_CHECK_BYTES:]
            if not hmac.compare_digest(check, _check(scope, payload)):
                raise ValueError("checksum")
            created_at_text, item_id = json.loads(payload)
            created_at = datetime.fromisoformat(created_at_text)
            if created_at.tzinfo is None:
                raise ValueError("naive timestamp")
            # In UTC, as stored; a far-off offset at the ends of the calendar overflows here.
            return cls(created_at.astimezone(UTC), uuid.UUID(item_id))
        except (binascii.Error, ValueError, TypeError, OverflowError):
            raise InvalidCursor(text) from None


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
        """Parse a cursor this listing (`scope`) gave out; raises `InvalidCursor` otherwise."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            check, payload = raw[:_CHECK_BYTES], raw[_CHECK_BYTES:]
            if not hmac.compare_digest(check, _check(scope, payload)):
                raise ValueError("checksum")
            major, minor = json.loads(payload)
            # bool is an int to Python; neither it nor a float is a position.
            if not all(type(key) is int and 0 <= key <= _MAX_KEY for key in (major, minor)):
                raise ValueError("not a position")
            return cls(major, minor)
        except (binascii.Error, ValueError, TypeError):
            raise InvalidCursor(text) from None
