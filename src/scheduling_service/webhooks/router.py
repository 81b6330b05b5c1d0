import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response, status

from scheduling_service import problems
from scheduling_service.auth import PrincipalDep
from scheduling_service.db import SessionDep
from scheduling_service.errors import NotFound
from scheduling_service.models import WebhookEvent, WebhookOutcome
from scheduling_service.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from scheduling_service.problems import ProblemError
from scheduling_service.schemas import Page
from scheduling_service.webhooks import service
from scheduling_service.webhooks.schemas import DeliveryOutcome, WebhookAnswer, WebhookEventOut

router = APIRouter()

# The webhook's path, up to the cohort ID (`webhooks.front` answers it).
WEBHOOK_PATH_PREFIX = "/webhooks/calcom/"

_ENVELOPE_EXAMPLE: dict[str, Any] = {
    "triggerEvent": "BOOKING_CREATED",
    "createdAt": "2026-05-04T09:12:45.123Z",
    "payload": {
        "uid": "kZ3rT9mPqW2xYb7NcV4dHs",
        "startTime": "2026-05-12T14:00:00Z",
        "endTime": "2026-05-12T14:30:00Z",
        "attendees": [{"email": "jane.doe@example.com", "name": "Jane Doe"}],
        "responses": {"email": {"value": "jane.doe@example.com"}},
        "metadata": {"videoCallUrl": "https://app.cal.com/video/kZ3rT9mPqW2xYb7NcV4dHs"},
    },
}


# What the service reads of Cal.com's envelope; every other field is kept in the event log as sent.
_ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Cal.com's webhook envelope, version 2021-10-20.",
    "required": ["triggerEvent"],
    "properties": {
        "triggerEvent": {
            "type": "string",
            "maxLength": 100,
            "description": "BOOKING_CREATED, BOOKING_RESCHEDULED, BOOKING_CANCELLED and "
            "BOOKING_NO_SHOW_UPDATED are applied; PING and any other trigger answer `ignored`.",
        },
        "createdAt": {"type": "string", "description": "When Cal.com sent the event."},
        "payload": {
            "type": "object",
            "description": "The booking; required by the three booking triggers. For "
            "BOOKING_NO_SHOW_UPDATED: `bookingUid` and `attendees` as `{email, noShow}`.",
            "properties": {
                "uid": {"type": "string", "minLength": 1, "maxLength": 255},
                "rescheduleUid": {
                    "type": ["string", "null"],
                    "description": "For a reschedule, the uid of the booking it replaces.",
                },
                "startTime": {"type": "string", "format": "date-time"},
                "endTime": {"type": "string", "format": "date-time"},
                "attendees": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "email": {"type": "string"},
                            "name": {"type": "string"},
                            "timeZone": {"type": "string"},
                        },
                    },
                },
                "responses": {
                    "type": "object",
                    "description": "The booking form; `email.value` is the applicant's email.",
                },
                "metadata": {
                    "type": "object",
                    "description": "`videoCallUrl` (the meeting link) and `applicationId` "
                    "(an application of this cohort the booking is for).",
                },
                "videoCallData": {"type": "object"},
                "location": {"type": ["string", "null"]},
                "seatsPerTimeSlot": {
                    "type": ["integer", "null"],
                    "description": "Set for a seated event: the attendees listed are the seats "
                    "cancelled or moved, and `metadata.applicationId` is not used.",
                },
                "cancellationReason": {
                    "type": ["string", "null"],
                    "description": "Kept as the cancellation's history `reason`.",
                },
                "reschedulingReason": {
                    "type": ["string", "null"],
                    "description": "Kept as the reschedule's history `reason` (also read from "
                    "`rescheduleReason` or `responses.rescheduleReason.value`).",
                },
                "bookingUid": {
                    "type": "string",
                    "description": "BOOKING_NO_SHOW_UPDATED: the booking marked.",
                },
            },
        },
    },
}


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json"


def _refuse_declared_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(problems.PAYLOAD_TOO_LARGE, f"the body is over {limit} bytes")


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise ProblemError(problems.PAYLOAD_TOO_LARGE, f"the body is over {limit} bytes")
    return bytes(body)


