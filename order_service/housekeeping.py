"""The order service's clean-up, a round every `housekeeping_interval_seconds`: expired
idempotency keys, events past their retention (once the relay is done with them), and webhook
delivery attempts past theirs. Each is deleted in batches, a transaction each
(`shared.batched_delete`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from order_service.config import OrdersSettings
from order_service.idempotency import forget_expired_keys
from order_service.store import Store
from order_service.store.deliveries import delete_attempts_before
from order_service.store.events import delete_relayed_events, read_relayed_up_to
from order_service.store.webhooks import read_endpoints
from shared.batched_delete import DATABASE_SHARE, Deleted, delete_in_batches
from shared.cursors import SequenceCursor
from shared.database import utc_now
from shared.housekeeping import clean_up


async def forget_old_events(
    store: Store, *, before: datetime, batch_size: int, database_share: float = DATABASE_SHARE
) -> Deleted:
    """Delete the events that occurred before `before`, oldest first in the feed's order, as
    far as the relay has passed them; an event a delivery is pending for stays."""
    async with store.reading() as connection:
        relayed = await read_relayed_up_to(connection)
    if relayed is None:
        return Deleted()
    return await delete_in_batches(
        _events_batch(store, relayed, before),
        batch_size=batch_size,
        database_share=database_share,
    )


def _events_batch(
    store: Store, relayed: SequenceCursor, before: datetime
) -> Callable[[int], Awaitable[int]]:
    async def delete_batch(limit: int) -> int:
        async with store.writing() as connection:
            return await delete_relayed_events(connection, relayed, before=before, limit=limit)

    return delete_batch


async def forget_old_attempts(
    store: Store, *, before: datetime, batch_size: int, database_share: float = DATABASE_SHARE
) -> Deleted:
    """Delete the webhook delivery attempts made before `before`, endpoint by endpoint (the
    attempts' index is by endpoint)."""
    async with store.reading() as connection:
        endpoints = [endpoint.id for endpoint in await read_endpoints(connection)]
    batches: list[int] = []
    batch_seconds = 0.0
    for endpoint_id in endpoints:
        deleted = await delete_in_batches(
            _attempts_batch(store, endpoint_id, before),
            batch_size=batch_size,
            database_share=database_share,
        )
        batches.extend(deleted.batches)
        batch_seconds += deleted.batch_seconds
    return Deleted(tuple(batches), batch_seconds)


def _attempts_batch(
    store: Store, endpoint_id: uuid.UUID, before: datetime
) -> Callable[[int], Awaitable[int]]:
    async def delete_batch(limit: int) -> int:
        async with store.writing() as connection:
            return await delete_attempts_before(connection, endpoint_id, before=before, limit=limit)

    return delete_batch


async def delete_expired_records(store: Store, settings: OrdersSettings) -> dict[str, int]:
    """One round of the clean-up; the rows it deleted, by table."""
    now = utc_now()
    batch_size = settings.housekeeping_batch_size
    share = settings.housekeeping_database_share
    event_cutoff = now - timedelta(seconds=settings.event_retention_seconds)
    attempt_cutoff = now - timedelta(seconds=settings.webhook_attempt_retention_seconds)
    return await clean_up(
        {
            "idempotency_keys": lambda: forget_expired_keys(
                store, batch_size=batch_size, database_share=share
            ),
            "events": lambda: forget_old_events(
                store, before=event_cutoff, batch_size=batch_size, database_share=share
            ),
            "webhook_attempts": lambda: forget_old_attempts(
                store, before=attempt_cutoff, batch_size=batch_size, database_share=share
            ),
        }
    )
