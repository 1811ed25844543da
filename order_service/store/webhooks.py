"""Webhook endpoints and the log of their delivery attempts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from functools import cache

from sqlalchemy import Uuid, bindparam, delete, func, insert, select, update

from order_service.models import WebhookAttempt, WebhookEndpoint
from order_service.records import AttemptRecord, EndpointRecord, EventType
from order_service.store.sql import Connection, Query, Row, query
from shared.cursors import Cursor
from shared.database import UTCDateTime
from shared.pagination import Page, newest_first_page, page_parameters

_ENDPOINT_FIELDS = tuple(EndpointRecord.__dataclass_fields__)
_ENDPOINT_COLUMNS = tuple(getattr(WebhookEndpoint, name) for name in _ENDPOINT_FIELDS)
_THE_ENDPOINT = WebhookEndpoint.id == bindparam("endpoint_id", type_=Uuid)
_NOW = bindparam("now", type_=UTCDateTime)

_INSERT = query(insert(WebhookEndpoint), params=_ENDPOINT_FIELDS)
_READ = select(*_ENDPOINT_COLUMNS).where(_THE_ENDPOINT)
_READ_ONE = query(_READ)
_LOCK_ONE = query(_READ.with_for_update())
_READ_ALL = query(
    select(*_ENDPOINT_COLUMNS).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
)
_DELETE = query(delete(WebhookEndpoint).where(_THE_ENDPOINT).returning(WebhookEndpoint.id))
_CLEAR_FAILURES = query(
    update(WebhookEndpoint)
    .where(_THE_ENDPOINT, WebhookEndpoint.failing_since.is_not(None))
    .values(failing_since=None)
)
_NOTE_FAILURE = query(
    update(WebhookEndpoint)
    .where(_THE_ENDPOINT, WebhookEndpoint.enabled)
    .values(failing_since=func.coalesce(WebhookEndpoint.failing_since, _NOW))
    .returning(WebhookEndpoint.failing_since)
)
_DISABLE = query(
    update(WebhookEndpoint)
    .where(_THE_ENDPOINT, WebhookEndpoint.enabled)
    .values(enabled=False, disabled_reason=bindparam("reason"), updated_at=_NOW)
    .returning(WebhookEndpoint.id)
)


def endpoint_of(row: Row) -> EndpointRecord:
    fields = {field: row[field] for field in _ENDPOINT_FIELDS}
    fields["event_types"] = [EventType(kind) for kind in fields["event_types"]]
    return EndpointRecord(**fields)


async def insert_endpoint(connection: Connection, endpoint: EndpointRecord) -> None:
    await connection.execute(_INSERT, asdict(endpoint))


async def read_endpoint(
    connection: Connection, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> EndpointRecord | None:
    """The endpoint (locked until the transaction ends, `for_update`), or None."""
    statement = _LOCK_ONE if for_update else _READ_ONE
    row = await connection.fetchrow(statement, {"endpoint_id": endpoint_id})
    return endpoint_of(row) if row is not None else None


async def read_endpoints(connection: Connection) -> list[EndpointRecord]:
    """Every endpoint, oldest first (there are a handful, registered by admins)."""
    return [endpoint_of(row) for row in await connection.fetch(_READ_ALL)]


@cache
def _update(fields: frozenset[str]) -> Query:
    """Setting these columns (and the time), compiled once each."""
    return query(
        update(WebhookEndpoint)
        .where(_THE_ENDPOINT)
        .values(updated_at=_NOW)
        .returning(*_ENDPOINT_COLUMNS),
        params=sorted(fields),
    )


async def update_endpoint(
    connection: Connection,
    endpoint_id: uuid.UUID,
    changes: Mapping[str, object],
    *,
    now: datetime,
) -> EndpointRecord | None:
    """Set the given columns; the endpoint as it is now, or None."""
    row = await connection.fetchrow(
        _update(frozenset(changes)), {**changes, "endpoint_id": endpoint_id, "now": now}
    )
    return endpoint_of(row) if row is not None else None


async def delete_endpoint(connection: Connection, endpoint_id: uuid.UUID) -> bool:
    """Delete the endpoint with its deliveries and attempts; False when there is none."""
    return await connection.fetchval(_DELETE, {"endpoint_id": endpoint_id}) is not None


_ATTEMPT_FIELDS = tuple(AttemptRecord.__dataclass_fields__)
ATTEMPTS_PAGES = {
    is_after: query(
        newest_first_page(
            select(*(getattr(WebhookAttempt, name) for name in _ATTEMPT_FIELDS)).where(
                WebhookAttempt.endpoint_id == bindparam("endpoint_id", type_=Uuid)
            ),
            WebhookAttempt.at,
            WebhookAttempt.id,
            is_after_a_cursor=is_after,
        )
    )
    for is_after in (False, True)
}


async def read_attempts_page(
    connection: Connection,
    endpoint_id: uuid.UUID,
    *,
    limit: int,
    after: str | None,
    scope: str,
) -> Page[AttemptRecord]:
    """An endpoint's attempts, newest first, from the index on (endpoint_id, at, id)."""
    parameters = {
        "endpoint_id": endpoint_id,
        **page_parameters(limit=limit, after=after, scope=scope),
    }
    rows = await connection.fetch(ATTEMPTS_PAGES[after is not None], parameters)
    items = [
        AttemptRecord(**{field: row[field] for field in _ATTEMPT_FIELDS}) for row in rows[:limit]
    ]
    next_cursor = Cursor(items[-1].at, items[-1].id).encode(scope) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


async def clear_failures(connection: Connection, endpoint_id: uuid.UUID) -> None:
    """The endpoint answered: it is not failing (any more)."""
    await connection.execute(_CLEAR_FAILURES, {"endpoint_id": endpoint_id})


async def note_failure(
    connection: Connection, endpoint_id: uuid.UUID, *, now: datetime
) -> datetime | None:
    """An attempt failed: since when the enabled endpoint has been failing (now, if it was
    not); None if it is disabled or gone."""
    failing_since: datetime | None = await connection.fetchval(
        _NOTE_FAILURE, {"endpoint_id": endpoint_id, "now": now}
    )
    return failing_since


async def disable_endpoint(
    connection: Connection, endpoint_id: uuid.UUID, reason: str, *, now: datetime
) -> bool:
    """Disable the endpoint, saying why; False if it was disabled already."""
    disabled = await connection.fetchval(
        _DISABLE, {"endpoint_id": endpoint_id, "reason": reason, "now": now}
    )
    return disabled is not None