@router.post(
    WEBHOOK_PATH_PREFIX + "{cohort_id}",
    operation_id="receiveCalcomWebhook",
    summary="Receive a Cal.com webhook delivery for a cohort",
    tags=["calcom"],
    description=(
        "For Cal.com only, authenticated by its signature (no token); not for the SPA. "
        "Configure Cal.com with this URL and the cohort's webhook secret. The body is Cal.com's "
        "default webhook envelope (version 2021-10-20) as `application/json`; "
        "`X-Cal-Signature-256` is the lowercase hex HMAC-SHA256 of the raw body keyed with the "
        "secret (during a rotation's grace period, the previous secret too). Checked in order: "
        "declared size (413), cohort (404, before the body is read; 503 when it cannot be told "
        "because the database is unreachable), size (413), signature (401, whatever the content "
        "type), then the body. An authentic body that is not the envelope is kept in the event "
        "log as `rejected` and answered 415 when it is not JSON and not sent as JSON (a Cal.com "
        "custom payload template in text), 400 when it is not JSON, 422 when it is not a booking "
        "Cal.com would send; the detail names a custom payload template when that is the likely "
        "cause. Each event is applied once, however often it is delivered."
    ),
    openapi_extra={
        "security": [],
        # For client generators: leave it out of an SPA's client (Redocly's convention).
        "x-internal": True,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _ENVELOPE_SCHEMA,
                    "example": _ENVELOPE_EXAMPLE,
                },
                # What a Cal.com custom payload template that is not JSON sends: verified and
                # kept in the event log as `rejected`, answered 415.
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "string"},
                    "example": "trigger=BOOKING_CREATED&uid=kZ3rT9mPqW2xYb7NcV4dHs",
                },
            },
        },
    },
    responses={
        202: {
            "model": WebhookAnswer,
            "description": "Kept, to be applied later: the database was unreachable (`queued`) "
            "or applying it failed (`failed`, retried with backoff).",
        },
        **problems.responses(
            problems.MALFORMED_WEBHOOK,
            problems.INVALID_SIGNATURE,
            problems.NOT_FOUND,
            problems.PAYLOAD_TOO_LARGE,
            problems.UNSUPPORTED_MEDIA_TYPE,
            problems.INVALID_WEBHOOK,
            problems.UNAVAILABLE,
        ),
    },
)
async def receive_calcom_webhook(
    # A string, not a UUID: anything else is a cohort that does not exist (404), as Cal.com
    # would be told of any unknown cohort.
    cohort_id: Annotated[str, Path(json_schema_extra={"format": "uuid"})],
    request: Request,
    response: Response,
    x_cal_signature_256: Annotated[
        str | None,
        Header(
            description="Lowercase hex HMAC-SHA256 of the raw body, keyed with the cohort's "
            "webhook secret: 64 hex digits, no prefix. Missing or wrong: 401."
        ),
    ] = None,
) -> WebhookAnswer:
    try:
        cohort = uuid.UUID(cohort_id)
    except ValueError:
        raise NotFound("cohort not found") from None
    intake: service.Intake = request.app.state.intake
    limit = intake.settings.webhook_max_body_bytes
    _refuse_declared_size(request, limit)
    # A body to no cohort is refused before a byte of it is read.
    await service.admit(intake, cohort)
    body = await _read_body(request, limit)
    result = await service.receive(intake, cohort, body, x_cal_signature_256)
    if result.rejection is not None:
        kind = problems.INVALID_WEBHOOK
        if result.rejection.not_json:
            # Cal.com sends a custom template that is not JSON as form-encoded text.
            json_declared = _is_json(request)
            kind = problems.MALFORMED_WEBHOOK if json_declared else problems.UNSUPPORTED_MEDIA_TYPE
        raise ProblemError(kind, result.rejection.reason)
    if result.queued or result.outcome.kind is WebhookOutcome.FAILED:
        # Kept, and applied later: still a success for Cal.com, which never retries.
        response.status_code = status.HTTP_202_ACCEPTED
    return WebhookAnswer(
        event_id=result.event_id,
        outcome=DeliveryOutcome.QUEUED if result.queued else DeliveryOutcome(result.outcome.kind),
        application_id=result.outcome.application_id,
        orphaned_interview_id=result.outcome.orphaned_interview_id,
    )


def event_out(event: WebhookEvent) -> WebhookEventOut:
    return WebhookEventOut(
        id=event.id,
        event_id=event.event_id,
        trigger=event.trigger,
        outcome=event.outcome,
        reason=event.reason,
        application_id=event.application_id,
        orphaned_interview_id=event.orphaned_interview_id,
        received_at=event.received_at,
        attempts=event.attempts,
        next_attempt_at=event.next_attempt_at,
        source=event.source,
        body=event.raw_body.decode("utf-8", errors="replace"),
    )


@router.get(
    "/v1/cohorts/{cohort_id}/webhook-events",
    operation_id="listWebhookEvents",
    summary="The cohort's event log, newest first (org admin)",
    description="For the organization's admins (and system admins); changes nothing. Every "
    "delivery Cal.com made to the cohort's webhook (but `PING`s), as sent, with what became "
    "of it; `outcome` filters. A page at a time (`cursor` is the previous page's "
    "`next_cursor`, with the same filter). 403 for a member; 404 when the cohort does not "
    "exist or is another organization's; 422 for an unknown outcome, a bad `limit` or cursor.",
    tags=["webhook-events"],
    responses=problems.admin_problems("cohort"),
)
async def list_webhook_events(
    cohort_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    outcome: WebhookOutcome | None = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Page[WebhookEventOut]:
    events, next_cursor = await service.list_events(
        session, principal, cohort_id, outcome, cursor, limit
    )
    return Page(items=[event_out(e) for e in events], next_cursor=next_cursor)


@router.post(
    "/v1/webhook-events/{webhook_event_id}/replay",
    operation_id="replayWebhookEvent",
    summary="Apply a failed event again (org admin); any other event is answered unchanged",
    description="For the organization's admins (and system admins). A `failed` event is "
    "applied again at once, as if just delivered; the answer shows its new outcome (still "
    "`failed`, with the reason, if it fails again). An event in any other outcome is "
    "answered as it is and nothing changes, so replaying twice is harmless. 403 for a "
    "member; 404 when the event does not exist or is another organization's.",
    tags=["webhook-events"],
    responses=problems.admin_problems("webhook event"),
)
async def replay_webhook_event(
    webhook_event_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> WebhookEventOut:
    event = await service.replay_event(
        session, principal, request.app.state.settings, webhook_event_id
    )
    return event_out(event)
