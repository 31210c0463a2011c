"""drop the order indexes that a unique constraint already provides

`orders.customer_id` leads the unique (customer_id, idempotency_key) and `order_lines.order_id`
leads the unique (order_id, line_no): both plain indexes answered nothing the unique ones do not,
and each order paid to keep them (two B-tree pages of every order's commit).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_orders_customer_id", table_name="orders")
    op.drop_index("ix_order_lines_order_id", table_name="order_lines")


def downgrade() -> None:
    op.create_index("ix_order_lines_order_id", "order_lines", ["order_id"], unique=False)
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"], unique=False)
