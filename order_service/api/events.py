"""`/events`: the feed of what happened to orders and products, oldest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from order_service.api.dependencies import State
from order_service.feed import read_events
from order_service.records import EventType
from order_service.schemas import EventOut, EventPage
from shared.identity import CurrentIdentity
from shared.pagination import CursorParam, Limit

router = APIRouter(prefix="/events", tags=["events"])


def _split_commas(value: object) -> object:
    """`?type=a,b&type=c` is the three types a, b and c."""
    if isinstance(value, list):
        return [part.strip() for item in value for part in str(item).split(",") if part.strip()]
    return value


EventTypes = Annotated[
    list[EventType] | None,
    BeforeValidator(_split_commas),
    Query(
        alias="type",
        description="Only events of these types: repeat the parameter, or separate the types"
        " with commas.",
    ),
]


@router.get(
    "",
    response_model=EventPage,
    summary="Events, oldest first (an admin's: all; a user's: those of their own orders)",
    responses={422: {"description": "An unknown type, or a bad cursor or limit"}},
)
async def browse_events(
    state: State,
    identity: CurrentIdentity,
    kinds: EventTypes = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> EventPage:
    page = await read_events(
        state["store"],
        identity,
        kinds=frozenset(kinds) if kinds else None,
        limit=limit,
        cursor=cursor,
    )
    return EventPage(
        items=[EventOut.of(event) for event in page.items], next_cursor=page.next_cursor
    )
