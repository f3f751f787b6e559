"""lookups by robot and by task: every dispatch round asks which idle robots have no open task
(which searched every open task for each robot) and when the tasks waiting for a pilot lost
their last one (which read the whole history of assignments)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_robot_status", ["robot_serial", "status"], unique=False)
    with op.batch_alter_table("pilot_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_pilot_assignments_task", ["task_id", "released_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pilot_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_pilot_assignments_task")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_robot_status")
