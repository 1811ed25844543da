"""The events each change writes beside itself (the outbox): what happened, to which order or
product, at which version, with the resource as the API shows it at that version.

A use case passes them to `store.events.insert_events` in its own transaction, so an event
exists if and only if its change committed.
"""

from __future__ import annotations

from collections.abc import Iterable

from order_service.documents import OrderDocument
from order_service.lifecycle import Action
from order_service.records import (
    AggregateType,
    EventRecord,
    EventType,
    OrderRecord,
    ProductRecord,
)
from order_service.schemas import ProductOut
from shared.identifiers import uuid7

# What a user may read: the events of their own orders.
ORDER_EVENT_TYPES = frozenset(kind for kind in EventType if kind.startswith("order."))

# Each life-cycle action, as what happened once it was taken.
ACTION_EVENTS = {
    Action.PAY: EventType.ORDER_PAID,
    Action.SHIP: EventType.ORDER_SHIPPED,
    Action.DELIVER: EventType.ORDER_DELIVERED,
    Action.CANCEL: EventType.ORDER_CANCELLED,
}


def order_event(kind: EventType, order: OrderRecord, document: OrderDocument) -> EventRecord:
    """`kind` happened to `order`, which is now as given (and as `document` shows it)."""
    return EventRecord(
        id=uuid7(),
        type=kind,
        occurred_at=order.updated_at,
        aggregate_type=AggregateType.ORDER,
        aggregate_id=order.id,
        aggregate_version=order.version,
        user_id=order.user_id,
        # As GET /orders/{id} answers it, so that a consumer needs no second request.
        data=document.json,
    )


def stock_events(moved: Iterable[ProductRecord]) -> list[EventRecord]:
    """The stock of each product in `moved` changed (it is now as given); those it left at
    zero are out of stock too."""
    events: list[EventRecord] = []
    for product in moved:
        kinds = [EventType.PRODUCT_STOCK_CHANGED]
        if product.stock == 0:
            kinds.append(EventType.PRODUCT_OUT_OF_STOCK)
        data = ProductOut.model_validate(product).model_dump(mode="json")
        events.extend(
            EventRecord(
                id=uuid7(),
                type=kind,
                occurred_at=product.updated_at,
                aggregate_type=AggregateType.PRODUCT,
                aggregate_id=product.id,
                aggregate_version=product.version,
                user_id=None,
                data=data,
            )
            for kind in kinds
        )
    return events
