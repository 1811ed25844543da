"""Webhook endpoints, as admins manage them: registered with their own signing secret (shown
once), changed, disabled and enabled again, rotated with an overlap, deleted; and the log of
their delivery attempts. Deliveries themselves are the relay's (`order_service/relay/`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta

from order_service.errors import WebhookEndpointNotFound
from order_service.records import AttemptRecord, EndpointRecord, EventType
from order_service.signatures import new_secret
from order_service.store import Store
from order_service.store.deliveries import give_up_pending
from order_service.store.webhooks import (
    delete_endpoint,
    insert_endpoint,
    read_attempts_page,
    read_endpoint,
    read_endpoints,
    update_endpoint,
)
from order_service.webhook_addresses import AddressPolicy
from shared.database import utc_now
from shared.identifiers import uuid7
from shared.pagination import Page

# How long a rotated secret keeps signing beside its successor: receivers switch meanwhile.
SECRET_OVERLAP = timedelta(hours=24)
DISABLED_BY_ADMIN = "Disabled by an admin."


async def register_endpoint(
    store: Store,
    policy: AddressPolicy,
    *,
    url: str,
    event_types: Sequence[EventType],
    description: str,
) -> EndpointRecord:
    """A new endpoint with a new secret; raises `DisallowedWebhookUrl`."""
    await policy.check(url)
    now = utc_now()
    endpoint = EndpointRecord(
        id=uuid7(),
        url=url,
        event_types=list(event_types),
        description=description,
        secret=new_secret(),
        previous_secret=None,
        previous_secret_expires_at=None,
        enabled=True,
        disabled_reason=None,
        failing_since=None,
        created_at=now,
        updated_at=now,
    )
    async with store.writing() as connection:
        await insert_endpoint(connection, endpoint)
    return endpoint


async def list_endpoints(store: Store) -> list[EndpointRecord]:
    async with store.reading() as connection:
        return await read_endpoints(connection)


async def get_endpoint(store: Store, endpoint_id: uuid.UUID) -> EndpointRecord:
    async with store.reading() as connection:
        endpoint = await read_endpoint(connection, endpoint_id)
    if endpoint is None:
        raise WebhookEndpointNotFound(endpoint_id)
    return endpoint


async def change_endpoint(
    store: Store, policy: AddressPolicy, endpoint_id: uuid.UUID, changes: Mapping[str, object]
) -> EndpointRecord:
    """Set any of `url`, `event_types`, `description` and `enabled`. Enabling clears why it
    was disabled (and its failures: it starts afresh); an admin disabling it is the reason,
    and gives up the deliveries still pending for it."""
    if "url" in changes:
        await policy.check(str(changes["url"]))
    columns = dict(changes)
    if changes.get("enabled") is True:
        columns |= {"disabled_reason": None, "failing_since": None}
    elif changes.get("enabled") is False:
        columns["disabled_reason"] = DISABLED_BY_ADMIN
    async with store.writing() as connection:
        now = utc_now()
        endpoint = await update_endpoint(connection, endpoint_id, columns, now=now)
        if endpoint is None:
            raise WebhookEndpointNotFound(endpoint_id)
        if changes.get("enabled") is False:
            # As when the relay disables it: what it still had to receive is given up.
            await give_up_pending(connection, endpoint_id, now=now)
    return endpoint


async def remove_endpoint(store: Store, endpoint_id: uuid.UUID) -> None:
    """Delete the endpoint, with its pending deliveries and its attempts."""
    async with store.writing() as connection:
        if not await delete_endpoint(connection, endpoint_id):
            raise WebhookEndpointNotFound(endpoint_id)


async def rotate_secret(store: Store, endpoint_id: uuid.UUID) -> str:
    """A new secret for the endpoint; the one it replaces keeps signing beside it for
    `SECRET_OVERLAP` (one rotated earlier than that stops now)."""
    secret = new_secret()
    async with store.writing() as connection:
        endpoint = await read_endpoint(connection, endpoint_id, for_update=True)
        if endpoint is None:
            raise WebhookEndpointNotFound(endpoint_id)
        now = utc_now()
        rotated = {
            "secret": secret,
            "previous_secret": endpoint.secret,
            "previous_secret_expires_at": now + SECRET_OVERLAP,
        }
        await update_endpoint(connection, endpoint_id, rotated, now=now)
    return secret


def attempts_scope(endpoint_id: uuid.UUID) -> str:
    return f"webhook-attempts|{endpoint_id}"


async def list_attempts(
    store: Store, endpoint_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Page[AttemptRecord]:
    """The endpoint's delivery attempts, newest first."""
    async with store.reading() as connection:
        if await read_endpoint(connection, endpoint_id) is None:
            raise WebhookEndpointNotFound(endpoint_id)
        return await read_attempts_page(
            connection, endpoint_id, limit=limit, after=cursor, scope=attempts_scope(endpoint_id)
        )
