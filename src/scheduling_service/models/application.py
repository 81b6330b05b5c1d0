import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId, HasTimestamps, one_of
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
    status: Mapped[str]
    interview_booking_uid: Mapped[str | None]
    interview_start_time: Mapped[datetime | None]
    interview_end_time: Mapped[datetime | None]
    interview_meeting_url: Mapped[str | None]
