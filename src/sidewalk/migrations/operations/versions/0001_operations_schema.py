"""operations schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 19:38:33.705271
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sidewalk.kernel.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hubs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hubs")),
        sa.UniqueConstraint("name", name=op.f("uq_hubs_name")),
    )
    op.create_table(
        "operators",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column(
            "role",
            sa.Enum(
                "pilot",
                "supervisor",
                "admin",
                name="operator_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "offline",
                "available",
                "break",
                name="operator_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("email", name=op.f("uq_operators_email")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_operators_token_digest")),
    )
    op.create_table(
        "robots",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("hub_id", sa.String(length=40), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "offline",
                "idle",
                "on_task",
                "charging",
                "maintenance",
                "fault",
                name="robot_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("battery_pct", sa.Float(), nullable=True),
        sa.Column("area_id", sa.String(length=64), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=False),
        sa.Column("battery_low_pct", sa.Float(), nullable=False),
        sa.Column("battery_reserve_pct", sa.Float(), nullable=False),
        sa.Column("drain_pct_per_km", sa.Float(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("last_seen_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reading_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "state_changed_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("created_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "battery_pct IS NULL OR battery_pct BETWEEN 0 AND 100", name=op.f("ck_robots_battery")
        ),
        sa.CheckConstraint(
            "speed_mps > 0 AND drain_pct_per_km >= 0", name=op.f("ck_robots_config")
        ),
        sa.ForeignKeyConstraint(["hub_id"], ["hubs.id"], name=op.f("fk_robots_hub_id_hubs")),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_robots")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_robots_token_digest")),
    )
    with op.batch_alter_table("robots", schema=None) as batch_op:
        batch_op.create_index("ix_robots_area_state", ["area_id", "state"], unique=False)

    op.create_table(
        "state_history",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("date", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "offline",
                "idle",
                "on_task",
                "charging",
                "maintenance",
                "fault",
                name="robot_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "previous_state",
            sa.Enum(
                "offline",
                "idle",
                "on_task",
                "charging",
                "maintenance",
                "fault",
                name="previous_robot_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("task_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["serial"], ["robots.serial"], name=op.f("fk_state_history_serial_robots")
        ),
        sa.PrimaryKeyConstraint("serial", "date", name=op.f("pk_state_history")),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "delivery",
                "return",
                "charge",
                "reposition",
                name="task_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "assigned",
                "in_progress",
                "completed",
                "failed",
                "cancelled",
                name="task_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("robot_serial", sa.String(length=64), nullable=True),
        sa.Column("delivery_id", sa.String(length=40), nullable=True),
        sa.Column("attempt_id", sa.String(length=40), nullable=True),
        sa.Column("area_id", sa.String(length=64), nullable=True),
        sa.Column("hub_id", sa.String(length=40), nullable=True),
        sa.Column("start_lat", sa.Float(), nullable=False),
        sa.Column("start_lng", sa.Float(), nullable=False),
        sa.Column("end_lat", sa.Float(), nullable=False),
        sa.Column("end_lng", sa.Float(), nullable=False),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("return_of_task_id", sa.String(length=40), nullable=True),
        sa.Column("status_times", sa.JSON(), nullable=False),
        sa.Column("created_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hub_id"], ["hubs.id"], name=op.f("fk_tasks_hub_id_hubs")),
        sa.ForeignKeyConstraint(
            ["return_of_task_id"], ["tasks.id"], name=op.f("fk_tasks_return_of_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["robot_serial"], ["robots.serial"], name=op.f("fk_tasks_robot_serial_robots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_tasks_attempt_id")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_tasks_status_area", ["status", "area_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_tasks_one_active_per_robot",
            ["robot_serial"],
            unique=True,
            sqlite_where=sa.text("status IN ('assigned', 'in_progress')"),
            postgresql_where=sa.text("status IN ('assigned', 'in_progress')"),
        )

    op.create_table(
        "pilot_assignments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("pilot_id", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.String(length=40), nullable=False),
        sa.Column("robot_serial", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pilot_id"], ["operators.id"], name=op.f("fk_pilot_assignments_pilot_id_operators")
        ),
        sa.ForeignKeyConstraint(
            ["robot_serial"],
            ["robots.serial"],
            name=op.f("fk_pilot_assignments_robot_serial_robots"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_pilot_assignments_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pilot_assignments")),
    )
    with op.batch_alter_table("pilot_assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pilot_assignments_pilot_open", ["pilot_id", "released_at"], unique=False
        )
        batch_op.create_index(
            "uq_pilot_assignments_one_open_per_task",
            ["task_id"],
            unique=True,
            sqlite_where=sa.text("released_at IS NULL"),
            postgresql_where=sa.text("released_at IS NULL"),
        )

    op.create_table(
        "trips",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "to_pickup",
                "to_dropoff",
                "to_merchant",
                "to_hub",
                name="trip_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "in_progress",
                "arrived",
                "completed",
                "failed",
                "cancelled",
                name="trip_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("destination_lat", sa.Float(), nullable=False),
        sa.Column("destination_lng", sa.Float(), nullable=False),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("status_times", sa.JSON(), nullable=False),
        sa.Column("created_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sidewalk.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_trips_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trips")),
        sa.UniqueConstraint("task_id", "sequence", name=op.f("uq_trips_task_id_sequence")),
    )


def downgrade() -> None:
    op.drop_table("trips")
    with op.batch_alter_table("pilot_assignments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_pilot_assignments_one_open_per_task",
            sqlite_where=sa.text("released_at IS NULL"),
            postgresql_where=sa.text("released_at IS NULL"),
        )
        batch_op.drop_index("ix_pilot_assignments_pilot_open")

    op.drop_table("pilot_assignments")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_tasks_one_active_per_robot",
            sqlite_where=sa.text("status IN ('assigned', 'in_progress')"),
            postgresql_where=sa.text("status IN ('assigned', 'in_progress')"),
        )
        batch_op.drop_index("ix_tasks_status_area")
        batch_op.drop_index("ix_tasks_created")

    op.drop_table("tasks")
    op.drop_table("state_history")
    with op.batch_alter_table("robots", schema=None) as batch_op:
        batch_op.drop_index("ix_robots_area_state")

    op.drop_table("robots")
    op.drop_table("operators")
    op.drop_table("hubs")
