import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId, StringEnum, one_of
from scheduling_service.pipeline import Status


class HistoryKind(StrEnum):
    STATUS = "status"
    INTERVIEW_SCHEDULED = "interview_scheduled"
    INTERVIEW_RESCHEDULED = "interview_rescheduled"
    INTERVIEW_CANCELLED = "interview_cancelled"
    DOUBLE_BOOKING = "double_booking"
    NO_SHOW = "no_show"
    MATCH = "match"
    DISMISSAL = "dismissal"


class HistoryCause(StrEnum):
    WEBHOOK = "webhook"
    RECONCILIATION = "reconciliation"
    MANUAL_MATCH = "manual_match"
    DISMISSAL = "dismissal"
    ADMIN = "admin"


class HistoryEntry(HasId, Base):
    __tablename__ = "history_entries"
    __table_args__ = (
        one_of("kind", HistoryKind, "kind"),
        one_of("cause", HistoryCause, "cause"),
        Index("ix_history_entries_application_id_at_id", "application_id", "at", "id"),
        Index(
            "ix_history_entries_orphaned_interview_id_at_id",
            "orphaned_interview_id",
            "at",
            "id",
        ),
        CheckConstraint(
            "application_id IS NOT NULL OR orphaned_interview_id IS NOT NULL", name="subject"
        ),
    )

    # An entry is about an application, an orphaned interview (a dismissal), or both (a match).
    application_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE")
    )
    orphaned_interview_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orphaned_interviews.id", ondelete="CASCADE")
    )
    # clock_timestamp, not now(): entries written in one transaction keep their order.
    at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    kind: Mapped[HistoryKind] = mapped_column(StringEnum(HistoryKind))
    from_status: Mapped[Status | None] = mapped_column(StringEnum(Status))
    to_status: Mapped[Status | None] = mapped_column(StringEnum(Status))
    interview: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # A double booking's earlier live booking, or the one a cancellation fell back on.
    other_interview: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    cause: Mapped[HistoryCause] = mapped_column(StringEnum(HistoryCause))
    event_id: Mapped[str | None]
    actor: Mapped[str]
    reason: Mapped[str | None]
