import uuid
from datetime import datetime

from pydantic import Field

from scheduling_service.models import CalcomConnection
from scheduling_service.schemas import ApiModel, Email, Name, examples

_ORGANIZATION_ID = "5b0c2f0e-8a4d-4d6e-9d3a-2f1c7e6b9a10"
_COHORT_ID = "0f3e5a8c-1b2d-4c6e-8f9a-3d5b7c9e1a20"
_WEBHOOK_URL = f"https://scheduling.example.org/webhooks/calcom/{_COHORT_ID}"
_CONNECTION = {
    # Cal.com's cloud, `reconciliation.client.DEFAULT_BASE_URL`: written out, since importing
    # it would make organizations depend on reconciliation, which depends on organizations.
    "base_url": "https://api.cal.com",
    "event_type_ids": [1204512],
    "last_run_at": "2026-05-12T14:10:00Z",
    "last_success_at": "2026-05-12T14:10:00Z",
    "last_error": None,
    "watermark": "2026-05-12T14:08:31Z",
}
_COHORT = {
    "id": _COHORT_ID,
    "organization_id": _ORGANIZATION_ID,
    "name": "Spring 2026",
    "webhook_url": _WEBHOOK_URL,
    "calcom_connection": None,
    "created_at": "2026-01-05T09:00:00Z",
    "updated_at": "2026-01-05T09:00:00Z",
}
_SECRET = "8c1f9a4e6b2d0c7f3e5a9b1d8c6e4f2a0b9d7c5e3f1a8b6d4c2e0f9a7b5d3c1e"


class OrganizationCreate(ApiModel):
    model_config = examples({"name": "Acme Fellowship", "admin_emails": ["admin@acme.example"]})

    name: Name
    admin_emails: list[Email] = Field(default_factory=list, max_length=50)


class OrganizationUpdate(ApiModel):
    model_config = examples(
        {"name": "Acme Fellowship 2026"},
        {"admin_emails": ["admin@acme.example", "ops@acme.example"]},
    )

    name: Name | None = None
    admin_emails: list[Email] | None = Field(default=None, max_length=50)


class OrganizationOut(ApiModel):
    model_config = examples(
        {
            "id": _ORGANIZATION_ID,
            "name": "Acme Fellowship",
            "admin_emails": ["admin@acme.example"],
            "created_at": "2026-01-05T08:30:00Z",
            "updated_at": "2026-01-05T08:30:00Z",
        }
    )

    id: uuid.UUID
    name: str
    admin_emails: list[str]
    created_at: datetime
    updated_at: datetime


class CohortCreate(ApiModel):
    model_config = examples({"name": "Spring 2026"})

    name: Name


class CalcomConnectionOut(ApiModel):
    model_config = examples(_CONNECTION)

    base_url: str
    event_type_ids: list[int]
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None = Field(description="Why the last run failed; null once one succeeds.")
    watermark: datetime | None = Field(
        description="The latest booking change applied, by Cal.com's clock; the next run asks "
        "for changes since it (minus RECONCILE_OVERLAP_SECONDS)."
    )

    @classmethod
    def of(cls, connection: CalcomConnection | None) -> "CalcomConnectionOut | None":
        return None if connection is None else cls.model_validate(connection)


class CohortOut(ApiModel):
    model_config = examples(_COHORT)

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    webhook_url: str = Field(description="The URL to paste into Cal.com's webhook settings.")
    calcom_connection: CalcomConnectionOut | None = Field(
        description="The Cal.com API connection and how reconciliation stands; null without one."
    )
    created_at: datetime
    updated_at: datetime


class CohortCreated(CohortOut):
    model_config = examples({**_COHORT, "webhook_secret": _SECRET})

    webhook_secret: str = Field(
        description="The secret to paste into Cal.com. Shown only here and on rotation."
    )


class SecretRotated(ApiModel):
    model_config = examples(
        {"webhook_secret": _SECRET, "previous_secret_expires_at": "2026-02-02T10:15:00Z"}
    )

    webhook_secret: str
    previous_secret_expires_at: datetime
