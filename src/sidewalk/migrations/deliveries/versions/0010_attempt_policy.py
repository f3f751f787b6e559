"""attempt policy: a merchant's cap on attempts per delivery, and the network that carried each
attempt (`sidewalk` for the platform's robots, the courier network's name for a courier)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_merchants_max_attempts_in_range"), "max_attempts BETWEEN 1 AND 10"
        )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("network", sa.String(length=40), nullable=True))
    # The robots were always the platform's own; which network carried an older courier
    # attempt was not recorded, and stays unknown.
    op.execute("UPDATE attempts SET network = 'sidewalk' WHERE provider = 'robot'")


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("network")
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_merchants_max_attempts_in_range"), type_="check")
        batch_op.drop_column("max_attempts")
