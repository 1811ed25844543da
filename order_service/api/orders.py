"""`/orders`: users place, change, pay and cancel their own orders; admins see everyone's
and ship and deliver them. Each handler parses, calls one use case and shapes its answer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from order_service.api.dependencies import State
from order_service.documents import OrderDocument
from order_service.idempotency import place_order_once
from order_service.lifecycle import ALLOWED_ACTORS, Action, Actor, OrderStatus
from order_service.orders import (
    Versions,
    act_on_order,
    change_order,
    get_order,
    list_orders,
    place_order,
)
from order_service.schemas import OrderLinesIn, OrderOut, OrderPage
from order_service.store.idempotency_keys import StoredResponse
from shared.identity import CurrentIdentity
from shared.openapi_responses import problems, sends
from shared.pagination import CursorParam, Limit
from shared.preconditions import if_match_tags
from shared.problem_types import (
    FORBIDDEN,
    IDEMPOTENCY_KEY_REUSED,
    INVALID_TRANSITION,
    ORDER_NOT_MODIFIABLE,
    OUT_OF_STOCK,
)

router = APIRouter(prefix="/orders", tags=["orders"])

IfMatch = Annotated[
    str | None,
    Header(
        description="Change only if the order is still at this version: `*` (any version), or "
        'its `ETag`, or a comma-separated list of them (RFC 9110 §13.1.1: `"3"`; a weak `W/"3"` '
        "never matches). A value that names no current version gets 412, as a stale one does.",
        examples=['"1"'],
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        # The draft's sf-string ("…", no quote or backslash inside), or the same unquoted.
        pattern=r'^(?:[\x21\x23-\x5b\x5d-\x7e]{1,255}|"[\x20\x21\x23-\x5b\x5d-\x7e]{1,255}")$',
        description="Retrying with the same key and body replays the first response.",
        examples=['"8e03978e-40d5-43e8-bc93-6894a57f9324"'],
    ),
]
# Orders are personal: no cache may keep an answer about one. (Error answers are problems,
# which no cache keeps either.)
_NOT_STORED = {"Cache-Control": "no-store"}


def _etag(order: OrderDocument) -> str:
    return f'"{order.version}"'


def _versions(if_match: str | None) -> Versions:
    """The order versions an `If-Match` allows (an order's ETag is its quoted version)."""
    tags = if_match_tags(if_match)
    if tags is None:
        return None
    return frozenset(int(tag[1:-1]) for tag in tags if tag[1:-1].isdigit() and tag[0] == '"')


def _order_json(order: OrderDocument) -> Response:
    """The order's document as it was rendered (FastAPI's `response_model` path would
    validate it a second time); `response_model` still documents it."""
    return Response(
        order.json, headers={"ETag": _etag(order), **_NOT_STORED}, media_type="application/json"
    )


def _created(order: OrderDocument) -> StoredResponse:
    """A placed order's answer; a replay renders the same from the order as it was placed,
    so the two are the same bytes."""
    return StoredResponse(
        status_code=201,
        headers={"Location": f"/orders/{order.id}", "ETag": _etag(order)},
        body=order.json,
    )


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    summary="Place an order",
    responses={
        201: sends("Location", "ETag", "Idempotent-Replayed", "Cache-Control"),
        **problems(OUT_OF_STOCK, IDEMPOTENCY_KEY_REUSED),
    },
)
async def create_order(
    body: OrderLinesIn,
    state: State,
    identity: CurrentIdentity,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    if idempotency_key is None:
        created = _created(await place_order(state["store"], identity.user_id, body.requested()))
        is_replay = False
    else:
        ttl = timedelta(seconds=state["settings"].idempotency_key_ttl_seconds)
        created, is_replay = await place_order_once(
            state["store"],
            identity.user_id,
            body.requested(),
            idempotency_key.strip('"'),
            ttl=ttl,
            respond=_created,
        )
    if not is_replay:
        state["order_metrics"].orders_created.inc()
    # Added to every answer, not remembered with it: replays of older records carry it too.
    headers = {
        **created.headers,
        **_NOT_STORED,
        **({"Idempotent-Replayed": "true"} if is_replay else {}),
    }
    return Response(
        created.body, created.status_code, headers=headers, media_type="application/json"
    )


@router.get(
    "",
    response_model=OrderPage,
    summary="List orders, newest first",
    responses={200: sends("Cache-Control")},
)
async def browse_orders(
    state: State,
    identity: CurrentIdentity,
    response: Response,
    status: OrderStatus | None = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Admins only: one user's.")] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> OrderPage:
    page = await list_orders(
        state["store"], identity, status=status, user_id=user_id, limit=limit, cursor=cursor
    )
    response.headers.update(_NOT_STORED)
    return OrderPage(
        items=[OrderOut.model_validate(order) for order in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    summary="One order",
    responses={200: sends("ETag", "Cache-Control")},
)
async def show_order(order_id: uuid.UUID, state: State, identity: CurrentIdentity) -> Response:
    return _order_json(OrderDocument.of(await get_order(state["store"], order_id, identity)))


@router.patch(
    "/{order_id}",
    response_model=OrderOut,
    summary="Replace a pending order's lines (stock is re-reserved)",
    responses={
        200: sends("ETag", "Cache-Control"),
        **problems(OUT_OF_STOCK, ORDER_NOT_MODIFIABLE),
    },
)
async def change_lines(
    order_id: uuid.UUID,
    body: OrderLinesIn,
    state: State,
    identity: CurrentIdentity,
    if_match: IfMatch = None,
) -> Response:
    order = await change_order(
        state["store"], order_id, identity, body.requested(), versions=_versions(if_match)
    )
    return _order_json(order)


def _add_action_route(action: Action, summary: str, who: str) -> None:
    async def act(
        order_id: uuid.UUID,
        state: State,
        identity: CurrentIdentity,
        if_match: IfMatch = None,
    ) -> Response:
        order = await act_on_order(
            state["store"], order_id, identity, action, versions=_versions(if_match)
        )
        state["order_metrics"].order_actions.labels(action).inc()
        return _order_json(order)

    router.add_api_route(
        f"/{{order_id}}/{action}",
        act,
        methods=["POST"],
        name=f"{action}_order",
        response_model=OrderOut,
        summary=f"{summary} ({who})",
        responses={
            200: sends("ETag", "Cache-Control"),
            **problems(FORBIDDEN, INVALID_TRANSITION),
        },
        openapi_extra=(
            {"x-required-role": "admin"} if ALLOWED_ACTORS[action] == {Actor.ADMIN} else None
        ),
    )


_add_action_route(Action.PAY, "Pay a pending order", "owner")
_add_action_route(Action.SHIP, "Ship a paid order", "admin")
_add_action_route(Action.DELIVER, "Mark a shipped order delivered", "admin")
_add_action_route(
    Action.CANCEL, "Cancel a pending or paid order, restoring its stock", "owner or admin"
)
