"""application search terms: the list's `q` served by a trigram index the webhook never writes

Revision ID: 3f9a6b0d5c17
Revises: 8c4e1f7a2d93
Create Date: 2026-11-29 17:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f9a6b0d5c17"
down_revision: str | None = "8c4e1f7a2d93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # GIN over the cohort too (btree_gin), so a search reads only its own cohort's matches.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_table(
        "application_search_terms",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("cohort_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("terms", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_search_terms_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "application_id", "field", name=op.f("pk_application_search_terms")
        ),
    )
    # Lowercased as the list's query lowers the pattern (as ILIKE does both, in UTF-8).
    op.execute(
        """
        CREATE FUNCTION application_search_terms_write() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO application_search_terms (application_id, cohort_id, field, terms)
            VALUES (NEW.id, NEW.cohort_id, 'applicant_name', lower(NEW.applicant_name)),
                   (NEW.id, NEW.cohort_id, 'contact_email', lower(NEW.contact_email))
            ON CONFLICT (application_id, field) DO UPDATE SET terms = EXCLUDED.terms;
            RETURN NULL;
        END
        $$
        """
    )
    # UPDATE OF: the webhook's updates (status, interview) never fire it.
    op.execute(
        """
        CREATE TRIGGER applications_search_terms
        AFTER INSERT OR UPDATE OF applicant_name, contact_email ON applications
        FOR EACH ROW EXECUTE FUNCTION application_search_terms_write()
        """
    )
    op.execute(
        """
        INSERT INTO application_search_terms (application_id, cohort_id, field, terms)
        SELECT id, cohort_id, 'applicant_name', lower(applicant_name) FROM applications
        UNION ALL
        SELECT id, cohort_id, 'contact_email', lower(contact_email) FROM applications
        """
    )
    op.create_index(
        "ix_application_search_terms_cohort_id_terms_trgm",
        "application_search_terms",
        ["cohort_id", "terms"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"terms": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER applications_search_terms ON applications")
    op.execute("DROP FUNCTION application_search_terms_write()")
    op.drop_table("application_search_terms")
