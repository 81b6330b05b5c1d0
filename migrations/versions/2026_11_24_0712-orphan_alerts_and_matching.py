"""orphan alerts outbox, email aliases, orphan history

Revision ID: a2c433de8308
Revises: ae5120653eef
Create Date: 2026-11-24 07:12:04.334173+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a2c433de8308"
down_revision: str | None = "ae5120653eef"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Trigram similarity ranks the candidates of an orphaned interview.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "outbox_messages",
        sa.Column("cohort_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("orphaned_interview_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("state", sa.String(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('orphan_alert', 'orphan_digest')", name=op.f("ck_outbox_messages_kind")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'sent', 'failed')", name=op.f("ck_outbox_messages_state")
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_outbox_messages_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    op.create_index(
        "ix_outbox_messages_cohort_id_recipient_created_at",
        "outbox_messages",
        ["cohort_id", "recipient", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_outbox_messages_due",
        "outbox_messages",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "application_email_aliases",
        sa.Column("cohort_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_email_aliases_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_application_email_aliases_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_email_aliases")),
        sa.UniqueConstraint(
            "cohort_id", "email", name=op.f("uq_application_email_aliases_cohort_id_email")
        ),
    )
    op.create_index(
        op.f("ix_application_email_aliases_application_id"),
        "application_email_aliases",
        ["application_id"],
        unique=False,
    )
    op.add_column("history_entries", sa.Column("orphaned_interview_id", sa.Uuid(), nullable=True))
    op.alter_column("history_entries", "application_id", existing_type=sa.UUID(), nullable=True)
    op.create_index(
        "ix_history_entries_orphaned_interview_id_at_id",
        "history_entries",
        ["orphaned_interview_id", "at", "id"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_history_entries_orphaned_interview_id_orphaned_interviews"),
        "history_entries",
        "orphaned_interviews",
        ["orphaned_interview_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_check_constraint(
        op.f("ck_history_entries_subject"),
        "history_entries",
        "application_id IS NOT NULL OR orphaned_interview_id IS NOT NULL",
    )
    op.drop_constraint(op.f("ck_history_entries_kind"), "history_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_history_entries_kind"),
        "history_entries",
        "kind IN ('status', 'interview_scheduled', 'interview_rescheduled',"
        " 'interview_cancelled', 'match', 'dismissal')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM history_entries WHERE application_id IS NULL")
    op.drop_constraint(op.f("ck_history_entries_kind"), "history_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_history_entries_kind"),
        "history_entries",
        "kind IN ('status', 'interview_scheduled', 'interview_rescheduled',"
        " 'interview_cancelled', 'match')",
    )
    op.drop_constraint(op.f("ck_history_entries_subject"), "history_entries", type_="check")
    op.drop_constraint(
        op.f("fk_history_entries_orphaned_interview_id_orphaned_interviews"),
        "history_entries",
        type_="foreignkey",
    )
    op.drop_index("ix_history_entries_orphaned_interview_id_at_id", table_name="history_entries")
    op.alter_column("history_entries", "application_id", existing_type=sa.UUID(), nullable=False)
    op.drop_column("history_entries", "orphaned_interview_id")
    op.drop_index(
        op.f("ix_application_email_aliases_application_id"), table_name="application_email_aliases"
    )
    op.drop_table("application_email_aliases")
    op.drop_index(
        "ix_outbox_messages_due",
        table_name="outbox_messages",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_index("ix_outbox_messages_cohort_id_recipient_created_at", table_name="outbox_messages")
    op.drop_table("outbox_messages")
