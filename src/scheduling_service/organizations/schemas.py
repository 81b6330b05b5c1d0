import uuid
from datetime import datetime

from pydantic import Field

from scheduling_service.schemas import ApiModel, Email, Name


class OrganizationCreate(ApiModel):
    name: Name
    admin_emails: list[Email] = Field(default_factory=list, max_length=50)


class OrganizationUpdate(ApiModel):
    name: Name | None = None
    admin_emails: list[Email] | None = Field(default=None, max_length=50)


class OrganizationOut(ApiModel):
    id: uuid.UUID
    name: str
    admin_emails: list[str]
    created_at: datetime
    updated_at: datetime


class CohortCreate(ApiModel):
    name: Name


class CohortOut(ApiModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    webhook_url: str = Field(description="The URL to paste into Cal.com's webhook settings.")
    created_at: datetime
    updated_at: datetime


class CohortCreated(CohortOut):
    webhook_secret: str = Field(
        description="The secret to paste into Cal.com. Shown only here and on rotation."
    )


class SecretRotated(ApiModel):
    webhook_secret: str
    previous_secret_expires_at: datetime
