"""several live bookings and no-shows: history's other interview, the interview's no-show

Revision ID: 6e2d4b8a1c35
Revises: 3f9a6b0d5c17
Create Date: 2026-11-30 11:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "6e2d4b8a1c35"
down_revision: str | None = "3f9a6b0d5c17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (
    "'status', 'interview_scheduled', 'interview_rescheduled', 'interview_cancelled', "
    "'match', 'dismissal'"
)
_NEW_KINDS = f"{_KINDS}, 'double_booking', 'no_show'"


def upgrade() -> None:
    op.add_column(
        "history_entries",
        sa.Column("other_interview", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "applications",
        sa.Column("interview_no_show", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.drop_constraint(op.f("ck_history_entries_kind"), "history_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_history_entries_kind"), "history_entries", f"kind IN ({_NEW_KINDS})"
    )


def downgrade() -> None:
    op.execute("DELETE FROM history_entries WHERE kind IN ('double_booking', 'no_show')")
    op.drop_constraint(op.f("ck_history_entries_kind"), "history_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_history_entries_kind"), "history_entries", f"kind IN ({_KINDS})"
    )
    op.drop_column("applications", "interview_no_show")
    op.drop_column("history_entries", "other_interview")
