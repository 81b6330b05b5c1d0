"""Parsing a Cal.com webhook delivery (webhook version 2021-10-20) into a typed event.

What Cal.com sends is described in shared/calcom/PROTOCOL.md. The rules applied here:
- the applicant email is `payload.responses.email.value` (or `responses.email` when it is a
  plain string), else the first attendee's email; trimmed and lower-cased;
- the meeting link is `metadata.videoCallUrl`, else `videoCallData.url`, else `location` when
  it is an http(s) URL;
- the event ID is the SHA-256 of `triggerEvent`, `payload.uid` and `createdAt` joined by
  newlines, or of the raw body when there is no uid, since Cal.com sends no delivery ID.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationError

MAX_UID_LENGTH = 255
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 500
MAX_URL_LENGTH = 2048


class Trigger(StrEnum):
    BOOKING_CREATED = "BOOKING_CREATED"
    BOOKING_RESCHEDULED = "BOOKING_RESCHEDULED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"
    PING = "PING"


BOOKING_TRIGGERS = frozenset(
    {Trigger.BOOKING_CREATED, Trigger.BOOKING_RESCHEDULED, Trigger.BOOKING_CANCELLED}
)


class MalformedDelivery(Exception):
    """A delivery that is not JSON, or not the Cal.com envelope a trigger needs."""

    def __init__(self, reason: str, *, event_id: str, trigger: str | None, not_json: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.trigger = trigger
        self.not_json = not_json


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps it a client error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class _Attendee(BaseModel):
    email: Text | None = None
    name: Text | None = None
    timeZone: Text | None = None


class _BookingPayload(BaseModel):
    uid: Annotated[Text, Field(min_length=1, max_length=MAX_UID_LENGTH)]
    startTime: AwareDatetime
    endTime: AwareDatetime
    attendees: list[_Attendee] = []
    responses: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    videoCallData: dict[str, Any] | None = None
    location: Text | None = None
    rescheduleUid: Annotated[Text, Field(min_length=1, max_length=MAX_UID_LENGTH)] | None = None
    seatsPerTimeSlot: int | None = None


class _Envelope(BaseModel):
    triggerEvent: Annotated[Text, Field(min_length=1, max_length=100)]
    createdAt: Text | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class Booking:
    uid: str
    reschedule_uid: str | None
    applicant_email: str
    applicant_name: str | None
    time_zone: str | None
    attendee_emails: tuple[str, ...]
    start_time: datetime
    end_time: datetime
    meeting_url: str | None
    application_id_hint: UUID | None
    seated: bool


@dataclass(frozen=True)
class Delivery:
    trigger: str
    event_id: str
    created_at: str | None
    booking: Booking | None
    """Set for the three booking triggers, None for every other trigger."""


def normalize_email(value: str) -> str:
    return value.strip().lower()


def event_id_for(body: bytes, trigger: str | None, uid: object, created_at: object) -> str:
    if trigger is None or not isinstance(uid, str) or not uid:
        return hashlib.sha256(body).hexdigest()
    created = created_at if isinstance(created_at, str) else ""
    return hashlib.sha256(f"{trigger}\n{uid}\n{created}".encode()).hexdigest()


def parse_delivery(body: bytes) -> Delivery:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise MalformedDelivery(
            f"the body is not JSON: {_short(error)}",
            event_id=event_id_for(body, None, None, None),
            trigger=None,
            not_json=True,
        ) from None
    if not isinstance(document, dict):
        raise MalformedDelivery(
            "the body is not a JSON object",
            event_id=event_id_for(body, None, None, None),
            trigger=None,
            not_json=True,
        )
    raw_payload = document.get("payload")
    raw_trigger = document.get("triggerEvent")
    trigger = raw_trigger if isinstance(raw_trigger, str) and "\x00" not in raw_trigger else None
    event_id = event_id_for(
        body,
        trigger,
        raw_payload.get("uid") if isinstance(raw_payload, dict) else None,
        document.get("createdAt"),
    )

    def malformed(reason: str) -> MalformedDelivery:
        return MalformedDelivery(reason, event_id=event_id, trigger=trigger, not_json=False)

    try:
        envelope = _Envelope.model_validate(document)
    except ValidationError as error:
        raise malformed(_describe(error)) from None
    if envelope.triggerEvent not in BOOKING_TRIGGERS:
        return Delivery(envelope.triggerEvent, event_id, envelope.createdAt, None)
    if envelope.payload is None:
        raise malformed(f"{envelope.triggerEvent} needs a payload object")
    try:
        payload = _BookingPayload.model_validate(envelope.payload)
    except ValidationError as error:
        raise malformed(_describe(error, prefix="payload")) from None
    if payload.endTime < payload.startTime:
        raise malformed("payload.endTime is before payload.startTime")
    email = _applicant_email(payload)
    if email is None:
        raise malformed("no applicant email in payload.responses.email or payload.attendees")
    if len(email) > MAX_EMAIL_LENGTH:
        raise malformed(f"the applicant email is longer than {MAX_EMAIL_LENGTH} characters")
    booking = Booking(
        uid=payload.uid,
        reschedule_uid=payload.rescheduleUid,
        applicant_email=email,
        applicant_name=_applicant_name(payload),
        time_zone=payload.attendees[0].timeZone if payload.attendees else None,
        attendee_emails=tuple(
            normalize_email(a.email) for a in payload.attendees if a.email and a.email.strip()
        ),
        start_time=payload.startTime.astimezone(UTC),
        end_time=payload.endTime.astimezone(UTC),
        meeting_url=_meeting_url(payload),
        application_id_hint=_application_id_hint(payload),
        seated=payload.seatsPerTimeSlot is not None,
    )
    return Delivery(envelope.triggerEvent, event_id, envelope.createdAt, booking)


def _response_value(payload: _BookingPayload, key: str) -> object:
    entry = (payload.responses or {}).get(key)
    if isinstance(entry, dict):
        return entry.get("value")
    return entry


def _clean_text(value: object, max_length: int) -> str | None:
    if not isinstance(value, str) or "\x00" in value:
        return None
    value = value.strip()
    return value[:max_length] if value else None


def _applicant_email(payload: _BookingPayload) -> str | None:
    typed = _clean_text(_response_value(payload, "email"), MAX_EMAIL_LENGTH + 1)
    if typed is None and payload.attendees:
        typed = _clean_text(payload.attendees[0].email, MAX_EMAIL_LENGTH + 1)
    return normalize_email(typed) if typed else None


def _applicant_name(payload: _BookingPayload) -> str | None:
    value = _response_value(payload, "name")
    if isinstance(value, dict):
        parts = (_clean_text(value.get(k), MAX_NAME_LENGTH) for k in ("firstName", "lastName"))
        value = " ".join(part for part in parts if part)
    name = _clean_text(value, MAX_NAME_LENGTH)
    if name is None and payload.attendees:
        name = _clean_text(payload.attendees[0].name, MAX_NAME_LENGTH)
    return name


def _http_url(value: object) -> str | None:
    url = _clean_text(value, MAX_URL_LENGTH + 1)
    if url is None or len(url) > MAX_URL_LENGTH:
        return None
    return url if url.startswith(("https://", "http://")) else None


def _meeting_url(payload: _BookingPayload) -> str | None:
    return (
        _http_url((payload.metadata or {}).get("videoCallUrl"))
        or _http_url((payload.videoCallData or {}).get("url"))
        or _http_url(payload.location)
    )


def _application_id_hint(payload: _BookingPayload) -> UUID | None:
    value = (payload.metadata or {}).get("applicationId")
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _describe(error: ValidationError, prefix: str = "") -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        location = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        problems.append(f"{location or 'body'}: {item['msg']}")
    return "; ".join(problems)


def _short(error: BaseException) -> str:
    return str(error)[:200] or type(error).__name__
