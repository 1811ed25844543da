"""Keyset pagination, newest first, behind an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
CursorParam = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
]


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


def newest_first_page(
    statement: Select[Any],
    created_at: InstrumentedAttribute[datetime],
    item_id: InstrumentedAttribute[uuid.UUID],
    *,
    limit: int,
    after: str | None,
) -> Select[Any]:
    """Order `statement` newest first and keep the rows after `after`, one more than `limit`.

    The extra row tells whether there is a next page (see `page_of`).
    """
    if after is not None:
        cursor = Cursor.decode(after)
        statement = statement.where(tuple_(created_at, item_id) < (cursor.created_at, cursor.id))
    return statement.order_by(created_at.desc(), item_id.desc()).limit(limit + 1)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def page_of(rows: Sequence[T], limit: int) -> Page[T]:
    """The first `limit` rows, with the cursor to the next page when there are more."""
    items = rows[:limit]
    has_more = len(rows) > limit
    last: Any = items[-1] if items else None
    next_cursor = Cursor(last.created_at, last.id).encode() if has_more else None
    return Page(items=items, next_cursor=next_cursor)
