import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import httpx
from pydantic import AfterValidator, AwareDatetime, Field, SecretStr, StringConstraints

from scheduling_service.models import WebhookOutcome
from scheduling_service.reconciliation.client import DEFAULT_BASE_URL
from scheduling_service.reconciliation.plan import ChangeKind
from scheduling_service.schemas import ApiModel, examples

if TYPE_CHECKING:
    from scheduling_service.reconciliation.service import Applied, RunResult

_UID = "kZ3rT9mPqW2xYb7NcV4dHs"


def _http_url(value: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if (
        url is None
        or url.scheme not in ("https", "http")
        or not url.host
        or not (url.port is None or 0 < url.port < 65536)
        or any(c.isspace() for c in value)
    ):
        raise ValueError("must be an http(s) URL, such as https://api.cal.com")
    return value.rstrip("/")


BaseUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_http_url)
]


def _header_safe(value: SecretStr) -> SecretStr:
    # Sent in a header: printable ASCII without spaces (Cal.com's keys are `cal_live_...`).
    if not all("!" <= c <= "~" for c in value.get_secret_value()):
        raise ValueError("must be printable ASCII without spaces")
    return value


ApiKey = Annotated[SecretStr, AfterValidator(_header_safe)]


class CalcomConnectionIn(ApiModel):
    model_config = examples(
        {"api_key": "cal_live_0123456789abcdef", "event_type_ids": [1204512]},
        {"api_key": "cal_live_0123456789abcdef", "base_url": "https://cal.example.org/api"},
    )

    api_key: ApiKey = Field(
        min_length=1,
        max_length=500,
        description="A Cal.com API key (Settings > Developer > API keys): printable ASCII, no "
        "spaces. Write-only: stored encrypted, never returned.",
        json_schema_extra={"pattern": "^[!-~]+$"},
    )
    base_url: BaseUrl = Field(
        default=DEFAULT_BASE_URL,
        description="Cal.com's API address: its cloud by default, or a self-hosted API v2.",
    )
    event_type_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        default_factory=list,
        max_length=100,
        description="Only bookings of these event types (the cohort's interviews); empty: all.",
    )


class ReconcileIn(ApiModel):
    model_config = examples({}, {"since": "2026-05-10T00:00:00Z", "dry_run": True})

    since: AwareDatetime | None = Field(
        default=None,
        description="Ask Cal.com for bookings changed since then; default: the watermark minus "
        "the overlap.",
    )
    dry_run: bool = Field(default=False, description="Report what would change; change nothing.")


class ReconciledChange(ApiModel):
    booking_uid: str
    change: ChangeKind
    applicant_email: str
    rescheduled_from_uid: str | None
    start_time: datetime
    end_time: datetime
    event_id: str = Field(description="The event in the event log (source `reconciliation`).")
    outcome: WebhookOutcome | None = Field(
        description="What applying it did, as for a webhook; null when it was found before."
    )
    already_applied: bool = Field(description="The same change was found by an earlier run.")
    application_id: uuid.UUID | None
    orphaned_interview_id: uuid.UUID | None

    @classmethod
    def of(cls, applied: "Applied") -> "ReconciledChange":
        booking = applied.change.booking
        outcome = applied.outcome
        return cls(
            booking_uid=booking.uid,
            change=applied.change.kind,
            applicant_email=booking.applicant_email,
            rescheduled_from_uid=booking.reschedule_uid,
            start_time=booking.start_time,
            end_time=booking.end_time,
            event_id=applied.change.delivery.event_id,
            outcome=outcome.kind if outcome else None,
            already_applied=applied.already_applied,
            application_id=outcome.application_id if outcome else None,
            orphaned_interview_id=outcome.orphaned_interview_id if outcome else None,
        )


class SkippedBooking(ApiModel):
    booking_uid: str
    reason: str


class ReconcileOut(ApiModel):
    model_config = examples(
        {
            "applied": True,
            "since": "2026-05-12T14:00:00Z",
            "bookings_read": 1,
            "changes": [
                {
                    "booking_uid": _UID,
                    "change": "created",
                    "applicant_email": "jane.doe@example.com",
                    "rescheduled_from_uid": None,
                    "start_time": "2026-05-19T14:00:00Z",
                    "end_time": "2026-05-19T14:30:00Z",
                    "event_id": "4f1c" + "0" * 60,
                    "outcome": "matched",
                    "already_applied": False,
                    "application_id": "7d9e1f3a-5b7c-4d9e-8f1a-3b5c7d9e1f30",
                    "orphaned_interview_id": None,
                }
            ],
            "skipped": [],
        }
    )

    applied: bool = Field(description="False for a dry run: nothing was changed.")
    since: datetime = Field(description="The start of the window asked of Cal.com.")
    bookings_read: int
    changes: list[ReconciledChange] = Field(description="One item per change found, in order.")
    skipped: list[SkippedBooking] = Field(
        description="Bookings the webhook's parser refuses (no attendee email, say)."
    )

    @classmethod
    def of(cls, result: "RunResult") -> "ReconcileOut":
        return cls(
            applied=result.applied,
            since=result.since,
            bookings_read=result.bookings_read,
            changes=[ReconciledChange.of(a) for a in result.changes],
            skipped=[
                SkippedBooking(booking_uid=s.booking_uid, reason=s.reason) for s in result.skipped
            ],
        )
