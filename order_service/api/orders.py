"""`/orders`: a user places and reads their own orders; an admin reads everyone's."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from order_service.models import Order
from order_service.orders import OrderStatus, get_order, list_orders, place_order
from order_service.schemas import OrderCreate, OrderOut, OrderPage
from order_service.stock import Requested
from shared.database import DatabaseSession
from shared.identity import CurrentIdentity
from shared.pagination import CursorParam, Limit

router = APIRouter(prefix="/orders", tags=["orders"])


def _etag(order: Order) -> str:
    return f'"{order.version}"'


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    summary="Place an order",
    responses={409: {"description": "Out of stock; nothing was reserved"}},
)
async def create_order(
    body: OrderCreate, session: DatabaseSession, identity: CurrentIdentity, response: Response
) -> OrderOut:
    requested = [Requested(item.product_id, item.quantity) for item in body.items]
    async with session.begin():
        order = await place_order(session, identity.user_id, requested)
    response.headers["Location"] = f"/orders/{order.id}"
    response.headers["ETag"] = _etag(order)
    return OrderOut.model_validate(order)


@router.get("", response_model=OrderPage, summary="List orders, newest first")
async def browse_orders(
    session: DatabaseSession,
    identity: CurrentIdentity,
    status: OrderStatus | None = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Admins only: one user's.")] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> OrderPage:
    page = await list_orders(
        session, identity, status=status, user_id=user_id, limit=limit, cursor=cursor
    )
    return OrderPage(
        items=[OrderOut.model_validate(order) for order in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    summary="One order",
    responses={404: {"description": "No such order, or not yours"}},
)
async def show_order(
    order_id: uuid.UUID, session: DatabaseSession, identity: CurrentIdentity, response: Response
) -> OrderOut:
    order = await get_order(session, order_id, identity)
    response.headers["ETag"] = _etag(order)
    return OrderOut.model_validate(order)
