"""Cal.com reconciliation: a cohort's API connection, and the source of each event

Revision ID: 5c2d8e1f7a30
Revises: 6d2b9e4f1a38
Create Date: 2026-11-30 12:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5c2d8e1f7a30"
down_revision: str | None = "6d2b9e4f1a38"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CAUSES = "'webhook', 'manual_match', 'dismissal', 'admin'"
_KINDS = "'orphan_alert', 'orphan_digest'"


def upgrade() -> None:
    op.create_table(
        "calcom_connections",
        sa.Column("cohort_id", sa.Uuid(), nullable=False),
        sa.Column("api_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("base_url", sa.String(), nullable=False),
        sa.Column("event_type_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("key_rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_calcom_connections_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cohort_id", name=op.f("pk_calcom_connections")),
    )
    op.add_column(
        "webhook_events",
        sa.Column("source", sa.String(), server_default="webhook", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_webhook_events_source"),
        "webhook_events",
        "source IN ('webhook', 'reconciliation')",
    )
    _replace_check("history_entries", "cause", f"cause IN ({_CAUSES}, 'reconciliation')")
    _replace_check("outbox_messages", "kind", f"kind IN ({_KINDS}, 'calcom_key_rejected')")


def downgrade() -> None:
    op.execute("DELETE FROM outbox_messages WHERE kind = 'calcom_key_rejected'")
    _replace_check("outbox_messages", "kind", f"kind IN ({_KINDS})")
    op.execute("UPDATE history_entries SET cause = 'webhook' WHERE cause = 'reconciliation'")
    _replace_check("history_entries", "cause", f"cause IN ({_CAUSES})")
    op.drop_constraint(op.f("ck_webhook_events_source"), "webhook_events", type_="check")
    op.drop_column("webhook_events", "source")
    op.drop_table("calcom_connections")


def _replace_check(table: str, name: str, condition: str) -> None:
    op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
    op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, condition)
