"""fleet snapshots

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 22:20:00
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
    op.create_table(
        "fleet_snapshots",
        sa.Column("area_id", sa.String(length=100), nullable=False),
        sa.Column("taken_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("robots", sa.JSON(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("received_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("area_id", name=op.f("pk_fleet_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("fleet_snapshots")
