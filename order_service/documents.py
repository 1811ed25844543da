"""An order as the API shows it, validated and rendered once for each change: the answer's
body and the payload of the event the change writes are the same text, and a retry's replay
renders the same from that event."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from order_service.records import OrderRecord
from order_service.schemas import OrderOut
from order_service.store.sql import JsonText


@dataclass(frozen=True, slots=True)
class OrderDocument:
    id: uuid.UUID
    version: int
    json: JsonText

    @classmethod
    def of(cls, order: OrderRecord | Mapping[str, Any]) -> OrderDocument:
        """`order`, a record or the order as an event carries it."""
        view = OrderOut.model_validate(order)
        return cls(view.id, view.version, JsonText(view.model_dump_json()))
