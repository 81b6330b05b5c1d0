import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from scheduling_service.models import HistoryCause, HistoryKind
from scheduling_service.pipeline import PipelineState, Stage, Status
from scheduling_service.schemas import ApiModel, Email, Name, Reason


class ApplicationCreate(ApiModel):
    applicant_name: Name
    contact_email: Email
    status: Status = Field(
        default=Status.SUBMITTED,
        description="Any status but the `*_scheduled` ones, which only a booking reaches.",
    )


class StatusMove(ApiModel):
    status: Status
    reason: Reason | None = None


class Interview(ApiModel):
    booking_uid: str
    start_time: datetime
    end_time: datetime
    meeting_url: str | None


class PipelineView(ApiModel):
    state: PipelineState
    round: int | None = Field(description="1 or 2 for the interview rounds, else null.")
    start_time: datetime | None
    end_time: datetime | None
    is_past: bool = Field(description="True once the scheduled interview has ended.")


class ApplicationOut(ApiModel):
    id: uuid.UUID
    cohort_id: uuid.UUID
    applicant_name: str
    contact_email: str
    status: Status
    current_stage: Stage
    interview: Interview | None
    pipeline: PipelineView
    created_at: datetime
    updated_at: datetime


class HistoryEntryOut(ApiModel):
    id: uuid.UUID
    at: datetime
    kind: HistoryKind
    from_status: Status | None
    to_status: Status | None
    interview: dict[str, Any] | None
    cause: HistoryCause
    event_id: str | None = Field(description="The webhook event that caused it, if any.")
    actor: str
    reason: str | None
