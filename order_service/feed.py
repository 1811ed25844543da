"""The event feed: every event for an admin, the events of their own orders for a user,
oldest first, in an order that never changes (`store/events.py`)."""

from __future__ import annotations

from collections.abc import Set

from order_service.events import ORDER_EVENT_TYPES
from order_service.records import EventRecord, EventType
from order_service.store import Store
from order_service.store.events import read_feed
from shared.cursors import SequenceCursor
from shared.pagination import Page
from shared.tokens import Identity


def feed_scope(viewer: Identity, kinds: Set[EventType] | None) -> str:
    """Which feed a cursor belongs to: who reads it, and which kinds of event."""
    seen_by = "*" if viewer.is_admin else viewer.user_id
    return f"events|{seen_by}|{','.join(sorted(kinds)) if kinds else '*'}"


async def read_events(
    store: Store,
    viewer: Identity,
    *,
    kinds: Set[EventType] | None,
    limit: int,
    cursor: str | None,
) -> Page[EventRecord]:
    """A page of the events `viewer` may read (of `kinds` only, if given) after `cursor`."""
    scope = feed_scope(viewer, kinds)
    owner = None if viewer.is_admin else viewer.user_id
    if owner is not None:
        # A user's are the events of their own orders; a product's are no user's.
        kinds = ORDER_EVENT_TYPES & (kinds or ORDER_EVENT_TYPES)
        if not kinds:
            if cursor is not None:
                SequenceCursor.decode(cursor, scope)  # a bad cursor is refused whatever the feed
            return Page(items=[], next_cursor=cursor)
    async with store.reading() as connection:
        return await read_feed(
            connection, kinds=kinds, user_id=owner, after=cursor, limit=limit, scope=scope
        )
