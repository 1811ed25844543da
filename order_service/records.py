"""The read model: an order and a product as the service reads, writes and answers them.

One shape each, whatever produced it (a read, a placement, a change): the store builds them
from rows, the use cases make new ones, and the HTTP layer renders them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from order_service.lifecycle import OrderStatus


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


@dataclass(frozen=True, slots=True)
class Requested:
    """A line as a client asks for it: which product, how many."""

    product_id: uuid.UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A product as it was when its stock changed: what an order line records."""

    sku: str
    name: str
    unit_price: Decimal
