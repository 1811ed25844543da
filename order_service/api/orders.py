"""`/orders`: users place, change, pay and cancel their own orders; admins see everyone's
and ship and deliver them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from order_service.config import OrdersSettings
from order_service.idempotency import StoredResponse, claim, fingerprint, remember
from order_service.lifecycle import Action, OrderStatus
from order_service.metrics import OrderMetrics
from order_service.models import Order
from order_service.orders import (
    OrderRecord,
    find_order_to_change,
    get_order,
    list_orders,
    place_order,
    replace_lines,
    take_action,
)
from order_service.schemas import OrderLinesIn, OrderOut, OrderPage
from shared.database import DatabaseEngine, DatabaseSession, ReadEngine, utc_now
from shared.identity import CurrentIdentity
from shared.pagination import CursorParam, Limit
from shared.preconditions import require_if_match
from shared.tokens import Identity

router = APIRouter(prefix="/orders", tags=["orders"])

IfMatch = Annotated[
    str | None, Header(description="Change only if the order's ETag is still this one.")
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such order, or not yours"}}
_STALE: dict[int | str, dict[str, Any]] = {412: {"description": "`If-Match` is stale"}}
# Orders are personal: no cache may keep an answer about one. (Error answers are problems,
# which no cache keeps either.)
_NOT_STORED = {"Cache-Control": "no-store"}


def _etag(order: Order | OrderRecord) -> str:
    return f'"{order.version}"'


def _order_response(order: Order, response: Response) -> OrderOut:
    response.headers.update({"ETag": _etag(order), **_NOT_STORED})
    return OrderOut.model_validate(order)


def _order_json(order: OrderRecord) -> Response:
    """The order as its JSON, validated and serialised once (FastAPI's `response_model`
    path would validate it a second time); `response_model` still documents it."""
    return Response(
        OrderOut.model_validate(order).model_dump_json(),
        headers={"ETag": _etag(order), **_NOT_STORED},
        media_type="application/json",
    )


# Dependencies are `async def`: FastAPI runs a plain `def` one in a worker thread.
async def _settings(request: Request) -> OrdersSettings:
    settings: OrdersSettings = request.app.state.settings
    return settings


async def _order_metrics(request: Request) -> OrderMetrics:
    metrics: OrderMetrics = request.app.state.order_metrics
    return metrics


Settings = Annotated[OrdersSettings, Depends(_settings)]
Metrics = Annotated[OrderMetrics, Depends(_order_metrics)]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        # The draft's sf-string ("…", no quote or backslash inside), or the same unquoted.
        pattern=r'^(?:[\x21\x23-\x5b\x5d-\x7e]{1,255}|"[\x20\x21\x23-\x5b\x5d-\x7e]{1,255}")$',
        description="Retrying with the same key and body replays the first response.",
    ),
]


def _unquoted(key: str) -> str:
    return key[1:-1] if key.startswith('"') else key


def _created(order: OrderRecord) -> StoredResponse:
    return StoredResponse(
        status_code=201,
        headers={"Location": f"/orders/{order.id}", "ETag": _etag(order)},
        body=OrderOut.model_validate(order).model_dump_json(),
    )


async def _place_order_once(
    engine: AsyncEngine,
    identity: Identity,
    body: OrderLinesIn,
    key: str,
    settings: OrdersSettings,
) -> tuple[StoredResponse, bool]:
    """The response for this key: a new order's, or the stored one (True) for a retry."""
    request_fingerprint = fingerprint("POST", "/orders", body.model_dump(mode="json"))
    async with engine.begin() as connection:
        stored = await claim(
            connection,
            identity.user_id,
            key,
            request_fingerprint,
            ttl=timedelta(seconds=settings.idempotency_key_ttl_seconds),
            now=utc_now(),
        )
        if stored is not None:
            return stored, True
        created = _created(await place_order(connection, identity.user_id, body.requested()))
        await remember(connection, identity.user_id, key, created)
    return created, False


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    summary="Place an order",
    responses={
        409: {"description": "Out of stock; nothing was reserved"},
        422: {"description": "Invalid, or an `Idempotency-Key` reused with another body"},
    },
)
async def create_order(
    body: OrderLinesIn,
    engine: DatabaseEngine,
    identity: CurrentIdentity,
    settings: Settings,
    metrics: Metrics,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    if idempotency_key is None:
        async with engine.begin() as connection:
            order = await place_order(connection, identity.user_id, body.requested())
        created = _created(order)
        is_replay = False
    else:
        created, is_replay = await _place_order_once(
            engine, identity, body, _unquoted(idempotency_key), settings
        )
    if not is_replay:
        metrics.orders_created.inc()
    # Added to every answer, not remembered with it: replays of older records carry it too.
    headers = {
        **created.headers,
        **_NOT_STORED,
        **({"Idempotent-Replayed": "true"} if is_replay else {}),
    }
    return Response(
        created.body, created.status_code, headers=headers, media_type="application/json"
    )


@router.get("", response_model=OrderPage, summary="List orders, newest first")
async def browse_orders(
    session: DatabaseSession,
    identity: CurrentIdentity,
    response: Response,
    status: OrderStatus | None = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Admins only: one user's.")] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> OrderPage:
    page = await list_orders(
        session, identity, status=status, user_id=user_id, limit=limit, cursor=cursor
    )
    response.headers.update(_NOT_STORED)
    return OrderPage(
        items=[OrderOut.model_validate(order) for order in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{order_id}", response_model=OrderOut, summary="One order", responses=_NOT_FOUND)
async def show_order(
    order_id: uuid.UUID, engine: ReadEngine, identity: CurrentIdentity
) -> Response:
    async with engine.connect() as connection:
        order = await get_order(connection, order_id, identity)
    return _order_json(order)


@router.patch(
    "/{order_id}",
    response_model=OrderOut,
    summary="Replace a pending order's lines (stock is re-reserved)",
    responses={
        **_NOT_FOUND,
        **_STALE,
        409: {"description": "Not pending any more, or out of stock"},
    },
)
async def change_order(
    order_id: uuid.UUID,
    body: OrderLinesIn,
    session: DatabaseSession,
    identity: CurrentIdentity,
    response: Response,
    if_match: IfMatch = None,
) -> OrderOut:
    async with session.begin():
        order = await find_order_to_change(session, order_id, identity)
        require_if_match(if_match, _etag(order))
        await replace_lines(session, order, body.requested())
    return _order_response(order, response)


def _add_action_route(action: Action, summary: str, who: str) -> None:
    async def act(
        order_id: uuid.UUID,
        session: DatabaseSession,
        identity: CurrentIdentity,
        response: Response,
        metrics: Metrics,
        if_match: IfMatch = None,
    ) -> OrderOut:
        async with session.begin():
            order = await find_order_to_change(session, order_id, identity, action)
            require_if_match(if_match, _etag(order))
            await take_action(session, order, action)
        metrics.order_actions.labels(action).inc()
        return _order_response(order, response)

    router.add_api_route(
        f"/{{order_id}}/{action}",
        act,
        methods=["POST"],
        name=f"{action}_order",
        response_model=OrderOut,
        summary=f"{summary} ({who})",
        responses={
            **_NOT_FOUND,
            **_STALE,
            403: {"description": f"Only the {who} may"},
            409: {"description": "Not possible in the order's status (`invalid-transition`)"},
        },
    )


_add_action_route(Action.PAY, "Pay a pending order", "owner")
_add_action_route(Action.SHIP, "Ship a paid order", "admin")
_add_action_route(Action.DELIVER, "Mark a shipped order delivered", "admin")
_add_action_route(
    Action.CANCEL, "Cancel a pending or paid order, restoring its stock", "owner or admin"
)
