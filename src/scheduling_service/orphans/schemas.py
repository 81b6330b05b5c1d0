import uuid
from datetime import datetime

from pydantic import Field

from scheduling_service.applications.schemas import APPLICATION_EXAMPLE, ApplicationOut
from scheduling_service.models import HistoryCause, HistoryKind, OrphanState
from scheduling_service.schemas import ApiModel, Page, Reason, examples

_ORPHAN = {
    "id": "4e6a8c0e-2f4b-4d6f-8a0c-2e4a6c8e0f50",
    "cohort_id": "0f3e5a8c-1b2d-4c6e-8f9a-3d5b7c9e1a20",
    "state": "open",
    "applicant_name": "Jane M. Doe",
    "applicant_email": "jane.m.doe@example.net",
    "booking_uid": "pQ8sW3eR5tY7uI9oA1sD2f",
    "start_time": "2026-05-13T10:00:00Z",
    "end_time": "2026-05-13T10:30:00Z",
    "meeting_url": "https://app.cal.com/video/pQ8sW3eR5tY7uI9oA1sD2f",
    "created_at": "2026-05-05T16:20:00Z",
    "resolved_at": None,
    "resolved_by": None,
    "application_id": None,
}
_MATCHED_ORPHAN = {
    **_ORPHAN,
    "state": "matched",
    "resolved_at": "2026-05-06T08:45:00Z",
    "resolved_by": "admin@acme.example",
    "application_id": APPLICATION_EXAMPLE["id"],
}
_CANDIDATE = {
    "application": APPLICATION_EXAMPLE,
    "score": 0.82,
    "reasons": ["similar name (0.91)", "similar email (0.87)"],
}
_ORPHAN_HISTORY = {
    "at": "2026-05-05T16:20:00Z",
    "kind": "interview_scheduled",
    "cause": "webhook",
    "actor": "calcom",
    "reason": None,
    "application_id": None,
}


class OrphanedInterviewOut(ApiModel):
    model_config = examples(_ORPHAN)

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
    model_config = examples({"open": 3})

    open: int


class Candidate(ApiModel):
    model_config = examples(_CANDIDATE)

    application: ApplicationOut
    score: float = Field(description="0 to 1; higher is more likely the booker.")
    reasons: list[str]


class ListedOrphanedInterview(OrphanedInterviewOut):
    model_config = examples({**_ORPHAN, "candidates": [_CANDIDATE]})

    candidates: list[Candidate] = Field(
        description="For an open orphaned interview, up to 3 applications with the booker's "
        "email (ignoring dots and +tags) or name, best first, exactly as the detail shows "
        "them; the detail also lists those that are only similar. Empty for one no longer open."
    )


class OrphanedInterviewPage(Page[ListedOrphanedInterview]):
    """The list's page: named for the resource, since its items carry candidates."""


class OrphanHistoryEntry(ApiModel):
    model_config = examples(_ORPHAN_HISTORY)

    at: datetime
    kind: HistoryKind
    cause: HistoryCause
    actor: str
    reason: str | None
    application_id: uuid.UUID | None


class OrphanedInterviewDetail(OrphanedInterviewOut):
    model_config = examples(
        {
            **_ORPHAN,
            "time_zone": "Europe/London",
            "candidates": [_CANDIDATE],
            "history": [_ORPHAN_HISTORY],
        }
    )

    time_zone: str | None = Field(description="The booker's time zone, as Cal.com sent it.")
    candidates: list[Candidate] = Field(description="Applications most like the booker first.")
    history: list[OrphanHistoryEntry]


class MatchRequest(ApiModel):
    model_config = examples({"application_id": APPLICATION_EXAMPLE["id"]})

    application_id: uuid.UUID


class DismissRequest(ApiModel):
    model_config = examples({"reason": "A test booking by the team"}, {})

    reason: Reason | None = None


class MatchResult(ApiModel):
    model_config = examples(
        {"orphaned_interview": _MATCHED_ORPHAN, "application": APPLICATION_EXAMPLE}
    )

    orphaned_interview: OrphanedInterviewOut
    application: ApplicationOut
