"""idempotency keys hold their order; orders by user and status; events of placed orders

A key now records the order it placed (`order_id`) instead of its whole response: a replay
renders the order as it was placed from the outbox's `order.placed` event, found by the new
partial index on that event type. Keys stored before this revision have no `order_id`; their
response columns stay (nullable, as they were) so that they replay exactly as before until
they expire: converting them would need their orders' events, which may be gone already, and
dropping the columns would turn their retries into new orders. New keys leave those columns
empty (a NULL costs a bit in the row's null map). A later revision may drop them once every
key stored before this one has expired (the key TTL after deploying it).

The index on orders (user_id, status, created_at, id) serves a user's orders in one status,
newest first (`GET /orders?status=` for a user, an admin's `?user_id=&status=`), so that a
page reads a page's worth of rows however many of the user's orders are in other statuses.

Each index is built with the table locked against writes for the build's duration (seconds
at millions of orders).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLACED = sa.text("type = 'order.placed'")


def upgrade() -> None:
    op.add_column("idempotency_keys", sa.Column("order_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_orders_user_id_status_created_at_id",
        "orders",
        ["user_id", "status", "created_at", "id"],
    )
    op.create_index(
        "ix_events_order_placed_aggregate_id",
        "events",
        ["aggregate_id"],
        postgresql_where=PLACED,
        sqlite_where=PLACED,
    )


def downgrade() -> None:
    op.drop_index("ix_events_order_placed_aggregate_id", table_name="events")
    op.drop_index("ix_orders_user_id_status_created_at_id", table_name="orders")
    # SQLite drops a column by copying its table.
    with op.batch_alter_table("idempotency_keys") as table:
        table.drop_column("order_id")
