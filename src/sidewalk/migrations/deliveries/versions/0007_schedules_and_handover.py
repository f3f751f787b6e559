"""schedules and handover: a quote's pickup-ready time and dropoff window, a delivery's unlock
PIN, the record of its handover, what to do with goods that cannot be handed over, and when
merchants were last told where its robot or courier is

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.add_column(_when("pickup_ready_at"))
        batch_op.add_column(_when("dropoff_after"))
        batch_op.add_column(_when("dropoff_before"))
        batch_op.create_index("ix_quotes_dropoff_before", ["dropoff_before"], unique=False)

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unlock_pin", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("handover", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "undeliverable_action",
                sa.String(length=16),
                server_default="return",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("undeliverable", sa.JSON(), nullable=True))
        batch_op.add_column(_when("location_told_at"))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("location_told_at")
        batch_op.drop_column("undeliverable")
        batch_op.drop_column("undeliverable_action")
        batch_op.drop_column("handover")
        batch_op.drop_column("unlock_pin")

    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.drop_index("ix_quotes_dropoff_before")
        batch_op.drop_column("dropoff_before")
        batch_op.drop_column("dropoff_after")
        batch_op.drop_column("pickup_ready_at")
