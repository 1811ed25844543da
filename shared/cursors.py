"""The opaque cursor of keyset pagination: the position after the last item of a page."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime


class InvalidCursor(Exception):
    """The cursor is not one this service made (answered as a 422 by `shared.problems`)."""


@dataclass(frozen=True)
class Cursor:
    """The position after the last item of a page: its creation time and id."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), str(self.id)]).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor a client sent back; raises `InvalidCursor` for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            created_at_text, item_id = json.loads(raw)
            created_at = datetime.fromisoformat(created_at_text)
            if created_at.tzinfo is None:
                raise ValueError("naive timestamp")
            # In UTC, as stored; a far-off offset at the ends of the calendar overflows here.
            return cls(created_at.astimezone(UTC), uuid.UUID(item_id))
        except (binascii.Error, ValueError, TypeError, OverflowError):
            raise InvalidCursor(text) from None
