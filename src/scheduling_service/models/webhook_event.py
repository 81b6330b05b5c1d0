import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId, StringEnum, one_of


class WebhookOutcome(StrEnum):
    # Stored while the event's transaction applies it; never seen once it has committed.
    PENDING = "pending"
    MATCHED = "matched"
    ORPHANED = "orphaned"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"
    # Applying it raised; the delivery is kept and retried, or replayed by an admin.
    FAILED = "failed"


class EventSource(StrEnum):
    WEBHOOK = "webhook"
    # Found by asking Cal.com's bookings API (`scheduling_service.reconciliation`).
    RECONCILIATION = "reconciliation"


class WebhookEvent(HasId, Base):
    """One accepted Cal.com delivery: the event log."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("cohort_id", "event_id"),
        one_of("outcome", WebhookOutcome, "outcome"),
        one_of("source", EventSource, "source"),
        Index("ix_webhook_events_cohort_id_received_at_id", "cohort_id", "received_at", "id"),
        Index(
            "ix_webhook_events_retry_due",
            "next_attempt_at",
            postgresql_where=text("outcome = 'failed' AND next_attempt_at IS NOT NULL"),
        ),
    )

    cohort_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    event_id: Mapped[str]
    trigger: Mapped[str | None]
    outcome: Mapped[WebhookOutcome] = mapped_column(StringEnum(WebhookOutcome))
    reason: Mapped[str | None]
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    application_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("applications.id", ondelete="SET NULL")
    )
    orphaned_interview_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orphaned_interviews.id", ondelete="SET NULL", use_alter=True)
    )
    received_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # When a failed event is retried next; None once retries are exhausted (replay by hand).
    next_attempt_at: Mapped[datetime | None]
    source: Mapped[EventSource] = mapped_column(
        StringEnum(EventSource), server_default=EventSource.WEBHOOK
    )
