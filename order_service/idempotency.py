"""`Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field"): a retried request
gets the first one's response instead of doing the work twice.

A key is claimed by inserting its row in the same transaction that does the work, so the
database settles every race, across replicas too: a concurrent duplicate waits on the
claim until the first commits (then replays its response) or rolls back (then does the
work itself). A request that fails leaves no key behind, so its retry runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from order_service.errors import IdempotencyKeyReused
from order_service.orders import place
from order_service.records import OrderRecord, Requested
from order_service.store import Store
from order_service.store.idempotency_keys import (
    StoredResponse,
    claim_key,
    delete_expired_keys,
    read_key,
    store_response,
)
from shared.batched_delete import Deleted, delete_in_batches
from shared.database import utc_now


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
    respond: Callable[[OrderRecord], StoredResponse],
) -> tuple[StoredResponse, bool]:
    """The response for this key: a new order's (as `respond` renders it, remembered with
    the order), or the first request's again (True) for a retry.

    Raises `IdempotencyKeyReused` when the key came with other lines.
    """
    fingerprint = order_fingerprint(requested)
    async with store.writing() as connection:
        for _ in range(_CLAIM_ATTEMPTS):
            if await claim_key(connection, user_id, key, fingerprint, ttl=ttl, now=utc_now()):
                response = respond(await place(connection, user_id, requested))
                await store_response(connection, user_id, key, response)
                return response, False
            stored = await read_key(connection, user_id, key)
            if stored is not None:
                if stored.request_fingerprint != fingerprint:
                    raise IdempotencyKeyReused(key)
                if stored.response is None:
                    raise RuntimeError("an idempotency key was committed without its response")
                return stored.response, True
    raise RuntimeError(f"idempotency key {key!r} could not be claimed or read")


async def forget_expired_keys(store: Store, *, batch_size: int) -> Deleted:
    """Forget keys past their time, a batch per transaction (a periodic job's task)."""
    now = utc_now()

    async def delete_batch(limit: int) -> int:
        async with store.writing() as connection:
            return await delete_expired_keys(connection, now=now, limit=limit)

    return await delete_in_batches(delete_batch, batch_size=batch_size)
