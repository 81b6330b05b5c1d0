import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId, HasTimestamps, StringEnum, one_of


class BookingState(StrEnum):
    ACTIVE = "active"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class Booking(HasId, HasTimestamps, Base):
    """One Cal.com booking (per attendee, for seated events) and what it is attached to.

    A booking attached to nothing is a cancellation (or the original of a reschedule) that
    arrived before its creation; it is kept so that the late creation is not applied.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("cohort_id", "uid", "applicant_email"),
        one_of("state", BookingState, "state"),
    )

    cohort_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    uid: Mapped[str]
    applicant_email: Mapped[str]
    applicant_name: Mapped[str | None]
    time_zone: Mapped[str | None]
    # Unknown for the original of a reschedule that arrived before the original's creation.
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    meeting_url: Mapped[str | None]
    state: Mapped[BookingState] = mapped_column(StringEnum(BookingState))
    application_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    orphaned_interview_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orphaned_interviews.id", ondelete="CASCADE"), index=True
    )
    rescheduled_from_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL")
    )
