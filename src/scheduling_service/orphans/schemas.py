import uuid
from datetime import datetime

from scheduling_service.models import OrphanState
from scheduling_service.schemas import ApiModel


class OrphanedInterviewOut(ApiModel):
    id: uuid.UUID
    cohort_id: uuid.UUID
    state: OrphanState
    applicant_name: str | None
    applicant_email: str
    booking_uid: str
    start_time: datetime
    end_time: datetime
    meeting_url: str | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    application_id: uuid.UUID | None


class OpenCount(ApiModel):
    open: int
