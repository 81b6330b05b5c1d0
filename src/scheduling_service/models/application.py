import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId, HasTimestamps, StringEnum, one_of
from scheduling_service.pipeline import Status


class Application(HasId, HasTimestamps, Base):
    __tablename__ = "applications"
    __table_args__ = (
        one_of("status", Status, "status"),
        CheckConstraint(
            "(interview_booking_uid IS NULL) = (interview_start_time IS NULL)"
            " AND (interview_start_time IS NULL) = (interview_end_time IS NULL)",
            name="interview_complete",
        ),
        # Emails are unique per cohort in any case, as matching compares them.
        Index(
            "uq_applications_cohort_id_contact_email",
            "cohort_id",
            text("lower(contact_email)"),
            unique=True,
        ),
        # The list's keyset order (newest first), without a filter and with a status filter.
        Index("ix_applications_cohort_id_created_at_id", "cohort_id", "created_at", "id"),
        Index(
            "ix_applications_cohort_id_status_created_at_id",
            "cohort_id",
            "status",
            "created_at",
            "id",
        ),
    )

    cohort_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    applicant_name: Mapped[str]
    contact_email: Mapped[str]
    status: Mapped[Status] = mapped_column(StringEnum(Status))
    interview_booking_uid: Mapped[str | None]
    interview_start_time: Mapped[datetime | None]
    interview_end_time: Mapped[datetime | None]
    interview_meeting_url: Mapped[str | None]
    # Who Cal.com marked absent from the current interview: {"attendees": [...], "host": bool},
    # or null when nobody is.
    interview_no_show: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ApplicationSearchTerms(Base):
    """An application's name and its contact email, lowercased, a row each, for the list's `q`
    and an orphan's candidates.

    A trigram index here finds a rare term without reading the whole cohort. It lives apart
    from `applications` because a webhook rewrites the application row with every status it
    moves, and re-inserted its trigrams when the index was there (bench/RESULTS.md). Written
    by the trigger `applications_search_terms` (migration 2026_11_29_1700) when an
    application is inserted or its name or email is updated, never by the webhook's updates.
    """

    __tablename__ = "application_search_terms"
    __table_args__ = (
        # The cohort in the same GIN index (btree_gin): a search reads its own cohort's matches.
        Index(
            "ix_application_search_terms_cohort_id_terms_trgm",
            "cohort_id",
            "terms",
            postgresql_using="gin",
            postgresql_ops={"terms": "gin_trgm_ops"},
        ),
        Index(
            "ix_application_search_terms_cohort_id_canonical_email",
            "cohort_id",
            "canonical_email",
            postgresql_where=text("canonical_email IS NOT NULL"),
        ),
        Index(
            "ix_application_search_terms_cohort_id_name",
            "cohort_id",
            "terms",
            "application_id",
            postgresql_where=text("field = 'applicant_name'"),
        ),
        Index(
            "ix_application_search_terms_cohort_id_email_local_trgm",
            "cohort_id",
            "email_local",
            postgresql_using="gin",
            postgresql_ops={"email_local": "gin_trgm_ops"},
            postgresql_where=text("email_local IS NOT NULL"),
        ),
    )

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    )
    cohort_id: Mapped[uuid.UUID]
    field: Mapped[str] = mapped_column(primary_key=True)
    """`applicant_name` or `contact_email`: a row each, so no term spans the two."""
    terms: Mapped[str]
    canonical_email: Mapped[str | None]
    """On the `contact_email` row: the SQL function `canonical_email` of it (the email without
    dots or a `+tag` in its local part), for an orphan's candidates (migration 2026_11_30_1030)."""
    email_local: Mapped[str | None]
    """On the `contact_email` row: the local part of `canonical_email`, whose trigrams find a
    similar email (a domain's trigrams are every address's)."""
