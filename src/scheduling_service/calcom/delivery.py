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
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
)

from scheduling_service.schemas import is_storable

MAX_UID_LENGTH = 255
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 500
MAX_URL_LENGTH = 2048
MAX_TRIGGER_LENGTH = 100


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


def _storable(value: str) -> str:
    if not is_storable(value):
        raise ValueError("must not contain NUL characters or lone surrogates")
    return value


# A time is kept only if every time zone can show it: in UTC, a day inside the years 1 to
# 9999 that Python's datetime can hold (no zone is a day away from UTC).
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def _iso_time(value: object) -> datetime:
    # Parsed here, strictly: pydantic alone would take a number as a Unix timestamp.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time with an offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 time with an offset") from None
    if moment.tzinfo is None:
        return moment  # refused as naive, by AwareDatetime
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range: it cannot be converted to UTC") from None
    if not _EARLIEST <= utc <= _LATEST:
        raise ValueError("is out of range: too close to the year 1 or 9999 to show in every zone")
    return utc


Text = Annotated[str, AfterValidator(_storable)]
IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_time)]


class _Attendee(BaseModel):
    email: Text | None = None
    name: Text | None = None
    timeZone: Text | None = None


class _BookingPayload(BaseModel):
    uid: Annotated[Text, Field(min_length=1, max_length=MAX_UID_LENGTH)]
    startTime: IsoTime
    endTime: IsoTime
    attendees: list[_Attendee] = []
    # Read leniently: the booking does not need them, so an odd shape means "absent".
    responses: Any = None
    metadata: Any = None
    videoCallData: Any = None
    location: Any = None
    rescheduleUid: Annotated[Text, Field(min_length=1, max_length=MAX_UID_LENGTH)] | None = None
    seatsPerTimeSlot: int | None = None


class _Envelope(BaseModel):
    triggerEvent: Annotated[Text, Field(min_length=1, max_length=MAX_TRIGGER_LENGTH)]
    createdAt: Text | None = None
    payload: dict[str, Any] | None = None


def _field(document: object, key: str) -> object:
    return document.get(key) if isinstance(document, dict) else None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and is_storable(value) else None


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


def event_id_for(body: bytes, trigger: str | None, uid: str | None, created_at: str | None) -> str:
    if trigger is None or not uid:
        return hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"{trigger}\n{uid}\n{created_at or ''}".encode()).hexdigest()


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
    trigger = _text_or_none(document.get("triggerEvent"))
    created_at = _text_or_none(document.get("createdAt"))
    event_id = event_id_for(
        body, trigger, _text_or_none(_field(document.get("payload"), "uid")), created_at
    )

    def malformed(reason: str) -> MalformedDelivery:
        return MalformedDelivery(reason, event_id=event_id, trigger=trigger, not_json=False)

    if trigger and trigger not in BOOKING_TRIGGERS and len(trigger) <= MAX_TRIGGER_LENGTH:
        # Triggers this service does not act on are logged as they come, whatever their shape.
        return Delivery(trigger, event_id, created_at, None)
    try:
        envelope = _Envelope.model_validate(document)
    except ValidationError as error:
        raise malformed(_describe(error)) from None
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
    entry = _field(payload.responses, key)
    if isinstance(entry, dict):
        return entry.get("value")
    return entry


def _clean_text(value: object, max_length: int) -> str | None:
    if not isinstance(value, str) or not is_storable(value):
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
    return url if url.lower().startswith(("https://", "http://")) else None


def _meeting_url(payload: _BookingPayload) -> str | None:
    return (
        _http_url(_field(payload.metadata, "videoCallUrl"))
        or _http_url(_field(payload.videoCallData, "url"))
        or _http_url(payload.location)
    )


def _application_id_hint(payload: _BookingPayload) -> UUID | None:
    value = _field(payload.metadata, "applicationId")
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
