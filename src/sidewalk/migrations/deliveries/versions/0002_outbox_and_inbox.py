"""outbox and inbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:32:01.854934
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries_inbox",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("handled_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_deliveries_inbox")),
    )
    op.create_table(
        "deliveries_outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("published_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_deliveries_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_deliveries_outbox_event_id")),
    )
    with op.batch_alter_table("deliveries_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_outbox_unpublished",
            ["seq"],
            unique=False,
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries_outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deliveries_outbox_unpublished",
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("deliveries_outbox")
    op.drop_table("deliveries_inbox")
