"""drop the trigram indexes on applications: they taxed every webhook

Revision ID: 8c4e1f7a2d93
Revises: 5b0f3c2e9a41
Create Date: 2026-11-29 16:30:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8c4e1f7a2d93"
down_revision: str | None = "5b0f3c2e9a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A webhook that moves a status rewrites the application row (no HOT update: the status is
    # indexed) and so re-inserted its trigrams into both: 0.1-0.2 ms of PostgreSQL per event,
    # and searches slowed by GIN's pending list (bench/RESULTS.md).
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


def downgrade() -> None:
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
