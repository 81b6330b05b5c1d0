import uuid
from datetime import datetime

from pydantic import Field

from scheduling_service.models import WebhookOutcome
from scheduling_service.schemas import ApiModel


class WebhookAnswer(ApiModel):
    event_id: str = Field(description="SHA-256 of triggerEvent, payload.uid and createdAt.")
    outcome: WebhookOutcome
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
    body: str = Field(description="The delivery as Cal.com sent it.")
