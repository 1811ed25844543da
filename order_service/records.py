"""The read model: an order, a product and an event as the service reads, writes and
answers them.

One shape each, whatever produced it (a read, a placement, a change): the store builds them
from rows, the use cases make new ones, and the HTTP layer renders them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from order_service.lifecycle import OrderStatus

if TYPE_CHECKING:
    from order_service.store.sql import JsonText


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One product of an order, with its name and price as they were when it was ordered."""

    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: uuid.UUID
    user_id: uuid.UUID
    status: OrderStatus
    lines: list[LineRecord]
    total: Decimal
    currency: str
    # Bumped by every change; it is the order's ETag.
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProductRecord:
    id: uuid.UUID
    sku: str
    name: str
    price: Decimal
    stock: int
    created_at: datetime
    updated_at: datetime
    # Bumped by every change, stock moves included: the version its events carry.
    version: int


@dataclass(frozen=True, slots=True)
class Requested:
    """A line as a client asks for it: which product, how many."""

    product_id: uuid.UUID
    quantity: int


class EventType(StrEnum):
    ORDER_PLACED = "order.placed"
    ORDER_CHANGED = "order.changed"
    ORDER_PAID = "order.paid"
    ORDER_SHIPPED = "order.shipped"
    ORDER_DELIVERED = "order.delivered"
    ORDER_CANCELLED = "order.cancelled"
    PRODUCT_STOCK_CHANGED = "product.stock_changed"
    PRODUCT_OUT_OF_STOCK = "product.out_of_stock"


class AggregateType(StrEnum):
    ORDER = "order"
    PRODUCT = "product"


@dataclass(frozen=True, slots=True)
class EventRecord:
    """Something that happened to an order or a product, with the resource as the API shows
    it at the version it happened at."""

    # Stable: consumers de-duplicate on it (a webhook may come twice).
    id: uuid.UUID
    type: EventType
    occurred_at: datetime
    aggregate_type: AggregateType
    aggregate_id: uuid.UUID
    aggregate_version: int
    # The order's owner, who may read its events; None for a product's.
    user_id: uuid.UUID | None
    # Read back as Python values; written as the text the change's answer carries.
    data: dict[str, Any] | JsonText


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """A webhook endpoint: where the events of the types it chose go, and how they are signed."""

    id: uuid.UUID
    url: str
    event_types: list[EventType]
    description: str
    secret: str
    # The secret before the last rotation, signing beside `secret` until it expires.
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery made at `now` is signed with."""
        expires_at = self.previous_secret_expires_at
        if self.previous_secret is not None and expires_at is not None and now < expires_at:
            return [self.secret, self.previous_secret]
        return [self.secret]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try at delivering an event to an endpoint: its answer's status, or what failed."""

    id: uuid.UUID
    event_id: uuid.UUID
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime
