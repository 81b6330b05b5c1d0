import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId, HasTimestamps, StringEnum, one_of


class OrphanState(StrEnum):
    OPEN = "open"
    MATCHED = "matched"
    DISMISSED = "dismissed"
    CANCELLED = "cancelled"


class OrphanedInterview(HasId, HasTimestamps, Base):
    __tablename__ = "orphaned_interviews"
    __table_args__ = (
        one_of("state", OrphanState, "state"),
        Index(
            "ix_orphaned_interviews_cohort_id_state_created_at_id",
            "cohort_id",
            "state",
            "created_at",
            "id",
        ),
        # The badge counts only open orphans; a partial index keeps that count small.
        Index(
            "ix_orphaned_interviews_open_cohort_id",
            "cohort_id",
            postgresql_where=text("state = 'open'"),
        ),
    )

    cohort_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    state: Mapped[OrphanState] = mapped_column(StringEnum(OrphanState))
    applicant_name: Mapped[str | None]
    applicant_email: Mapped[str]
    time_zone: Mapped[str | None]
    booking_uid: Mapped[str]
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    meeting_url: Mapped[str | None]
    webhook_event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None]
    resolution_reason: Mapped[str | None]
    application_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("applications.id", ondelete="SET NULL")
    )
