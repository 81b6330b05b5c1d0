import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasTimestamps


class CalcomConnection(HasTimestamps, Base):
    """A cohort's Cal.com API connection, and where its reconciliation stands (SPEC 3b)."""

    __tablename__ = "calcom_connections"

    cohort_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True
    )
    # Fernet token (`reconciliation.secrets`); the key itself is never stored in clear.
    api_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    base_url: Mapped[str]
    event_type_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    # Cal.com's `updatedAt` (or `createdAt`) of the latest booking a run has applied.
    watermark: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None]
    # When Cal.com started refusing the key; set once, so the admins are alerted once.
    key_rejected_at: Mapped[datetime | None]
    # One replica reconciles a cohort at a time: whoever holds an unexpired lease.
    lease_owner: Mapped[str | None]
    lease_expires_at: Mapped[datetime | None]
