"""Orders: placing them with their stock, changing them, moving them through their life
cycle, and who may see or change which."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from order_service.lifecycle import (
    Action,
    Actor,
    OrderStatus,
    ensure_allowed,
    ensure_modifiable,
    next_status,
    releases_stock,
)
from order_service.models import Order, OrderLine
from order_service.money import to_money
from order_service.stock import (
    Requested,
    Snapshot,
    change_stock,
    ensure_products_exist,
    reserve_stock,
)
from shared.database import utc_now
from shared.pagination import Page, newest_first_page, page_of
from shared.tokens import Identity


class OrderNotFound(Exception):
    """No such order, or not one this identity may see: the two are indistinguishable."""


def _lines(
    requested: Sequence[Requested], snapshots: Mapping[uuid.UUID, Snapshot]
) -> list[OrderLine]:
    """Order lines in the client's order, each with its product as it is now."""
    return [
        OrderLine(
            position=position,
            product_id=line.product_id,
            sku=snapshots[line.product_id].sku,
            name=snapshots[line.product_id].name,
            quantity=line.quantity,
            unit_price=snapshots[line.product_id].unit_price,
            line_total=to_money(snapshots[line.product_id].unit_price * line.quantity),
        )
        for position, line in enumerate(requested)
    ]


def _total(lines: Sequence[OrderLine]) -> Decimal:
    return sum((line.line_total for line in lines), start=Decimal("0.00"))


async def place_order(
    session: AsyncSession, user_id: uuid.UUID, requested: Sequence[Requested]
) -> Order:
    """Reserve the stock and record the order with its prices as they are now."""
    snapshots = await reserve_stock(session, requested)
    lines = _lines(requested, snapshots)
    order = Order(user_id=user_id, status=OrderStatus.PENDING, total=_total(lines), lines=lines)
    session.add(order)
    await session.flush()
    return order


def _visible_to(viewer: Identity) -> list[ColumnElement[bool]]:
    return [] if viewer.is_admin else [Order.user_id == viewer.user_id]


async def get_order(session: AsyncSession, order_id: uuid.UUID, viewer: Identity) -> Order:
    statement = (
        select(Order)
        .where(Order.id == order_id, *_visible_to(viewer))
        .options(selectinload(Order.lines))
    )
    order = await session.scalar(statement)
    if order is None:
        raise OrderNotFound(order_id)
    return order


async def find_order_to_change(
    session: AsyncSession, order_id: uuid.UUID, viewer: Identity, action: Action | None = None
) -> Order:
    """The order, locked until the transaction ends, so that changes to it run one at a time.

    Raises `OrderNotFound` unless `viewer` may see it, and `ActionForbidden` unless they may
    take `action` (changing the lines is open to whoever sees the order).
    """
    statement = (
        select(Order)
        .where(Order.id == order_id, *_visible_to(viewer))
        .options(selectinload(Order.lines))
        .with_for_update(of=Order)
    )
    order = await session.scalar(statement)
    if order is None:
        raise OrderNotFound(order_id)
    if action is not None:
        actors = {Actor.ADMIN} if viewer.is_admin else set()
        if order.user_id == viewer.user_id:
            actors.add(Actor.OWNER)
        ensure_allowed(action, actors)
    return order


async def replace_lines(
    session: AsyncSession, order: Order, requested: Sequence[Requested]
) -> Order:
    """Give the order new lines, moving stock by the difference, at today's prices."""
    ensure_modifiable(OrderStatus(order.status))
    await ensure_products_exist(session, [line.product_id for line in requested])
    difference: Counter[uuid.UUID] = Counter()
    for new in requested:
        difference[new.product_id] += new.quantity
    for old in order.lines:
        difference[old.product_id] -= old.quantity
    snapshots = await change_stock(session, difference)
    order.lines.clear()
    await session.flush()  # the old lines go before new ones take their positions
    order.lines.extend(_lines(requested, snapshots))
    order.total = _total(order.lines)
    # Set even when the total stays: the order row must be updated, for its version.
    order.updated_at = utc_now()
    await session.flush()
    return order


async def take_action(session: AsyncSession, order: Order, action: Action) -> Order:
    """Move the order on (cancelling gives its units back); raises `InvalidTransition`."""
    order.status = next_status(OrderStatus(order.status), action)
    if releases_stock(action):
        await change_stock(session, {line.product_id: -line.quantity for line in order.lines})
    await session.flush()
    return order


def _listing_scope(viewer: Identity, user_id: uuid.UUID | None, status: OrderStatus | None) -> str:
    """Which listing a cursor belongs to: who looks, at whose orders, in which status."""
    seen_by = "*" if viewer.is_admin else viewer.user_id
    return f"orders|{seen_by}|{user_id or '*'}|{status or '*'}"


def orders_page_query(
    viewer: Identity,
    *,
    status: OrderStatus | None,
    user_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[Select[Any], str]:
    """Newest first; a user sees their own orders, an admin everyone's. The filters narrow
    what the viewer may see: a user asking for another user's orders gets none.

    Served by the indexes on (user_id, created_at, id), (created_at, id) and
    (status, created_at, id), without a sort. Returns the query and its cursor scope.
    """
    statement = select(Order).where(*_visible_to(viewer)).options(selectinload(Order.lines))
    if user_id is not None:
        statement = statement.where(Order.user_id == user_id)
    if status is not None:
        statement = statement.where(Order.status == status)
    scope = _listing_scope(viewer, user_id, status)
    query = newest_first_page(
        statement, Order.created_at, Order.id, limit=limit, after=cursor, scope=scope
    )
    return query, scope


async def list_orders(
    session: AsyncSession,
    viewer: Identity,
    *,
    status: OrderStatus | None,
    user_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Order]:
    """A page of orders with their lines: two queries, whatever the page size."""
    statement, scope = orders_page_query(
        viewer, status=status, user_id=user_id, limit=limit, cursor=cursor
    )
    return page_of((await session.scalars(statement)).all(), limit, scope)
