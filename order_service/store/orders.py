"""Orders and their lines: read (one statement each, so each answer is one snapshot), locked,
inserted and changed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from functools import cache
from itertools import groupby
from typing import Any

from sqlalchemy import Integer, Select, String, Uuid, bindparam, delete, insert, select, update

from order_service.lifecycle import OrderStatus
from order_service.models import Order, OrderLine
from order_service.records import LineRecord, OrderRecord
from order_service.store.sql import Connection, Query, Row, RowsInsert, query
from shared.pagination import Page, newest_first_page, page_of, page_parameters

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
READ_ORDER = query(_ORDER_WITH_LINES)
# The same, locked until the transaction ends: changes to one order run one at a time.
LOCK_ORDER = query(_ORDER_WITH_LINES.with_for_update(of=Order))


def _order_of(rows: Sequence[Row]) -> OrderRecord:
    """An order from its rows joined with its lines (one row per line, in line order)."""
    first = rows[0]
    return OrderRecord(
        id=first["id"],
        user_id=first["user_id"],
        status=OrderStatus(first["status"]),
        lines=[
            LineRecord(
                product_id=row["product_id"],
                sku=row["sku"],
                name=row["name"],
                quantity=row["quantity"],
                unit_price=row["unit_price"],
                line_total=row["line_total"],
            )
            for row in rows
            if row["product_id"] is not None
        ],
        total=first["total"],
        currency=first["currency"],
        version=first["version"],
        created_at=first["created_at"],
        updated_at=first["updated_at"],
    )


def _orders_of(rows: Sequence[Row]) -> list[OrderRecord]:
    """Orders from the rows of several, each order's rows together."""
    return [_order_of(list(order_rows)) for _, order_rows in groupby(rows, lambda row: row["id"])]


async def read_order(connection: Connection, order_id: uuid.UUID) -> OrderRecord | None:
    rows = await connection.fetch(READ_ORDER, {"order_id": order_id})
    return _order_of(rows) if rows else None


async def lock_order(connection: Connection, order_id: uuid.UUID) -> OrderRecord | None:
    """The order, locked until the transaction ends (on SQLite, the transaction holds the
    database's write lock already)."""
    rows = await connection.fetch(LOCK_ORDER, {"order_id": order_id})
    return _order_of(rows) if rows else None


def orders_page_query(
    *, is_one_owners: bool, is_one_status: bool, is_after_a_cursor: bool
) -> Select[Any]:
    """A page of orders newest first (one owner's, of one status: `owner` and `status`),
    joined with their lines; its values are parameters (`shared.pagination`).

    One statement, so that each order and its lines are one snapshot: two statements under
    READ COMMITTED would each see their own, and an order changed between them would come
    back with another state's lines. The page itself is read in order from the index on
    (user_id, created_at, id), (user_id, status, created_at, id), (created_at, id) or
    (status, created_at, id): a page's worth of rows, whatever the other orders
    (tests/order_service/test_listing_plans.py).
    """
    page = select(Order.id, *_ORDER_COLUMNS)
    if is_one_owners:
        page = page.where(Order.user_id == bindparam("owner", type_=Uuid))
    if is_one_status:
        page = page.where(Order.status == bindparam("status", type_=String))
    orders = newest_first_page(
        page, Order.created_at, Order.id, is_after_a_cursor=is_after_a_cursor
    ).subquery("page")
    return (
        select(orders, *_LINE_COLUMNS)
        .outerjoin(OrderLine, OrderLine.order_id == orders.c.id)
        .order_by(orders.c.created_at.desc(), orders.c.id.desc(), OrderLine.position)
    )


@cache
def orders_page_statement(
    is_one_owners: bool, is_one_status: bool, is_after_a_cursor: bool
) -> Query:
    """Each shape of the page's statement, compiled once, when first asked for."""
    return query(
        orders_page_query(
            is_one_owners=is_one_owners,
            is_one_status=is_one_status,
            is_after_a_cursor=is_after_a_cursor,
        )
    )


async def read_orders_page(
    connection: Connection,
    *,
    owner: uuid.UUID | None,
    status: OrderStatus | None,
    limit: int,
    after: str | None,
    scope: str,
) -> Page[OrderRecord]:
    statement = orders_page_statement(owner is not None, status is not None, after is not None)
    parameters = {
        "owner": owner,
        "status": status,
        **page_parameters(limit=limit, after=after, scope=scope),
    }
    rows = await connection.fetch(statement, parameters)
    return page_of(_orders_of(rows), limit, scope)


_ORDER_ROW = ("id", "user_id", "status", "total", "currency", "version", "created_at", "updated_at")
_LINE_ROW = (
    "order_id",
    "position",
    "product_id",
    "sku",
    "name",
    "quantity",
    "unit_price",
    "line_total",
)
INSERT_ORDER = query(insert(Order), params=_ORDER_ROW)
INSERT_LINES = RowsInsert(OrderLine.__table__, _LINE_ROW)
_DELETE_LINES = query(
    delete(OrderLine).where(OrderLine.order_id == bindparam("order_id", type_=Uuid))
)
# Every change of an order bumps its version (its ETag), from the version it was read at.
_UPDATE_ORDER = (
    update(Order)
    .where(
        Order.id == bindparam("order_id", type_=Uuid),
        Order.version == bindparam("read_version", type_=Integer),
    )
    .values(version=Order.version + 1)
)
_CHANGE_LINES = query(_UPDATE_ORDER, params=["total", "updated_at"])
_CHANGE_STATUS = query(_UPDATE_ORDER, params=["status", "updated_at"])


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


async def insert_order(connection: Connection, order: OrderRecord) -> None:
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
    await connection.execute(INSERT_ORDER, order_row)
    await connection.insert_rows(INSERT_LINES, _line_rows(order.id, order.lines))


async def _update(
    connection: Connection, statement: Query, order: OrderRecord, changes: dict[str, Any]
) -> None:
    changed = await connection.execute(
        statement, {"order_id": order.id, "read_version": order.version, **changes}
    )
    # The order is locked: nobody else can have changed it since it was read.
    assert changed == 1, "an order changed under its lock"


async def replace_lines(
    connection: Connection,
    order: OrderRecord,
    lines: list[LineRecord],
    *,
    total: Decimal,
    now: datetime,
) -> OrderRecord:
    """Give a locked order new lines and total; the order at its next version."""
    await connection.execute(_DELETE_LINES, {"order_id": order.id})
    await connection.insert_rows(INSERT_LINES, _line_rows(order.id, lines))
    await _update(connection, _CHANGE_LINES, order, {"total": total, "updated_at": now})
    return _next_version(order, lines=lines, total=total, updated_at=now)


async def change_status(
    connection: Connection, order: OrderRecord, status: OrderStatus, *, now: datetime
) -> OrderRecord:
    """Move a locked order to `status`; the order at its next version."""
    await _update(connection, _CHANGE_STATUS, order, {"status": status, "updated_at": now})
    return _next_version(order, status=status, updated_at=now)


def _next_version(order: OrderRecord, **changes: Any) -> OrderRecord:
    return replace(order, version=order.version + 1, **changes)
