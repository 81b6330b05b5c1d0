"""candidate search terms: an orphan's candidates ranked from indexed terms, not a cohort scan

Revision ID: 6d2b9e4f1a38
Revises: 6e2d4b8a1c35
Create Date: 2026-11-30 10:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6d2b9e4f1a38"
down_revision: str | None = "6e2d4b8a1c35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WRITE_TERMS = """
CREATE OR REPLACE FUNCTION application_search_terms_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO application_search_terms
        (application_id, cohort_id, field, terms, canonical_email, email_local)
    VALUES (NEW.id, NEW.cohort_id, 'applicant_name', lower(NEW.applicant_name), NULL, NULL),
           (NEW.id, NEW.cohort_id, 'contact_email', lower(NEW.contact_email),
            canonical_email(NEW.contact_email),
            split_part(canonical_email(NEW.contact_email), '@', 1))
    ON CONFLICT (application_id, field) DO UPDATE
        SET terms = EXCLUDED.terms, canonical_email = EXCLUDED.canonical_email,
            email_local = EXCLUDED.email_local;
    RETURN NULL;
END
$$
"""

_WRITE_TERMS_BEFORE = """
CREATE OR REPLACE FUNCTION application_search_terms_write() RETURNS trigger
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


def upgrade() -> None:
    # The one definition of "the same email ignoring dots and +tags", for the stored terms and
    # the orphan's email alike.
    op.execute(
        r"""
        CREATE FUNCTION canonical_email(email text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT regexp_replace(split_part(lower(email), '@', 1), '\+.*$|\.', '', 'g')
                || '@' || split_part(lower(email), '@', 2)
        $$
        """
    )
    op.add_column(
        "application_search_terms", sa.Column("canonical_email", sa.String(), nullable=True)
    )
    op.add_column("application_search_terms", sa.Column("email_local", sa.String(), nullable=True))
    op.execute(_WRITE_TERMS)
    op.execute(
        "UPDATE application_search_terms t SET canonical_email = canonical_email(a.contact_email),"
        " email_local = split_part(canonical_email(a.contact_email), '@', 1)"
        " FROM applications a WHERE a.id = t.application_id AND t.field = 'contact_email'"
    )
    op.create_index(
        "ix_application_search_terms_cohort_id_canonical_email",
        "application_search_terms",
        ["cohort_id", "canonical_email"],
        unique=False,
        postgresql_where=sa.text("canonical_email IS NOT NULL"),
    )
    # An orphan of the list looks for the same name only: an index read, no trigram search,
    # the first few of a common name in the order the ranking breaks ties.
    op.create_index(
        "ix_application_search_terms_cohort_id_name",
        "application_search_terms",
        ["cohort_id", "terms", "application_id"],
        unique=False,
        postgresql_where=sa.text("field = 'applicant_name'"),
    )
    # The local part alone: every address of a domain shares its trigrams, so whole addresses
    # are all "similar" to each other (at 1,000,000 applications of one domain, each was).
    op.create_index(
        "ix_application_search_terms_cohort_id_email_local_trgm",
        "application_search_terms",
        ["cohort_id", "email_local"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"email_local": "gin_trgm_ops"},
        postgresql_where=sa.text("email_local IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_application_search_terms_cohort_id_name",
        table_name="application_search_terms",
        postgresql_where=sa.text("field = 'applicant_name'"),
    )
    op.drop_index(
        "ix_application_search_terms_cohort_id_email_local_trgm",
        table_name="application_search_terms",
        postgresql_using="gin",
        postgresql_ops={"email_local": "gin_trgm_ops"},
        postgresql_where=sa.text("email_local IS NOT NULL"),
    )
    op.drop_index(
        "ix_application_search_terms_cohort_id_canonical_email",
        table_name="application_search_terms",
        postgresql_where=sa.text("canonical_email IS NOT NULL"),
    )
    op.execute(_WRITE_TERMS_BEFORE)
    op.drop_column("application_search_terms", "email_local")
    op.drop_column("application_search_terms", "canonical_email")
    op.execute("DROP FUNCTION canonical_email(text)")
