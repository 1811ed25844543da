"""Orders: placing them with their stock, changing them, moving them through their life
cycle, and who may see or change which. Each use case is one transaction (or one read)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal

from order_service.documents import OrderDocument
from order_service.errors import OrderNotFound, StaleOrder
from order_service.events import ACTION_EVENTS, order_event, stock_events
from order_service.lifecycle import (
    Action,
    Actor,
    OrderStatus,
    ensure_allowed,
    ensure_modifiable,
    next_status,
    releases_stock,
)
from order_service.money import CURRENCY, to_money
from order_service.records import EventType, LineRecord, OrderRecord, ProductRecord, Requested
from order_service.store import Connection, Store
from order_service.store.events import insert_events
from order_service.store.orders import (
    change_status,
    insert_order,
    lock_order,
    read_order,
    read_orders_page,
    replace_lines,
)
from order_service.store.stock import change_stock, ensure_products_exist, reserve_stock
from shared.cursors import Cursor
from shared.database import utc_now
from shared.identifiers import uuid7
from shared.pagination import Page
from shared.tokens import Identity

# The versions a client allows a change at (its `If-Match`); None allows any.
Versions = frozenset[int] | None


def _lines(
    requested: Sequence[Requested], products: Mapping[uuid.UUID, ProductRecord]
) -> list[LineRecord]:
    """Order lines in the client's order, each with its product's name and price as they
    are now."""
    return [
        LineRecord(
            product_id=line.product_id,
            sku=products[line.product_id].sku,
            name=products[line.product_id].name,
            quantity=line.quantity,
            unit_price=products[line.product_id].price,
            line_total=to_money(products[line.product_id].price * line.quantity),
        )
        for line in requested
    ]


def _total(lines: Sequence[LineRecord]) -> Decimal:
    return sum((line.line_total for line in lines), start=Decimal("0.00"))


def _may_see(viewer: Identity, order: OrderRecord) -> bool:
    return viewer.is_admin or order.user_id == viewer.user_id


async def place(
    connection: Connection,
    user_id: uuid.UUID,
    requested: Sequence[Requested],
    *,
    order_id: uuid.UUID,
) -> OrderDocument:
    """Reserve the stock and record the order, as `order_id`, with its prices as they are
    now, in the caller's transaction: one statement per product, one for the order, one for
    its lines, and one for the events (the order placed, each product's stock changed)."""
    products = await reserve_stock(connection, requested)
    lines = _lines(requested, products)
    now = utc_now()
    order = OrderRecord(
        id=order_id,
        user_id=user_id,
        status=OrderStatus.PENDING,
        lines=lines,
        total=_total(lines),
        currency=CURRENCY,
        version=1,
        created_at=now,
        updated_at=now,
    )
    await insert_order(connection, order)
    document = OrderDocument.of(order)
    placed = order_event(EventType.ORDER_PLACED, order, document)
    await insert_events(connection, [placed, *stock_events(products.values())])
    return document


async def place_order(
    store: Store, user_id: uuid.UUID, requested: Sequence[Requested]
) -> OrderDocument:
    async with store.writing() as connection:
        return await place(connection, user_id, requested, order_id=uuid7())


async def get_order(store: Store, order_id: uuid.UUID, viewer: Identity) -> OrderRecord:
    """The order with its lines; `OrderNotFound` unless `viewer` may see it."""
    async with store.reading() as connection:
        order = await read_order(connection, order_id)
    if order is None or not _may_see(viewer, order):
        raise OrderNotFound(order_id)
    return order


def listing_scope(viewer: Identity, user_id: uuid.UUID | None, status: OrderStatus | None) -> str:
    """Which listing a cursor belongs to: who looks, at whose orders, in which status."""
    seen_by = "*" if viewer.is_admin else viewer.user_id
    return f"orders|{seen_by}|{user_id or '*'}|{status or '*'}"


async def list_orders(
    store: Store,
    viewer: Identity,
    *,
    status: OrderStatus | None,
    user_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[OrderRecord]:
    """Newest first; a user sees their own orders, an admin everyone's. The filters narrow
    what the viewer may see: a user asking for another user's orders gets none."""
    scope = listing_scope(viewer, user_id, status)
    if not viewer.is_admin and user_id not in (None, viewer.user_id):
        if cursor is not None:
            Cursor.decode(cursor, scope)  # a bad cursor is refused whatever the listing
        return Page(items=[], next_cursor=None)
    owner = user_id if viewer.is_admin else viewer.user_id
    async with store.reading() as connection:
        return await read_orders_page(
            connection, owner=owner, status=status, limit=limit, after=cursor, scope=scope
        )


async def _lock_to_change(
    connection: Connection,
    order_id: uuid.UUID,
    viewer: Identity,
    versions: Versions,
    action: Action | None = None,
) -> OrderRecord:
    """The order, locked until the transaction ends, so that changes to it run one at a time.

    Raises `OrderNotFound` unless `viewer` may see it, `ActionForbidden` unless they may take
    `action` (changing the lines is open to whoever sees the order), and `StaleOrder` unless
    it is at one of `versions`.
    """
    order = await lock_order(connection, order_id)
    if order is None or not _may_see(viewer, order):
        raise OrderNotFound(order_id)
    if action is not None:
        actors = {Actor.ADMIN} if viewer.is_admin else set()
        if order.user_id == viewer.user_id:
            actors.add(Actor.OWNER)
        ensure_allowed(action, actors)
    if versions is not None and order.version not in versions:
        raise StaleOrder(order.version)
    return order


async def change_order(
    store: Store,
    order_id: uuid.UUID,
    viewer: Identity,
    requested: Sequence[Requested],
    *,
    versions: Versions = None,
) -> OrderDocument:
    """Give a pending order new lines at today's prices, moving stock by the difference."""
    async with store.writing() as connection:
        order = await _lock_to_change(connection, order_id, viewer, versions)
        ensure_modifiable(order.status)
        await ensure_products_exist(connection, [line.product_id for line in requested])
        difference: Counter[uuid.UUID] = Counter()
        for new in requested:
            difference[new.product_id] += new.quantity
        for old in order.lines:
            difference[old.product_id] -= old.quantity
        products = await change_stock(connection, difference)
        lines = _lines(requested, products)
        order = await replace_lines(connection, order, lines, total=_total(lines), now=utc_now())
        moved = [products[product_id] for product_id in products if difference[product_id]]
        document = OrderDocument.of(order)
        changed = order_event(EventType.ORDER_CHANGED, order, document)
        await insert_events(connection, [changed, *stock_events(moved)])
        return document


async def act_on_order(
    store: Store,
    order_id: uuid.UUID,
    viewer: Identity,
    action: Action,
    *,
    versions: Versions = None,
) -> OrderDocument:
    """Move the order on (cancelling gives its units back); raises `InvalidTransition`."""
    async with store.writing() as connection:
        order = await _lock_to_change(connection, order_id, viewer, versions, action)
        status = next_status(order.status, action)
        moved: dict[uuid.UUID, ProductRecord] = {}
        if releases_stock(action):
            moved = await change_stock(
                connection, {line.product_id: -line.quantity for line in order.lines}
            )
        order = await change_status(connection, order, status, now=utc_now())
        document = OrderDocument.of(order)
        acted = order_event(ACTION_EVENTS[action], order, document)
        await insert_events(connection, [acted, *stock_events(moved.values())])
        return document
