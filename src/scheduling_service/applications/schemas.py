import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from scheduling_service.models import HistoryCause, HistoryKind
from scheduling_service.pipeline import CreatableStatus, PipelineState, Stage, Status
from scheduling_service.schemas import ApiModel, Email, Name, Reason, examples

_INTERVIEW = {
    "booking_uid": "kZ3rT9mPqW2xYb7NcV4dHs",
    "start_time": "2026-05-12T14:00:00Z",
    "end_time": "2026-05-12T14:30:00Z",
    "meeting_url": "https://app.cal.com/video/kZ3rT9mPqW2xYb7NcV4dHs",
    "no_show": None,
}
_PIPELINE = {
    "state": "scheduled",
    "round": 1,
    "start_time": "2026-05-12T14:00:00Z",
    "end_time": "2026-05-12T14:30:00Z",
    "is_past": False,
    "no_show": False,
}
# An application whose first-round interview is booked; the orphans' examples reuse it.
APPLICATION_EXAMPLE = {
    "id": "7d9e1f3a-5b7c-4d9e-8f1a-3b5c7d9e1f30",
    "cohort_id": "0f3e5a8c-1b2d-4c6e-8f9a-3d5b7c9e1a20",
    "applicant_name": "Jane Doe",
    "contact_email": "jane.doe@example.com",
    "status": "first_round_scheduled",
    "current_stage": "first_round",
    "interview": _INTERVIEW,
    "pipeline": _PIPELINE,
    "created_at": "2026-04-20T10:00:00Z",
    "updated_at": "2026-05-04T09:12:46Z",
}


class ApplicationCreate(ApiModel):
    model_config = examples(
        {
            "applicant_name": "Jane Doe",
            "contact_email": "jane.doe@example.com",
            "status": "waiting_first_round",
        }
    )

    applicant_name: Name
    contact_email: Email
    status: CreatableStatus = Field(
        default=CreatableStatus.SUBMITTED,
        description="`submitted` when left out. Any status but the `*_scheduled` ones, which "
        "only a booking reaches.",
    )


class StatusMove(ApiModel):
    model_config = examples(
        {"status": "waiting_second_round", "reason": "Passed the first round"},
        {"status": "accepted"},
    )

    status: Status
    reason: Reason | None = None


class NoShow(ApiModel):
    model_config = examples({"attendees": ["jane.doe@example.com"], "host": False})

    attendees: list[str] = Field(description="The attendees' emails Cal.com marks absent.")
    host: bool = Field(description="Whether Cal.com marks the host absent.")


class Interview(ApiModel):
    model_config = examples(_INTERVIEW)

    booking_uid: str
    start_time: datetime
    end_time: datetime
    meeting_url: str | None
    no_show: NoShow | None = Field(
        description="Who the host marked absent in Cal.com (`BOOKING_NO_SHOW_UPDATED`); null "
        "while nobody is, or once the marks are cleared."
    )

    @model_validator(mode="before")
    @classmethod
    def _stored_before_no_shows(cls, data: Any) -> Any:
        # History entries written before no-shows were recorded have no `no_show` key.
        if isinstance(data, dict) and "no_show" not in data:
            return {**data, "no_show": None}
        return data


class PipelineView(ApiModel):
    model_config = examples(
        _PIPELINE,
        {
            "state": "awaiting_scheduling",
            "round": 2,
            "start_time": None,
            "end_time": None,
            "is_past": False,
            "no_show": False,
        },
    )

    state: PipelineState
    round: int | None = Field(description="1 or 2 for the interview rounds, else null.")
    start_time: datetime | None
    end_time: datetime | None
    is_past: bool = Field(description="True once the scheduled interview has ended.")
    no_show: bool = Field(
        description="True while Cal.com marks someone (an attendee, or the host) absent from "
        "the interview, so the column can show it did not take place."
    )


class ApplicationOut(ApiModel):
    model_config = examples(APPLICATION_EXAMPLE)

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
    model_config = examples(
        {
            "id": "2a4c6e8f-0b1d-4f3a-9c5e-7a9b1c3d5e70",
            "at": "2026-05-04T09:12:46Z",
            "kind": "interview_scheduled",
            "from_status": "waiting_first_round",
            "to_status": "first_round_scheduled",
            "interview": _INTERVIEW,
            "other_interview": None,
            "cause": "webhook",
            "event_id": "3f7a9c1e5b2d8f4a6c0e9b7d5f3a1c8e6b4d2f0a9c7e5b3d1f8a6c4e2b0d9f7a",
            "actor": "calcom",
            "reason": None,
        }
    )

    id: uuid.UUID
    at: datetime
    kind: HistoryKind
    from_status: Status | None
    to_status: Status | None
    interview: Interview | None
    other_interview: Interview | None = Field(
        description="For `double_booking`, the application's other live booking (`interview` "
        "is the new one, now current); for a cancellation of the current interview while "
        "another live booking remains, that booking, now current."
    )
    cause: HistoryCause
    event_id: str | None = Field(description="The webhook event that caused it, if any.")
    actor: str
    reason: str | None
