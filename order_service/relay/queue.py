"""The relay's transactions, each short, and none open across an HTTP call (it would hold a
pooled connection, and hold the feed back for everyone: `store/events.py`).

1. `fan_out`: the next settled events of the feed become deliveries, one per enabled endpoint
   that wants each, and the relay's cursor moves past them. One relay does this at a time
   (the cursor's row is locked; another skips its turn), so each endpoint's deliveries are
   queued in the feed's order.
2. `claim`: due deliveries, each the first pending one of its order or product for its
   endpoint, are leased for a while (`leased_until`) and the transaction commits; the relay
   then sends them with no transaction open. A relay that dies lets its leases run out, and
   another sends the same events again, with the same `webhook-id`.
3. `record`: the attempt is logged, and the delivery is done, given up, or due again later;
   the endpoint is disabled once every attempt has failed for long enough.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from order_service.records import AttemptRecord, EventRecord
from order_service.relay.retries import RetrySchedule
from order_service.relay.sender import Outcome
from order_service.store import Connection, Store
from order_service.store.deliveries import (
    DELIVERED,
    FAILED,
    LeasedDelivery,
    NewDelivery,
    finish_delivery,
    give_up_pending,
    insert_attempt,
    insert_deliveries,
    lease_due_deliveries,
    lock_relay_cursor,
    move_relay_cursor,
    read_deliveries,
    read_queue_times,
    read_subscriptions,
    retry_delivery_at,
)
from order_service.store.events import SettledEvent, read_events_at, read_settled_after
from order_service.store.webhooks import (
    clear_failures,
    disable_endpoint,
    note_failure,
    read_endpoint,
)
from shared.identifiers import uuid7

# The webhooks' place in the feed (a row of `relay_cursors`).
CURSOR = "webhooks"


async def fan_out(store: Store, *, batch_size: int, now: datetime) -> list[SettledEvent]:
    """Queue the next settled events for the endpoints that want them; the events passed
    (none when there were none, or when another relay is doing it)."""
    async with store.writing() as connection:
        cursor = await lock_relay_cursor(connection, CURSOR)
        if cursor is None:
            return []
        events = await read_settled_after(connection, cursor, batch_size)
        if not events:
            return []
        subscriptions = await read_subscriptions(connection)
        deliveries = [
            NewDelivery(subscription.endpoint_id, event.position, event.aggregate_id)
            for event in events
            for subscription in subscriptions
            if event.type in subscription.event_types
        ]
        queues = {(delivery.endpoint_id, delivery.aggregate_id) for delivery in deliveries}
        due = await read_queue_times(connection, queues)
        await insert_deliveries(connection, deliveries, now=now, due=due)
        await move_relay_cursor(connection, CURSOR, events[-1].cursor)
    return events


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery this relay holds the lease of: which event, to which URL, signed how."""

    leased: LeasedDelivery
    url: str
    signing_secrets: list[str]
    event: EventRecord

    @property
    def attempt(self) -> int:
        """Which attempt this is, from 1."""
        return self.leased.attempts + 1


async def claim(store: Store, *, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
    """Lease up to `limit` deliveries that are due."""
    async with store.writing() as connection:
        ids = await lease_due_deliveries(connection, now=now, until=now + lease, limit=limit)
        if not ids:
            return []
        leased = await read_deliveries(connection, ids)
        events = await read_events_at(connection, {delivery.event_position for delivery in leased})
        endpoints = {}
        for endpoint_id in {delivery.endpoint_id for delivery in leased}:
            endpoint = await read_endpoint(connection, endpoint_id)
            assert endpoint is not None, "a leased delivery's endpoint is locked in place"
            endpoints[endpoint_id] = endpoint
    return [
        Delivery(
            leased=delivery,
            url=endpoints[delivery.endpoint_id].url,
            signing_secrets=endpoints[delivery.endpoint_id].signing_secrets(now),
            event=events[delivery.event_position],
        )
        for delivery in leased
    ]


class Result(StrEnum):
    DELIVERED = "delivered"
    RETRYING = "retrying"
    GIVEN_UP = "given_up"
    # Another relay recorded this attempt first (this one's lease had run out).
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Verdict:
    result: Result
    # Why the endpoint was disabled by this attempt, if it was.
    disabled_because: str | None = None


async def record(
    store: Store,
    delivery: Delivery,
    outcome: Outcome,
    *,
    now: datetime,
    schedule: RetrySchedule,
    disable_after: timedelta,
) -> Verdict:
    """Log the attempt and move the delivery on: delivered, due again later, or given up."""
    leased = delivery.leased
    attempt = AttemptRecord(
        id=uuid7(),
        event_id=delivery.event.id,
        attempt=delivery.attempt,
        status_code=outcome.status_code,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        at=now,
    )
    async with store.writing() as connection:
        await insert_attempt(connection, leased.endpoint_id, attempt)
        if outcome.is_success:
            result = Result.DELIVERED
            moved = await finish_delivery(connection, leased, DELIVERED, now=now)
            await clear_failures(connection, leased.endpoint_id)
            disabled_because = None
        else:
            if schedule.is_last(delivery.attempt):
                result = Result.GIVEN_UP
                moved = await finish_delivery(connection, leased, FAILED, now=now)
            else:
                result = Result.RETRYING
                retry_at = now + schedule.wait_after(delivery.attempt)
                moved = await retry_delivery_at(connection, leased, retry_at)
            disabled_because = await _disable_if_failing_too_long(
                connection, leased.endpoint_id, outcome, now=now, disable_after=disable_after
            )
    return Verdict(result if moved else Result.SUPERSEDED, disabled_because)


async def _disable_if_failing_too_long(
    connection: Connection,
    endpoint_id: uuid.UUID,
    outcome: Outcome,
    *,
    now: datetime,
    disable_after: timedelta,
) -> str | None:
    """Disable the endpoint once its attempts have all failed for `disable_after`, and give
    up what it still had to receive; why, if it was."""
    failing_since = await note_failure(connection, endpoint_id, now=now)
    if failing_since is None or now - failing_since < disable_after:
        return None
    reason = (
        f"Every delivery attempt since {failing_since:%Y-%m-%d %H:%M:%S} UTC failed"
        f" ({disable_after.total_seconds() / 3600:g} hours or more); the last {outcome.describe()}."
        " Events are not queued for it while it is disabled: read them from GET /events."
    )
    if not await disable_endpoint(connection, endpoint_id, reason, now=now):
        return None
    await give_up_pending(connection, endpoint_id, now=now)
    return reason
