import uuid
from datetime import datetime

from pydantic import Field

from scheduling_service.applications.schemas import ApplicationOut
from scheduling_service.models import HistoryCause, HistoryKind, OrphanState
from scheduling_service.schemas import ApiModel, Reason


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


class Candidate(ApiModel):
    application: ApplicationOut
    score: float = Field(description="0 to 1; higher is more likely the booker.")
    reasons: list[str]


class OrphanHistoryEntry(ApiModel):
    at: datetime
    kind: HistoryKind
    cause: HistoryCause
    actor: str
    reason: str | None
    application_id: uuid.UUID | None


class OrphanedInterviewDetail(OrphanedInterviewOut):
    time_zone: str | None = Field(description="The booker's time zone, as Cal.com sent it.")
    candidates: list[Candidate] = Field(description="Applications most like the booker first.")
    history: list[OrphanHistoryEntry]


class MatchRequest(ApiModel):
    application_id: uuid.UUID


class DismissRequest(ApiModel):
    reason: Reason | None = None


class MatchResult(ApiModel):
    orphaned_interview: OrphanedInterviewOut
    application: ApplicationOut
