"""alert acknowledgements: which operator saw which alert of the dashboard, and when

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:00:00
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
        "alert_acks",
        sa.Column("alert_id", sa.String(length=160), nullable=False),
        sa.Column("operator_id", sa.String(length=40), nullable=False),
        sa.Column("acknowledged_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_alert_acks_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert_acks")),
    )
    with op.batch_alter_table("alert_acks", schema=None) as batch_op:
        batch_op.create_index("ix_alert_acks_changed", ["acknowledged_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_acks", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_acks_changed")
    op.drop_table("alert_acks")
