"""application list indexes: status filter in keyset order, trigram search

Revision ID: 5b0f3c2e9a41
Revises: 1d8471ad612e
Create Date: 2026-11-24 08:35:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b0f3c2e9a41"
down_revision: str | None = "1d8471ad612e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A status filter reads its page straight from this index in the list's order (newest
    # first); (cohort_id, status) alone left a sort, or a walk through the other statuses.
    op.create_index(
        "ix_applications_cohort_id_status_created_at_id",
        "applications",
        ["cohort_id", "status", "created_at", "id"],
        unique=False,
    )
    op.drop_index("ix_applications_cohort_id_status", table_name="applications")
    # `q` (name or email contains, any case) with a rare term read the whole cohort.
    op.create_index(
        "ix_applications_applicant_name_trgm",
        "applications",
        ["applicant_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"applicant_name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_applications_contact_email_trgm",
        "applications",
        ["contact_email"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"contact_email": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index(
        "ix_applications_contact_email_trgm",
        table_name="applications",
        postgresql_using="gin",
        postgresql_ops={"contact_email": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_applications_applicant_name_trgm",
        table_name="applications",
        postgresql_using="gin",
        postgresql_ops={"applicant_name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_applications_cohort_id_status", "applications", ["cohort_id", "status"], unique=False
    )
    op.drop_index("ix_applications_cohort_id_status_created_at_id", table_name="applications")
