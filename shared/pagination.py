"""Keyset pagination, newest first, behind an opaque cursor (`shared.cursors`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar, TypeVarTuple

from fastapi import Query
from sqlalchemy import Integer, Select, Uuid, bindparam, tuple_
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
    is_after_a_cursor: bool,
) -> Select[*Columns]:
    """`statement` newest first, a page's worth of rows and one more, from the start or after
    a cursor: the values are parameters (`page_parameters`), so that the statement is built
    (and compiled) once per shape.

    The extra row tells whether there is a next page (see `page_of`).
    """
    if is_after_a_cursor:
        after = tuple_(
            bindparam("after_created_at", type_=created_at.type),
            bindparam("after_id", type_=Uuid),
        )
        statement = statement.where(tuple_(created_at, item_id) < after)
    return statement.order_by(created_at.desc(), item_id.desc()).limit(
        bindparam("rows_wanted", type_=Integer)
    )


def page_parameters(*, limit: int, after: str | None, scope: str) -> dict[str, Any]:
    """The values of a `newest_first_page` statement. `scope` names the listing and its
    filters: a cursor is only good for the listing that made it (else `InvalidCursor`)."""
    parameters: dict[str, Any] = {"rows_wanted": limit + 1}
    if after is not None:
        cursor = Cursor.decode(after, scope)
        parameters["after_created_at"] = cursor.created_at
        parameters["after_id"] = cursor.id
    return parameters


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
