import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from scheduling_service.models.base import Base, HasId, HasTimestamps


class Organization(HasId, HasTimestamps, Base):
    __tablename__ = "organizations"

    name: Mapped[str]
    admin_emails: Mapped[list[str]] = mapped_column(ARRAY(Text))


class Cohort(HasId, HasTimestamps, Base):
    __tablename__ = "cohorts"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str]
    webhook_secret: Mapped[str]
    previous_webhook_secret: Mapped[str | None]
    previous_secret_expires_at: Mapped[datetime | None]
