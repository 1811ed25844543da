"""`/webhooks`: admins register the endpoints that receive events, and see how their
deliveries went. Each handler parses, calls one use case and shapes its answer."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response

from order_service.api.dependencies import State
from order_service.schemas import (
    WebhookAttemptOut,
    WebhookAttemptPage,
    WebhookEndpointChange,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointList,
    WebhookEndpointOut,
    WebhookSecretOut,
)
from order_service.webhooks import (
    change_endpoint,
    get_endpoint,
    list_attempts,
    list_endpoints,
    register_endpoint,
    remove_endpoint,
    rotate_secret,
)
from shared.identity import require_admin
from shared.pagination import CursorParam, Limit

# Every operation here is an admin's.
router = APIRouter(
    prefix="/webhooks",
    tags=["webhooks"],
    dependencies=[Depends(require_admin)],
    responses={403: {"description": "Not an admin"}},
)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such endpoint"}}
_BAD_URL: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid, or a URL webhooks may not go to (not public, credentials)"}
}


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointCreated,
    summary="Register an endpoint; its signing secret is in this answer only",
    responses=_BAD_URL,
)
async def create_endpoint(
    body: WebhookEndpointIn, state: State, response: Response
) -> WebhookEndpointCreated:
    endpoint = await register_endpoint(
        state["store"],
        state["address_policy"],
        url=body.url,
        event_types=body.event_types,
        description=body.description,
    )
    response.headers["Location"] = f"/webhooks/{endpoint.id}"
    return WebhookEndpointCreated.model_validate(endpoint)


@router.get("", response_model=WebhookEndpointList, summary="Every endpoint, oldest first")
async def browse_endpoints(state: State) -> WebhookEndpointList:
    endpoints = await list_endpoints(state["store"])
    return WebhookEndpointList(
        items=[WebhookEndpointOut.model_validate(endpoint) for endpoint in endpoints]
    )


@router.get(
    "/{endpoint_id}",
    response_model=WebhookEndpointOut,
    summary="One endpoint",
    responses=_NOT_FOUND,
)
async def show_endpoint(endpoint_id: uuid.UUID, state: State) -> WebhookEndpointOut:
    return WebhookEndpointOut.model_validate(await get_endpoint(state["store"], endpoint_id))


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookEndpointOut,
    summary="Change an endpoint, or disable or enable it",
    responses={**_NOT_FOUND, **_BAD_URL},
)
async def update_endpoint(
    endpoint_id: uuid.UUID,
    body: WebhookEndpointChange,
    state: State,
) -> WebhookEndpointOut:
    endpoint = await change_endpoint(
        state["store"], state["address_policy"], endpoint_id, body.changes()
    )
    return WebhookEndpointOut.model_validate(endpoint)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    summary="Delete an endpoint, with what it still had to receive",
    responses=_NOT_FOUND,
)
async def delete_endpoint(endpoint_id: uuid.UUID, state: State) -> Response:
    await remove_endpoint(state["store"], endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookSecretOut,
    summary="A new signing secret; the previous one keeps signing beside it for 24 hours",
    responses=_NOT_FOUND,
)
async def rotate_endpoint_secret(endpoint_id: uuid.UUID, state: State) -> WebhookSecretOut:
    return WebhookSecretOut(secret=await rotate_secret(state["store"], endpoint_id))


@router.get(
    "/{endpoint_id}/attempts",
    response_model=WebhookAttemptPage,
    summary="The endpoint's delivery attempts, newest first",
    responses=_NOT_FOUND,
)
async def browse_attempts(
    endpoint_id: uuid.UUID, state: State, limit: Limit = 20, cursor: CursorParam = None
) -> WebhookAttemptPage:
    page = await list_attempts(state["store"], endpoint_id, limit=limit, cursor=cursor)
    return WebhookAttemptPage(
        items=[WebhookAttemptOut.model_validate(attempt) for attempt in page.items],
        next_cursor=page.next_cursor,
    )
