"""whole-second times: quotes and places written by the batch writer on SQLite before this
revision stored a time on a whole second without its microseconds ("12:00:00" rather than
"12:00:00.000000"), which compares in SQL as earlier than the same time bound by the ORM;
write them as the ORM does. Nothing to do on PostgreSQL, whose columns are timestamps.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMES = {
    "quotes": (
        "pickup_eta",
        "dropoff_eta",
        "expires_at",
        "created_at",
        "pickup_ready_at",
        "dropoff_after",
        "dropoff_before",
    ),
    "locations": ("created_at",),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in _TIMES.items():
        for column in columns:
            # "YYYY-MM-DD HH:MM:SS" is 19 characters; the ORM writes 26.
            op.execute(
                f"UPDATE {table} SET {column} = {column} || '.000000' WHERE length({column}) = 19"
            )


def downgrade() -> None:
    """Nothing to undo: both spellings read back as the same time."""
