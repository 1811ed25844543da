"""The order service's tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from order_service.money import CURRENCY, Money
from shared.database import NAMING_CONVENTION, UTCDateTime, utc_now
from shared.identifiers import uuid7


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        # The database refuses overselling and nonsense prices even if the code had a bug.
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        Index("ix_products_created_at_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Money)
    stock: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)
    # Bumped by every change, stock moves included; each event about the product carries it.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')", name="status"
        ),
        # The list queries: a user's orders newest first (all of them, or in one status),
        # everyone's for admins, and everyone's in one status (the admins' "what to ship").
        Index("ix_orders_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_orders_user_id_status_created_at_id", "user_id", "status", "created_at", "id"),
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_status_created_at_id", "status", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    total: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.position", cascade="all, delete-orphan"
    )

    # Every UPDATE of an order bumps `version` (its ETag) and checks the one it read.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own idiom


class OrderLine(Base):
    """One product of an order, with its name and price as they were when it was ordered."""

    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity BETWEEN 1 AND 1000", name="quantity_range"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Not indexed: lines are read by their order, never by product (products are never deleted).
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    line_total: Mapped[Decimal] = mapped_column(Money)

    order: Mapped[Order] = relationship(back_populates="lines")


class IdempotencyKey(Base):
    """A client's `Idempotency-Key` with the order its first request placed, for replays."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 (hex) of the request: the same key with another request is refused.
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    # The order the key placed: a replay answers with it as it was placed (its event).
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The whole response, kept by keys stored before `order_id` was (revision 0006) only.
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# An autoincrementing key: an identity on Postgres, SQLite's INTEGER PRIMARY KEY elsewhere.
SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    """The outbox: every change's events, written in its transaction, in the feed's order.

    The feed reads them in (`xid_horizon`, `position`) order, and only those that no
    transaction still running could precede (`store/events.py` says why that never skips one).
    """

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("aggregate_type IN ('order', 'product')", name="aggregate_type"),
        # The feed in order: everyone's, by type, and a user's own (order events) by type.
        Index("ix_events_xid_horizon_position", "xid_horizon", "position"),
        Index("ix_events_type_xid_horizon_position", "type", "xid_horizon", "position"),
        Index(
            "ix_events_user_id_type_xid_horizon_position",
            "user_id",
            "type",
            "xid_horizon",
            "position",
            postgresql_where=text("user_id IS NOT NULL"),
            sqlite_where=text("user_id IS NOT NULL"),
        ),
        # An order as it was placed, for the replay of the Idempotency-Key that placed it.
        Index(
            "ix_events_order_placed_aggregate_id",
            "aggregate_id",
            postgresql_where=text("type = 'order.placed'"),
            sqlite_where=text("type = 'order.placed'"),
        ),
        # Positions are never reused, even once the oldest events are deleted.
        {"sqlite_autoincrement": True},
    )

    position: Mapped[int] = mapped_column(SERIAL, Identity(), primary_key=True)
    # Set by the database as the row is written (migrations/versions/0004_…): from Postgres's
    # transaction ids, or 0 on SQLite, whose transactions run one at a time.
    xid_horizon: Mapped[int] = mapped_column(BigInteger, server_default=FetchedValue())
    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    aggregate_type: Mapped[str] = mapped_column(String(16))
    aggregate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    aggregate_version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebhookEndpoint(Base):
    """A URL that receives the events of the types it chose, signed with its own secret."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(500))
    # Kept as such: every delivery is signed with it (only its owner and we hold it).
    secret: Mapped[str] = mapped_column(String(100))
    # The secret before the last rotation, still signing beside the new one until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # When its attempts began failing, every one since (None after a success).
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """An event on its way to an endpoint: made by the relay, attempted until it is delivered
    or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
        # The relay's questions: what is due, and is an earlier one of this order or product
        # still pending for this endpoint. Only pending deliveries are in either index.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index(
            "ix_webhook_deliveries_pending_by_aggregate",
            "endpoint_id",
            "aggregate_id",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # Deleting an endpoint, or old events, deletes their deliveries.
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id"),
        Index("ix_webhook_deliveries_event_position", "event_position"),
        {"sqlite_autoincrement": True},
    )

    # In the feed's order for each endpoint: the relay makes them one feed page at a time.
    id: Mapped[int] = mapped_column(SERIAL, Identity(), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_position: Mapped[int] = mapped_column(
        SERIAL, ForeignKey("events.position", ondelete="CASCADE")
    )
    aggregate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set while a relay delivers it; once past, another relay may (the first one died).
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One try at delivering an event to an endpoint, and how it went."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint_id_at_id", "endpoint_id", "at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class RelayCursor(Base):
    """How far in the feed the relay has made deliveries: one row, locked by the relay that
    is making them (another skips its turn)."""

    __tablename__ = "relay_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    xid_horizon: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(BigInteger)
