"""api requests: the audit log, and indexes for the warehouse's incremental reads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 06:44:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operations_api_requests",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("entity_ids", sa.JSON(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_operations_api_requests")),
    )
    with op.batch_alter_table("operations_api_requests", schema=None) as batch_op:
        batch_op.create_index("ix_operations_api_requests_at", ["at"], unique=False)

    with op.batch_alter_table("operations_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_operations_outbox_changed", ["occurred_at"], unique=False)

    with op.batch_alter_table("state_history", schema=None) as batch_op:
        batch_op.create_index("ix_state_history_changed", ["date"], unique=False)

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_changed", ["updated_at", "id"], unique=False)

    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.create_index("ix_trips_changed", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.drop_index("ix_trips_changed")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_changed")

    with op.batch_alter_table("state_history", schema=None) as batch_op:
        batch_op.drop_index("ix_state_history_changed")

    with op.batch_alter_table("operations_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_operations_outbox_changed")

    with op.batch_alter_table("operations_api_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_operations_api_requests_at")

    op.drop_table("operations_api_requests")
