"""Orders and their lines: read (one statement each, so each answer is one snapshot), locked,
inserted and changed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import Integer, Select, Uuid, bindparam, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from order_service.lifecycle import OrderStatus
from order_service.models import Order, OrderLine
from order_service.records import LineRecord, OrderRecord
from shared.pagination import Page, newest_first_page, page_of

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
    select(Order.id, *_ORDER_COLUMNS, *_LINE_COLUMNS)
    .outerjoin(OrderLine, OrderLine.order_id == Order.id)
    .where(Order.id == bindparam("order_id", type_=Uuid))
    .order_by(OrderLine.position)
)
# The same, locked until the transaction ends: changes to one order run one at a time.
_LOCKED_ORDER_WITH_LINES = _ORDER_WITH_LINES.with_for_update(of=Order)


def _order_of(rows: Sequence[Row[*tuple[Any, ...]]]) -> OrderRecord:
    """An order from its rows joined with its lines (one row per line, in line order)."""
    first = rows[0]
    return OrderRecord(
        id=first.id,
        user_id=first.user_id,
        status=OrderStatus(first.status),
        lines=[
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
        ],
        total=first.total,
        currency=first.currency,
        version=first.version,
        created_at=first.created_at,
        updated_at=first.updated_at,
    )


def _orders_of(rows: Sequence[Row[*tuple[Any, ...]]]) -> list[OrderRecord]:
    """Orders from the rows of several, each order's rows together."""
    return [_order_of(list(order_rows)) for _, order_rows in groupby(rows, lambda row: row.id)]


async def read_order(connection: AsyncConnection, order_id: uuid.UUID) -> OrderRecord | None:
    rows = (await connection.execute(_ORDER_WITH_LINES, {"order_id": order_id})).all()
    return _order_of(rows) if rows else None


async def lock_order(connection: AsyncConnection, order_id: uuid.UUID) -> OrderRecord | None:
    """The order, locked until the transaction ends (on SQLite, the transaction holds the
    database's write lock already)."""
    rows = (await connection.execute(_LOCKED_ORDER_WITH_LINES, {"order_id": order_id})).all()
    return _order_of(rows) if rows else None


def orders_page_query(
    *,
    owner: uuid.UUID | None,
    status: OrderStatus | None,
    limit: int,
    after: str | None,
    scope: str,
) -> Select[Any]:
    """A page of orders newest first (`owner`'s only, unless None), joined with their lines.

    One statement, so that each order and its lines are one snapshot: two statements under
    READ COMMITTED would each see their own, and an order changed between them would come
    back with another state's lines. The page itself is served by the indexes on
    (user_id, created_at, id), (created_at, id) and (status, created_at, id) in order.
    """
    page = select(Order.id, *_ORDER_COLUMNS)
    if owner is not None:
        page = page.where(Order.user_id == owner)
    if status is not None:
        page = page.where(Order.status == status)
    orders = newest_first_page(
        page, Order.created_at, Order.id, limit=limit, after=after, scope=scope
    ).subquery("page")
    return (
        select(orders, *_LINE_COLUMNS)
        .outerjoin(OrderLine, OrderLine.order_id == orders.c.id)
        .order_by(orders.c.created_at.desc(), orders.c.id.desc(), OrderLine.position)
    )


async def read_orders_page(
    connection: AsyncConnection,
    *,
    owner: uuid.UUID | None,
    status: OrderStatus | None,
    limit: int,
    after: str | None,
    scope: str,
) -> Page[OrderRecord]:
    statement = orders_page_query(owner=owner, status=status, limit=limit, after=after, scope=scope)
    rows = (await connection.execute(statement)).all()
    return page_of(_orders_of(rows), limit, scope)


_INSERT_ORDER = insert(Order)
_INSERT_LINES = insert(OrderLine)
_DELETE_LINES = delete(OrderLine).where(OrderLine.order_id == bindparam("order_id", type_=Uuid))
# Every change of an order bumps its version (its ETag), from the version it was read at.
_UPDATE_ORDER = (
    update(Order)
    .where(
        Order.id == bindparam("order_id", type_=Uuid),
        Order.version == bindparam("read_version", type_=Integer),
    )
    .values(version=Order.version + 1)
)


def _line_rows(order_id: uuid.UUID, lines: Sequence[LineRecord]) -> list[dict[str, Any]]:
    # Spelled out: `dataclasses.asdict` deep-copies, which costs more than the insert.
    return [
        {
            "order_id": order_id,
            "position": position,
            "product_id": line.product_id,
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "line_total": line.line_total,
        }
        for position, line in enumerate(lines)
    ]


async def insert_order(connection: AsyncConnection, order: OrderRecord) -> None:
    """Two statements: the order, then all its lines."""
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
    await connection.execute(_INSERT_LINES, _line_rows(order.id, order.lines))


async def _update(connection: AsyncConnection, order: OrderRecord, changes: dict[str, Any]) -> None:
    result = await connection.execute(
        _UPDATE_ORDER, {"order_id": order.id, "read_version": order.version, **changes}
    )
    # The order is locked: nobody else can have changed it since it was read.
    assert result.rowcount == 1, "an order changed under its lock"


async def replace_lines(
    connection: AsyncConnection,
    order: OrderRecord,
    lines: list[LineRecord],
    *,
    total: Decimal,
    now: datetime,
) -> OrderRecord:
    """Give a locked order new lines and total; the order at its next version."""
    await connection.execute(_DELETE_LINES, {"order_id": order.id})
    await connection.execute(_INSERT_LINES, _line_rows(order.id, lines))
    await _update(connection, order, {"total": total, "updated_at": now})
    return _next_version(order, lines=lines, total=total, updated_at=now)


async def change_status(
    connection: AsyncConnection, order: OrderRecord, status: OrderStatus, *, now: datetime
) -> OrderRecord:
    """Move a locked order to `status`; the order at its next version."""
    await _update(connection, order, {"status": status, "updated_at": now})
    return _next_version(order, status=status, updated_at=now)


def _next_version(order: OrderRecord, **changes: Any) -> OrderRecord:
    return replace(order, version=order.version + 1, **changes)
