"""couriers: the jobs of the simulated courier network

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "courier_sim_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "created",
                "confirmed",
                "enroute_to_pickup",
                "arrived_at_pickup",
                "picked_up",
                "enroute_to_dropoff",
                "arrived_at_dropoff",
                "delivered",
                "cancelled",
                "returning",
                "returned",
                "failed",
                name="courier_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("next_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pickup_eta", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dropoff_eta", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courier_sim_jobs")),
        sa.UniqueConstraint("external_id", name=op.f("uq_courier_sim_jobs_external_id")),
    )
    with op.batch_alter_table("courier_sim_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courier_sim_jobs_next_at"), ["next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("courier_sim_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_courier_sim_jobs_next_at"))

    op.drop_table("courier_sim_jobs")
