import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from scheduling_service.models import EventSource, WebhookOutcome
from scheduling_service.schemas import ApiModel, examples

_EVENT_ID = "3f7a9c1e5b2d8f4a6c0e9b7d5f3a1c8e6b4d2f0a9c7e5b3d1f8a6c4e2b0d9f7a"


class DeliveryOutcome(StrEnum):
    """What became of a delivery, as its answer says."""

    MATCHED = "matched"
    ORPHANED = "orphaned"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    FAILED = "failed"
    QUEUED = "queued"


class WebhookAnswer(ApiModel):
    model_config = examples(
        {
            "event_id": _EVENT_ID,
            "outcome": "matched",
            "application_id": "7d9e1f3a-5b7c-4d9e-8f1a-3b5c7d9e1f30",
            "orphaned_interview_id": None,
        },
        {
            "event_id": _EVENT_ID,
            "outcome": "orphaned",
            "application_id": None,
            "orphaned_interview_id": "4e6a8c0e-2f4b-4d6f-8a0c-2e4a6c8e0f50",
        },
    )

    event_id: str = Field(description="SHA-256 of triggerEvent, payload.uid and createdAt.")
    outcome: DeliveryOutcome
    application_id: uuid.UUID | None = Field(description="The application it changed, if any.")
    orphaned_interview_id: uuid.UUID | None = Field(
        description="The orphaned interview it created or changed, if any."
    )


class WebhookEventOut(ApiModel):
    model_config = examples(
        {
            "id": "9b1d3f5a-7c9e-4b1d-8f3a-5c7e9b1d3f60",
            "event_id": _EVENT_ID,
            "trigger": "BOOKING_CREATED",
            "outcome": "matched",
            "reason": None,
            "application_id": "7d9e1f3a-5b7c-4d9e-8f1a-3b5c7d9e1f30",
            "orphaned_interview_id": None,
            "received_at": "2026-05-04T09:12:46Z",
            "attempts": 0,
            "next_attempt_at": None,
            "source": "webhook",
            "body": '{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-05-04T09:12:45.123Z",'
            '"payload":{"uid":"kZ3rT9mPqW2xYb7NcV4dHs"}}',
        }
    )

    id: uuid.UUID
    event_id: str
    trigger: str | None
    outcome: WebhookOutcome
    reason: str | None
    application_id: uuid.UUID | None
    orphaned_interview_id: uuid.UUID | None
    received_at: datetime
    attempts: int = Field(description="How often applying it failed.")
    next_attempt_at: datetime | None = Field(description="When a failed event is retried next.")
    source: EventSource = Field(
        description="`webhook`: delivered by Cal.com; `reconciliation`: found in Cal.com's "
        "bookings API, the body being the delivery Cal.com would have sent."
    )
    body: str = Field(description="The delivery as Cal.com sent it.")
