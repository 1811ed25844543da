"""Webhook endpoints and the log of their delivery attempts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from order_service.models import WebhookAttempt, WebhookEndpoint
from order_service.records import AttemptRecord, EndpointRecord, EventType
from shared.cursors import Cursor
from shared.pagination import Page, newest_first_page

_ENDPOINT_COLUMNS = tuple(
    getattr(WebhookEndpoint, name) for name in EndpointRecord.__dataclass_fields__
)
_READ = select(*_ENDPOINT_COLUMNS).where(WebhookEndpoint.id == bindparam("endpoint_id", type_=Uuid))


def endpoint_of(row: Row[Any]) -> EndpointRecord:
    fields = dict(row._mapping)
    fields["event_types"] = [EventType(kind) for kind in fields["event_types"]]
    return EndpointRecord(**fields)


async def insert_endpoint(connection: AsyncConnection, endpoint: EndpointRecord) -> None:
    await connection.execute(insert(WebhookEndpoint), [asdict(endpoint)])


async def read_endpoint(
    connection: AsyncConnection, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> EndpointRecord | None:
    """The endpoint (locked until the transaction ends, `for_update`), or None."""
    statement = _READ.with_for_update() if for_update else _READ
    row = (await connection.execute(statement, {"endpoint_id": endpoint_id})).one_or_none()
    return endpoint_of(row) if row is not None else None


async def read_endpoints(connection: AsyncConnection) -> list[EndpointRecord]:
    """Every endpoint, oldest first (there are a handful, registered by admins)."""
    statement = select(*_ENDPOINT_COLUMNS).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    return [endpoint_of(row) for row in (await connection.execute(statement)).all()]


async def update_endpoint(
    connection: AsyncConnection,
    endpoint_id: uuid.UUID,
    changes: Mapping[str, object],
    *,
    now: datetime,
) -> EndpointRecord | None:
    """Set the given columns; the endpoint as it is now, or None."""
    statement = (
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(**changes, updated_at=now)
        .returning(*_ENDPOINT_COLUMNS)
    )
    row = (await connection.execute(statement)).one_or_none()
    return endpoint_of(row) if row is not None else None


async def delete_endpoint(connection: AsyncConnection, endpoint_id: uuid.UUID) -> bool:
    """Delete the endpoint with its deliveries and attempts; False when there is none."""
    statement = (
        delete(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .returning(WebhookEndpoint.id)
    )
    return await connection.scalar(statement) is not None


_ATTEMPT_COLUMNS = (
    WebhookAttempt.id,
    WebhookAttempt.event_id,
    WebhookAttempt.attempt,
    WebhookAttempt.status_code,
    WebhookAttempt.error,
    WebhookAttempt.duration_ms,
    WebhookAttempt.at,
)


async def read_attempts_page(
    connection: AsyncConnection,
    endpoint_id: uuid.UUID,
    *,
    limit: int,
    after: str | None,
    scope: str,
) -> Page[AttemptRecord]:
    """An endpoint's attempts, newest first, from the index on (endpoint_id, at, id)."""
    statement = newest_first_page(
        select(*_ATTEMPT_COLUMNS).where(WebhookAttempt.endpoint_id == endpoint_id),
        WebhookAttempt.at,
        WebhookAttempt.id,
        limit=limit,
        after=after,
        scope=scope,
    )
    rows = (await connection.execute(statement)).all()
    items = [AttemptRecord(**row._mapping) for row in rows[:limit]]
    next_cursor = Cursor(items[-1].at, items[-1].id).encode(scope) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


async def clear_failures(connection: AsyncConnection, endpoint_id: uuid.UUID) -> None:
    """The endpoint answered: it is not failing (any more)."""
    await connection.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
        .values(failing_since=None)
    )


async def note_failure(
    connection: AsyncConnection, endpoint_id: uuid.UUID, *, now: datetime
) -> datetime | None:
    """An attempt failed: since when the enabled endpoint has been failing (now, if it was
    not); None if it is disabled or gone."""
    statement = (
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled)
        .values(failing_since=func.coalesce(WebhookEndpoint.failing_since, now))
        .returning(WebhookEndpoint.failing_since)
    )
    failing_since: datetime | None = await connection.scalar(statement)
    return failing_since


async def disable_endpoint(
    connection: AsyncConnection, endpoint_id: uuid.UUID, reason: str, *, now: datetime
) -> bool:
    """Disable the endpoint, saying why; False if it was disabled already."""
    statement = (
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
        .returning(WebhookEndpoint.id)
    )
    return await connection.scalar(statement) is not None
