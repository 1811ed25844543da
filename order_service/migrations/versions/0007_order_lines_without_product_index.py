"""order lines lose their index on product

No query reads order lines by product: they are read by their order, and products are never
deleted nor their ids changed, so the foreign key never looks lines up by product either.
The index cost every order a B-tree insertion per line into a random leaf (products are
chosen at random), which at millions of lines is a page read and a full-page WAL image.

Dropping the index takes the table's lock for a moment; building it again (downgrade) locks
the table against writes for the build's duration.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_order_lines_product_id", table_name="order_lines")


def downgrade() -> None:
    op.create_index("ix_order_lines_product_id", "order_lines", ["product_id"])
