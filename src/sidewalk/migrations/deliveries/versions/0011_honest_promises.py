"""honest promises: the margin each quote's times add to the fleet model's estimate, and how
far delivered orders fell from that estimate (what calibrates the margins)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pickup_margin_s", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("dropoff_margin_s", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "promise_outcomes",
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column(
            "provider",
            sa.Enum(
                "robot",
                "courier",
                name="attempt_provider",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("service_area_id", sa.String(length=100), nullable=True),
        sa.Column("delivered_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pickup_error_s", sa.Float(), nullable=True),
        sa.Column("dropoff_error_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_promise_outcomes_delivery_id_deliveries"),
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_promise_outcomes")),
    )
    with op.batch_alter_table("promise_outcomes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_promise_outcomes_recent", ["provider", "delivered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("promise_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_promise_outcomes_recent")
    op.drop_table("promise_outcomes")
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.drop_column("dropoff_margin_s")
        batch_op.drop_column("pickup_margin_s")
