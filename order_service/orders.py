"""Orders: placing them (with their stock), and who may see which."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from order_service.models import Order, OrderLine
from order_service.money import to_money
from order_service.stock import Requested, reserve_stock
from shared.pagination import Page, newest_first_page, page_of
from shared.tokens import Identity


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class OrderNotFound(Exception):
    """No such order, or not one this identity may see: the two are indistinguishable."""


async def place_order(
    session: AsyncSession, user_id: uuid.UUID, requested: Sequence[Requested]
) -> Order:
    """Reserve the stock and record the order with its prices as they are now."""
    reserved = await reserve_stock(session, requested)
    lines = [
        OrderLine(
            position=position,
            product_id=line.product_id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            unit_price=line.unit_price,
            line_total=to_money(line.unit_price * line.quantity),
        )
        for position, line in enumerate(reserved)
    ]
    order = Order(
        user_id=user_id,
        status=OrderStatus.PENDING,
        total=sum((line.line_total for line in lines), start=Decimal("0.00")),
        lines=lines,
    )
    session.add(order)
    await session.flush()
    return order


async def get_order(session: AsyncSession, order_id: uuid.UUID, viewer: Identity) -> Order:
    statement = select(Order).where(Order.id == order_id).options(selectinload(Order.lines))
    if not viewer.is_admin:
        statement = statement.where(Order.user_id == viewer.user_id)
    order = await session.scalar(statement)
    if order is None:
        raise OrderNotFound(order_id)
    return order


async def list_orders(
    session: AsyncSession,
    viewer: Identity,
    *,
    status: OrderStatus | None,
    user_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Order]:
    """Newest first; a user sees their own orders, an admin everyone's (or one user's)."""
    statement = select(Order).options(selectinload(Order.lines))
    owner = viewer.user_id if not viewer.is_admin else user_id
    if owner is not None:
        statement = statement.where(Order.user_id == owner)
    if status is not None:
        statement = statement.where(Order.status == status)
    statement = newest_first_page(statement, Order.created_at, Order.id, limit=limit, after=cursor)
    return page_of((await session.scalars(statement)).all(), limit)
