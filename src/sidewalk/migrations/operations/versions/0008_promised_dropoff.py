"""promised dropoff: the time a delivery task's promise falls due at the door, which the
dispatcher weighs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dropoff_by", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("dropoff_by")
