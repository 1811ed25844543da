"""`Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field"): a retried request
gets the first one's response instead of doing the work twice.

A key is claimed by inserting its row, with the id of the order about to be placed, in the
same transaction that places it, so the database settles every race, across replicas too: a
concurrent duplicate waits on the claim until the first commits (then replays its response)
or rolls back (then does the work itself). A request that fails leaves no key behind, so its
retry runs afresh. A keyed order costs that one statement more than an unkeyed one: the key
keeps no response, a replay renders the order as it was placed from its `order.placed` event.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from order_service.documents import OrderDocument
from order_service.errors import IdempotencyKeyReused
from order_service.orders import place
from order_service.records import Requested
from order_service.store import Connection, Store
from order_service.store.idempotency_keys import (
    StoredKey,
    StoredResponse,
    claim_key,
    delete_expired_keys,
    read_key,
)
from order_service.store.orders import read_order
from shared.batched_delete import DATABASE_SHARE, Deleted, delete_in_batches
from shared.database import utc_now
from shared.identifiers import uuid7


def order_fingerprint(requested: Sequence[Requested]) -> str:
    """What a key is bound to: placing an order of these lines (the request's JSON content,
    so formatting and key order do not matter). The canonical form is the one keys were
    always stored with: `["POST", "/orders", <body>]`."""
    body = {
        "items": [
            {"product_id": str(line.product_id), "quantity": line.quantity} for line in requested
        ]
    }
    canonical = json.dumps(["POST", "/orders", body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# A key deleted by the clean-up between our claim and our read is simply claimed again.
_CLAIM_ATTEMPTS = 3


async def place_order_once(
    store: Store,
    user_id: uuid.UUID,
    requested: Sequence[Requested],
    key: str,
    *,
    ttl: timedelta,
    respond: Callable[[OrderDocument], StoredResponse],
) -> tuple[StoredResponse, bool]:
    """The response for this key: a new order's (as `respond` renders it), or for a retry
    (True) the first request's again, rendered by `respond` from the order as it was placed.

    Raises `IdempotencyKeyReused` when the key came with other lines.
    """
    fingerprint = order_fingerprint(requested)
    async with store.writing() as connection:
        for _ in range(_CLAIM_ATTEMPTS):
            order_id = uuid7()
            if await claim_key(
                connection, user_id, key, fingerprint, order_id, ttl=ttl, now=utc_now()
            ):
                document = await place(connection, user_id, requested, order_id=order_id)
                return respond(document), False
            stored = await read_key(connection, user_id, key)
            if stored is not None:
                if stored.request_fingerprint != fingerprint:
                    raise IdempotencyKeyReused(key)
                return await _replay(connection, stored, respond), True
    raise RuntimeError(f"idempotency key {key!r} could not be claimed or read")


async def _replay(
    connection: Connection, stored: StoredKey, respond: Callable[[OrderDocument], StoredResponse]
) -> StoredResponse:
    """The first response again: the order as it was placed (its `order.placed` event), or
    the response an older key kept whole.

    Keys are meant to expire before their order's event is deleted (the key TTL is shorter
    than the events' retention). Should the event be gone all the same, the retry gets the
    order as it is now, still with 201 and its `Location`: the client learns which order
    its request placed, at its current version, and no second order is placed.
    """
    if stored.placed is not None:
        return respond(OrderDocument.of(stored.placed))
    if stored.order_id is not None:
        order = await read_order(connection, stored.order_id)
        if order is not None:
            return respond(OrderDocument.of(order))
        raise RuntimeError(f"the order {stored.order_id} of an idempotency key is gone")
    if stored.response is None:
        raise RuntimeError("an idempotency key was committed without its order")
    return stored.response


async def forget_expired_keys(
    store: Store, *, batch_size: int, database_share: float = DATABASE_SHARE
) -> Deleted:
    """Forget keys past their time, a batch per transaction (a periodic job's task)."""
    now = utc_now()

    async def delete_batch(limit: int) -> int:
        async with store.writing() as connection:
            return await delete_expired_keys(connection, now=now, limit=limit)

    return await delete_in_batches(
        delete_batch, batch_size=batch_size, database_share=database_share
    )
