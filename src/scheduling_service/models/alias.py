import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId


class ApplicationEmailAlias(HasId, Base):
    """Another email an applicant books with, learnt when an admin matched an orphan."""

    __tablename__ = "application_email_aliases"
    __table_args__ = (UniqueConstraint("cohort_id", "email"),)

    cohort_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    email: Mapped[str]
    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
