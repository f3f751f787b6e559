"""scheduled and locked tasks: when a scheduled task may be dispatched, the PIN that opens its
robot's compartment at the dropoff, and what to do with goods nobody takes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("not_before", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("unlock_pin", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("unlock_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("unlocked_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("unlocked_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("undeliverable_action", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("undeliverable_action")
        batch_op.drop_column("unlocked_by")
        batch_op.drop_column("unlocked_at")
        batch_op.drop_column("unlock_failures")
        batch_op.drop_column("unlock_pin")
        batch_op.drop_column("not_before")
