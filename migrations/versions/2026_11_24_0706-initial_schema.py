"""initial schema

Revision ID: ae5120653eef
Revises:
Create Date: 2026-11-24 07:06:59.180222+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ae5120653eef"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("admin_emails", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "cohorts",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("webhook_secret", sa.String(), nullable=False),
        sa.Column("previous_webhook_secret", sa.String(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_cohorts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
    )
    op.create_index(
        op.f("ix_cohorts_organization_id"), "cohorts", ["organization_id"], unique=False
    )
    op.create_table(
        "applications",
        sa.Column("cohort_id", sa.Uuid(), nullable=False),
        sa.Column("applicant_name", sa.String(), nullable=False),
        sa.Column("contact_email", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("interview_booking_uid", sa.String(), nullable=True),
        sa.Column("interview_start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interview_end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interview_meeting_url", sa.String(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('submitted', 'under_review', 'waiting_first_round', 'first_round_scheduled', 'waiting_second_round', 'second_round_scheduled', 'accepted', 'waitlist', 'declined')",
            name=op.f("ck_applications_status"),
        ),
        sa.CheckConstraint(
            "(interview_booking_uid IS NULL) = (interview_start_time IS NULL) AND (interview_start_time IS NULL) = (interview_end_time IS NULL)",
            name=op.f("ck_applications_interview_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_applications_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(
        "ix_applications_cohort_id_created_at_id",
        "applications",
        ["cohort_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_applications_cohort_id_status", "applications", ["cohort_id", "status"], unique=False
    )
    op.create_index(
        "uq_applications_cohort_id_contact_email",
        "applications",
        ["cohort_id", sa.literal_column("lower(contact_email)")],
        unique=True,
    )
    op.create_table(
        "history_entries",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("from_status", sa.String(), nullable=True),
        sa.Column("to_status", sa.String(), nullable=True),
        sa.Column("interview", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("cause", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "cause IN ('webhook', 'manual_match', 'dismissal', 'admin')",
            name=op.f("ck_history_entries_cause"),
        ),
        sa.CheckConstraint(
            "kind IN ('status', 'interview_scheduled', 'interview_rescheduled', 'interview_cancelled', 'match')",
            name=op.f("ck_history_entries_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_history_entries_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_entries")),
    )
    op.create_index(
        "ix_history_entries_application_id_at_id",
        "history_entries",
        ["application_id", "at", "id"],
        unique=False,
    )
    op.create_table(
        "webhook_events",
        sa.Column("cohort_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("raw_body", sa.LargeBinary(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("orphaned_interview_id", sa.Uuid(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('pending', 'matched', 'orphaned', 'duplicate', 'ignored', 'rejected')",
            name=op.f("ck_webhook_events_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_webhook_events_application_id_applications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_webhook_events_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint(
            "cohort_id", "event_id", name=op.f("uq_webhook_events_cohort_id_event_id")
        ),
    )
    op.create_index(
        "ix_webhook_events_cohort_id_received_at_id",
        "webhook_events",
        ["cohort_id", "received_at", "id"],
        unique=False,
    )
    op.create_table(
        "orphaned_interviews",
        sa.Column("cohort_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("applicant_name", sa.String(), nullable=True),
        sa.Column("applicant_email", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=True),
        sa.Column("booking_uid", sa.String(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meeting_url", sa.String(), nullable=True),
        sa.Column("webhook_event_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(), nullable=True),
        sa.Column("resolution_reason", sa.String(), nullable=True),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('open', 'matched', 'dismissed', 'cancelled')",
            name=op.f("ck_orphaned_interviews_state"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_orphaned_interviews_application_id_applications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_orphaned_interviews_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_event_id"],
            ["webhook_events.id"],
            name=op.f("fk_orphaned_interviews_webhook_event_id_webhook_events"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orphaned_interviews")),
    )
    # The event log and orphans point at each other, so one key is added after both exist.
    op.create_foreign_key(
        op.f("fk_webhook_events_orphaned_interview_id_orphaned_interviews"),
        "webhook_events",
        "orphaned_interviews",
        ["orphaned_interview_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_orphaned_interviews_cohort_id_state_created_at_id",
        "orphaned_interviews",
        ["cohort_id", "state", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_orphaned_interviews_open_cohort_id",
        "orphaned_interviews",
        ["cohort_id"],
        unique=False,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "bookings",
        sa.Column("cohort_id", sa.Uuid(), nullable=False),
        sa.Column("uid", sa.String(), nullable=False),
        sa.Column("applicant_email", sa.String(), nullable=False),
        sa.Column("applicant_name", sa.String(), nullable=True),
        sa.Column("time_zone", sa.String(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meeting_url", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("orphaned_interview_id", sa.Uuid(), nullable=True),
        sa.Column("rescheduled_from_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('active', 'rescheduled', 'cancelled')", name=op.f("ck_bookings_state")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_bookings_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_bookings_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["orphaned_interview_id"],
            ["orphaned_interviews.id"],
            name=op.f("fk_bookings_orphaned_interview_id_orphaned_interviews"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rescheduled_from_id"],
            ["bookings.id"],
            name=op.f("fk_bookings_rescheduled_from_id_bookings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint(
            "cohort_id",
            "uid",
            "applicant_email",
            name=op.f("uq_bookings_cohort_id_uid_applicant_email"),
        ),
    )
    op.create_index(
        op.f("ix_bookings_application_id"), "bookings", ["application_id"], unique=False
    )
    op.create_index(
        op.f("ix_bookings_orphaned_interview_id"),
        "bookings",
        ["orphaned_interview_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_bookings_orphaned_interview_id"), table_name="bookings")
    op.drop_index(op.f("ix_bookings_application_id"), table_name="bookings")
    op.drop_table("bookings")
    op.drop_index(
        "ix_orphaned_interviews_open_cohort_id",
        table_name="orphaned_interviews",
        postgresql_where=sa.text("state = 'open'"),
    )
    op.drop_index(
        "ix_orphaned_interviews_cohort_id_state_created_at_id", table_name="orphaned_interviews"
    )
    op.drop_constraint(
        op.f("fk_webhook_events_orphaned_interview_id_orphaned_interviews"),
        "webhook_events",
        type_="foreignkey",
    )
    op.drop_table("orphaned_interviews")
    op.drop_index("ix_webhook_events_cohort_id_received_at_id", table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index("ix_history_entries_application_id_at_id", table_name="history_entries")
    op.drop_table("history_entries")
    op.drop_index("uq_applications_cohort_id_contact_email", table_name="applications")
    op.drop_index("ix_applications_cohort_id_status", table_name="applications")
    op.drop_index("ix_applications_cohort_id_created_at_id", table_name="applications")
    op.drop_table("applications")
    op.drop_index(op.f("ix_cohorts_organization_id"), table_name="cohorts")
    op.drop_table("cohorts")
    op.drop_table("organizations")
