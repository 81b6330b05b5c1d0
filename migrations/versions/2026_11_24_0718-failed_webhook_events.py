"""failed webhook events

Revision ID: 1d8471ad612e
Revises: a2c433de8308
Create Date: 2026-11-24 07:18:59.718331+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1d8471ad612e"
down_revision: str | None = "a2c433de8308"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_events", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "webhook_events", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    _outcomes(
        "outcome IN ('pending', 'matched', 'orphaned', 'duplicate', 'ignored', 'rejected', 'failed')"
    )
    op.create_index(
        "ix_webhook_events_retry_due",
        "webhook_events",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("outcome = 'failed' AND next_attempt_at IS NOT NULL"),
    )


def _outcomes(check: str) -> None:
    op.drop_constraint(op.f("ck_webhook_events_outcome"), "webhook_events", type_="check")
    op.create_check_constraint(op.f("ck_webhook_events_outcome"), "webhook_events", check)


def downgrade() -> None:
    op.execute("DELETE FROM webhook_events WHERE outcome = 'failed'")
    _outcomes("outcome IN ('pending', 'matched', 'orphaned', 'duplicate', 'ignored', 'rejected')")
    op.drop_index(
        "ix_webhook_events_retry_due",
        table_name="webhook_events",
        postgresql_where=sa.text("outcome = 'failed' AND next_attempt_at IS NOT NULL"),
    )
    op.drop_column("webhook_events", "next_attempt_at")
    op.drop_column("webhook_events", "attempts")
