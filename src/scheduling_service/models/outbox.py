import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, func, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId, StringEnum, one_of


class MessageKind(StrEnum):
    ORPHAN_ALERT = "orphan_alert"
    ORPHAN_DIGEST = "orphan_digest"
    # An orphan whose alert the dispatcher decides (alert or digest): the recipient's lock was
    # held when its transaction wrote it, and waiting for it there would hold a pooled
    # connection (notifications/service.py).
    ORPHAN_UNDECIDED = "orphan_undecided"
    # Cal.com refused the cohort's API key: reconciliation stopped until an admin sets another.
    CALCOM_KEY_REJECTED = "calcom_key_rejected"


class MessageState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(HasId, Base):
    """An email to send after the transaction that wrote it commits (transactional outbox).

    The message is rendered when it is sent, from the orphaned interviews it names, so it
    shows their latest details; a digest gathers the orphans of a rate-limited burst.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        one_of("kind", MessageKind, "kind"),
        one_of("state", MessageState, "state"),
        Index(
            "ix_outbox_messages_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
        # The rate limit's questions name a kind: a recipient's alerts in the window, their
        # waiting digest, their undecided orphans; never every message they ever had.
        Index(
            "ix_outbox_messages_cohort_id_recipient_kind_created_at",
            "cohort_id",
            "recipient",
            "kind",
            "created_at",
        ),
    )

    cohort_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    recipient: Mapped[str]
    kind: Mapped[MessageKind] = mapped_column(StringEnum(MessageKind))
    orphaned_interview_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    state: Mapped[MessageState] = mapped_column(
        StringEnum(MessageState), server_default=MessageState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_error: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
