"""Keyset pagination, newest first, behind an opaque cursor (`shared.cursors`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar, TypeVarTuple

from fastapi import Query
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from shared.cursors import MAX_CURSOR_LENGTH, Cursor

T = TypeVar("T")
Columns = TypeVarTuple("Columns")

Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
CursorParam = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page."),
]


def newest_first_page(
    statement: Select[*Columns],
    created_at: InstrumentedAttribute[datetime],
    item_id: InstrumentedAttribute[uuid.UUID],
    *,
    limit: int,
    after: str | None,
    scope: str,
) -> Select[*Columns]:
    """Order `statement` newest first and keep the rows after `after`, one more than `limit`.

    The extra row tells whether there is a next page (see `page_of`). `scope` names the
    listing and its filters: a cursor is only good for the listing that made it.
    """
    if after is not None:
        cursor = Cursor.decode(after, scope)
        statement = statement.where(tuple_(created_at, item_id) < (cursor.created_at, cursor.id))
    return statement.order_by(created_at.desc(), item_id.desc()).limit(limit + 1)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def page_of(rows: Sequence[T], limit: int, scope: str) -> Page[T]:
    """The first `limit` rows, with the cursor to the next page when there are more."""
    items = rows[:limit]
    has_more = len(rows) > limit
    last: Any = items[-1] if items else None
    next_cursor = Cursor(last.created_at, last.id).encode(scope) if has_more else None
    return Page(items=items, next_cursor=next_cursor)
