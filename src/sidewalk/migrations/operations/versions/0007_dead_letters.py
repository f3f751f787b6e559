"""dead letters: the events the operations service could not read, kept with the reason for an
admin to see and replay once the cause is fixed, instead of dropped

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operations_dead_letters",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failed_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_operations_dead_letters")),
    )
    with op.batch_alter_table("operations_dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_operations_dead_letters_waiting", ["replayed_at", "seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("operations_dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_operations_dead_letters_waiting")
    op.drop_table("operations_dead_letters")
