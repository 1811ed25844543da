"""The order service's request and response bodies."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from order_service.lifecycle import OrderStatus
from order_service.money import format_money
from order_service.records import AggregateType, EventRecord, EventType, Requested
from shared.text import SingleLineText

# Money in: a decimal string, positive, with at most two places, at most a million (so that
# no order total, 100 lines of 1000 units, can overflow its column). Never a JSON number: a
# float cannot carry an amount exactly. The pattern is the whole rule, so the document and
# the service agree on every price.
MAX_PRICE = Decimal("1000000.00")
PRICE_PATTERN = (
    r"^(?:0\.(?:0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|1000000(?:\.00?)?)$"
)


def _price_text(value: object) -> object:
    if not (isinstance(value, str) and re.fullmatch(PRICE_PATTERN, value)):
        raise ValueError('must be a decimal string such as "12.50"')
    return value


def _whole_number(value: object) -> object:
    """JSON has one kind of number: `3.0` is the integer 3, as JSON Schema reads it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Price = Annotated[
    Decimal,
    Field(gt=0, le=MAX_PRICE, max_digits=9, decimal_places=2),
    BeforeValidator(_price_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": PRICE_PATTERN,
            "description": "A decimal amount: more than 0, at most 1000000, at most two places.",
            "examples": ["12.50"],
        }
    ),
]
# Money out: always a string with exactly two places, never a float.
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(format_money, return_type=str, when_used="always"),
    Field(examples=["12.50"]),
]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
ProductName = Annotated[SingleLineText, Field(min_length=1, max_length=200)]
# Strict: `true` or `"10"` is a client's mistake, not a count.
Stock = Annotated[int, Field(ge=0, le=1_000_000_000, strict=True), BeforeValidator(_whole_number)]
Quantity = Annotated[int, Field(ge=1, le=1000, strict=True), BeforeValidator(_whole_number)]


def _left_out(schema: JsonDict) -> None:
    """A field that may be left out, but not be null: its schema shows no `null` default."""
    schema.pop("default", None)


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: ProductName
    price: Price
    stock: Stock


class PartialChange(BaseModel):
    """A PATCH body: any of the fields, none null; those left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value

    def changes(self) -> dict[str, object]:
        """The fields the client sent."""
        return self.model_dump(exclude_unset=True)


class ProductUpdate(PartialChange):
    """Any of the fields; those left out keep their value."""

    name: ProductName | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_left_out)
    price: Price | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_left_out)
    stock: Stock | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_left_out)


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sku: str
    name: str
    price: MoneyOut
    stock: int
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


class OrderItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    quantity: Quantity


class OrderLinesIn(BaseModel):
    """The lines of an order, when it is placed (`POST`) or replaced (`PATCH`)."""

    model_config = ConfigDict(extra="forbid")

    items: list[OrderItemIn] = Field(min_length=1, max_length=100)

    @field_validator("items")
    @classmethod
    def _one_line_per_product(cls, items: list[OrderItemIn]) -> list[OrderItemIn]:
        product_ids = [item.product_id for item in items]
        if len(set(product_ids)) != len(product_ids):
            raise ValueError("each product may appear in one line only")
        return items

    def requested(self) -> list[Requested]:
        return [Requested(item.product_id, item.quantity) for item in self.items]


class OrderLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    unit_price: MoneyOut
    line_total: MoneyOut


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    status: OrderStatus
    # From a record's `lines`, or from the order as the API showed it (an event's data).
    items: list[OrderLineOut] = Field(validation_alias=AliasChoices("lines", "items"))
    total: MoneyOut
    currency: str
    version: int
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class AggregateOut(BaseModel):
    type: AggregateType
    id: uuid.UUID
    version: int = Field(description="The order's or product's version the event is about.")


class EventOut(BaseModel):
    """An event, in the feed and as a webhook's body."""

    id: uuid.UUID = Field(description="Stable: a webhook may come twice; de-duplicate on it.")
    type: EventType
    occurred_at: datetime
    aggregate: AggregateOut
    data: dict[str, Any] = Field(
        description="The order or product as the API shows it at `aggregate.version`."
    )

    @classmethod
    def of(cls, event: EventRecord) -> EventOut:
        return cls(
            id=event.id,
            type=event.type,
            occurred_at=event.occurred_at,
            aggregate=AggregateOut(
                type=event.aggregate_type, id=event.aggregate_id, version=event.aggregate_version
            ),
            data=event.data,
        )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = Field(
        description="Where to go on from, now or later: the feed has no end. Null only while"
        " the feed is still empty."
    )


def _each_once(event_types: list[EventType]) -> list[EventType]:
    if len(set(event_types)) != len(event_types):
        raise ValueError("each type may appear once only")
    return event_types


EventTypesIn = Annotated[
    list[EventType],
    Field(min_length=1, description="The types of event the endpoint receives."),
    AfterValidator(_each_once),
]
WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="An http(s) URL without credentials, on a public address.",
        examples=["https://hooks.example.com/orders"],
    ),
]
Description = Annotated[SingleLineText, Field(max_length=500)]


class WebhookEndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    event_types: EventTypesIn
    description: Description = ""


class WebhookEndpointChange(PartialChange):
    """Any of the fields; those left out keep their value."""

    url: WebhookUrl | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_left_out)
    event_types: EventTypesIn | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_left_out
    )
    description: Description | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_left_out
    )
    enabled: bool | SkipJsonSchema[None] = Field(
        default=None,
        description="`true` enables a disabled endpoint again (and clears why).",
        json_schema_extra=_left_out,
    )


class WebhookEndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    event_types: list[EventType]
    description: str
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why the endpoint is disabled: by an admin, or its deliveries kept failing."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`). Shown this once: keep it now.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookEndpointList(BaseModel):
    items: list[WebhookEndpointOut]


class WebhookSecretOut(BaseModel):
    secret: str = Field(
        description="The new signing secret; the previous one signs beside it for 24 hours."
    )


class WebhookAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: uuid.UUID
    attempt: int = Field(description="1 for the first attempt at delivering this event.")
    status_code: int | None = Field(description="The answer's status; null when none came.")
    error: str | None = Field(description="What went wrong, when the attempt failed.")
    duration_ms: int
    at: datetime


class WebhookAttemptPage(BaseModel):
    items: list[WebhookAttemptOut]
    next_cursor: str | None
