import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from scheduling_service.models import WebhookOutcome
from scheduling_service.schemas import ApiModel


class DeliveryOutcome(StrEnum):
    """What became of a delivery, as its answer says."""

    MATCHED = "matched"
    ORPHANED = "orphaned"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    FAILED = "failed"
    QUEUED = "queued"


class WebhookAnswer(ApiModel):
    event_id: str = Field(description="SHA-256 of triggerEvent, payload.uid and createdAt.")
    outcome: DeliveryOutcome
    application_id: uuid.UUID | None = None
    orphaned_interview_id: uuid.UUID | None = None


class WebhookEventOut(ApiModel):
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
    body: str = Field(description="The delivery as Cal.com sent it.")
