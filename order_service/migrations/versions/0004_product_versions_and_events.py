"""product versions and the events outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

# An event's place in the feed on Postgres: at least its own transaction's id and the latest
# id of a transaction that had ended when it was written (order_service/store/events.py says
# why). xid8 has no arithmetic: the ids are compared as bigints. SQLite runs one transaction
# at a time: the position alone is the order there.
POSTGRES_HORIZON = (
    "GREATEST(pg_current_xact_id()::text::bigint,"
    " pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)"
)


def _horizon_default() -> sa.TextClause:
    if op.get_bind().dialect.name == "postgresql":
        return sa.text(POSTGRES_HORIZON)
    return sa.text("0")


def upgrade() -> None:
    # Every product starts at version 1; each change from now on bumps it.
    op.add_column(
        "products", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )

    op.create_table(
        "events",
        sa.Column("position", SERIAL, sa.Identity(), nullable=False),
        sa.Column(
            "xid_horizon", sa.BigInteger(), server_default=_horizon_default(), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("aggregate_type", sa.String(length=16), nullable=False),
        sa.Column("aggregate_id", sa.Uuid(), nullable=False),
        sa.Column("aggregate_version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "aggregate_type IN ('order', 'product')", name=op.f("ck_events_aggregate_type")
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_xid_horizon_position", "events", ["xid_horizon", "position"])
    op.create_index(
        "ix_events_type_xid_horizon_position", "events", ["type", "xid_horizon", "position"]
    )
    op.create_index(
        "ix_events_user_id_type_xid_horizon_position",
        "events",
        ["user_id", "type", "xid_horizon", "position"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
        sqlite_where=sa.text("user_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_column("products", "version")
