"""Orders: placing them with their stock, changing them, moving them through their life
cycle, and who may see or change which."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import ColumnElement, Select, Uuid, bindparam, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
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
from order_service.money import CURRENCY, to_money
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


@dataclass(frozen=True)
class LineRecord:
    """An order line as stored, without its order and position."""

    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


@dataclass(frozen=True)
class OrderRecord:
    """An order as stored, read or written without the ORM's unit of work (the hot paths:
    placing an order and reading one); the same attributes as an `Order`."""

    id: uuid.UUID
    user_id: uuid.UUID
    status: str
    lines: list[LineRecord]
    total: Decimal
    currency: str
    version: int
    created_at: datetime
    updated_at: datetime


def _lines(
    requested: Sequence[Requested], snapshots: Mapping[uuid.UUID, Snapshot]
) -> list[LineRecord]:
    """Order lines in the client's order, each with its product as it is now."""
    return [
        LineRecord(
            product_id=line.product_id,
            sku=snapshots[line.product_id].sku,
            name=snapshots[line.product_id].name,
            quantity=line.quantity,
            unit_price=snapshots[line.product_id].unit_price,
            line_total=to_money(snapshots[line.product_id].unit_price * line.quantity),
        )
        for line in requested
    ]


def _total(lines: Sequence[LineRecord | OrderLine]) -> Decimal:
    return sum((line.line_total for line in lines), start=Decimal("0.00"))


def _line_row(order_id: uuid.UUID, position: int, line: LineRecord) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "position": position,
        "product_id": line.product_id,
        "sku": line.sku,
        "name": line.name,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "line_total": line.line_total,
    }


_INSERT_ORDER = insert(Order)
_INSERT_LINES = insert(OrderLine)


async def place_order(
    connection: AsyncConnection, user_id: uuid.UUID, requested: Sequence[Requested]
) -> OrderRecord:
    """Reserve the stock and record the order with its prices as they are now.

    Three statements in the caller's transaction: one per product, one for the order, one for
    all its lines.
    """
    snapshots = await reserve_stock(connection, requested)
    lines = _lines(requested, snapshots)
    now = utc_now()
    order = OrderRecord(
        id=uuid.uuid4(),
        user_id=user_id,
        status=OrderStatus.PENDING,
        lines=lines,
        total=_total(lines),
        currency=CURRENCY,
        version=1,
        created_at=now,
        updated_at=now,
    )
    # Rows spelled out: `dataclasses.asdict` deep-copies, which costs more than the insert.
    order_row = {
        "id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "version": order.version,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    await connection.execute(_INSERT_ORDER, [order_row])
    line_rows = [_line_row(order.id, position, line) for position, line in enumerate(lines)]
    await connection.execute(_INSERT_LINES, line_rows)
    return order


def _visible_to(viewer: Identity) -> list[ColumnElement[bool]]:
    return [] if viewer.is_admin else [Order.user_id == viewer.user_id]


_ORDER_COLUMNS = (
    Order.user_id,
    Order.status,
    Order.total,
    Order.currency,
    Order.version,
    Order.created_at,
    Order.updated_at,
)
_LINE_COLUMNS = (
    OrderLine.product_id,
    OrderLine.sku,
    OrderLine.name,
    OrderLine.quantity,
    OrderLine.unit_price,
    OrderLine.line_total,
)

_ORDER_WITH_LINES = (
    select(*_ORDER_COLUMNS, *_LINE_COLUMNS)
    .outerjoin(OrderLine, OrderLine.order_id == Order.id)
    .where(Order.id == bindparam("order_id", type_=Uuid))
    .order_by(OrderLine.position)
)


def _order_record(order_id: uuid.UUID, rows: Sequence[Row[*tuple[Any, ...]]]) -> OrderRecord:
    """An order from its rows joined with its lines (one row per line, in line order)."""
    first = rows[0]
    lines = [
        LineRecord(
            product_id=row.product_id,
            sku=row.sku,
            name=row.name,
            quantity=row.quantity,
            unit_price=row.unit_price,
            line_total=row.line_total,
        )
        for row in rows
        if row.product_id is not None
    ]
    return OrderRecord(
        id=order_id,
        user_id=first.user_id,
        status=first.status,
        lines=lines,
        total=first.total,
        currency=first.currency,
        version=first.version,
        created_at=first.created_at,
        updated_at=first.updated_at,
    )


async def get_order(
    connection: AsyncConnection, order_id: uuid.UUID, viewer: Identity
) -> OrderRecord:
    """The order with its lines, in one statement (a consistent snapshot without a
    transaction); raises `OrderNotFound` unless `viewer` may see it."""
    rows = (await connection.execute(_ORDER_WITH_LINES, {"order_id": order_id})).all()
    if not rows or not (viewer.is_admin or rows[0].user_id == viewer.user_id):
        raise OrderNotFound(order_id)
    return _order_record(order_id, rows)


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
    connection = await session.connection()
    await ensure_products_exist(connection, [line.product_id for line in requested])
    difference: Counter[uuid.UUID] = Counter()
    for new in requested:
        difference[new.product_id] += new.quantity
    for old in order.lines:
        difference[old.product_id] -= old.quantity
    snapshots = await change_stock(connection, difference)
    order.lines.clear()
    await session.flush()  # the old lines go before new ones take their positions
    order.lines.extend(
        OrderLine(**_line_row(order.id, position, line))
        for position, line in enumerate(_lines(requested, snapshots))
    )
    order.total = _total(order.lines)
    # Set even when the total stays: the order row must be updated, for its version.
    order.updated_at = utc_now()
    await session.flush()
    return order


async def take_action(session: AsyncSession, order: Order, action: Action) -> Order:
    """Move the order on (cancelling gives its units back); raises `InvalidTransition`."""
    order.status = next_status(OrderStatus(order.status), action)
    if releases_stock(action):
        returned = {line.product_id: -line.quantity for line in order.lines}
        await change_stock(await session.connection(), returned)
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

    One statement, so that each order and its lines are one snapshot: the page of orders
    (served by the indexes on (user_id, created_at, id), (created_at, id) and
    (status, created_at, id), without a sort), joined with their lines. Two statements
    under READ COMMITTED would each see their own snapshot, and an order changed between
    them would come back with another state's lines. Returns the query and its cursor scope.
    """
    page = select(Order.id, *_ORDER_COLUMNS).where(*_visible_to(viewer))
    if user_id is not None:
        page = page.where(Order.user_id == user_id)
    if status is not None:
        page = page.where(Order.status == status)
    scope = _listing_scope(viewer, user_id, status)
    orders = newest_first_page(
        page, Order.created_at, Order.id, limit=limit, after=cursor, scope=scope
    ).subquery("page")
    query = (
        select(orders, *_LINE_COLUMNS)
        .outerjoin(OrderLine, OrderLine.order_id == orders.c.id)
        .order_by(orders.c.created_at.desc(), orders.c.id.desc(), OrderLine.position)
    )
    return query, scope


async def list_orders(
    connection: AsyncConnection,
    viewer: Identity,
    *,
    status: OrderStatus | None,
    user_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[OrderRecord]:
    """A page of orders with their lines, in one statement whatever the page size."""
    statement, scope = orders_page_query(
        viewer, status=status, user_id=user_id, limit=limit, cursor=cursor
    )
    rows = (await connection.execute(statement)).all()
    orders = [
        _order_record(order_id, list(order_rows))
        for order_id, order_rows in groupby(rows, key=lambda row: row.id)
    ]
    return page_of(orders, limit, scope)
