"""Parsing a Cal.com webhook delivery (webhook version 2021-10-20) into a typed event.

What Cal.com sends is described in shared/calcom/PROTOCOL.md. The rules applied here:
- the applicant email is `payload.responses.email.value` (or `responses.email` when it is a
  plain string), else the first attendee's email; trimmed and lower-cased;
- the meeting link is `metadata.videoCallUrl`, else `videoCallData.url`, else `location` when
  it is an http(s) URL;
- the event ID is the SHA-256 of `triggerEvent`, `payload.uid` and `createdAt` joined by
  newlines, or of the raw body when there is no uid, since Cal.com sends no delivery ID;
- `BOOKING_NO_SHOW_UPDATED` names the booking in `payload.bookingUid` and each attendee whose
  mark changed in `payload.attendees` (`{email, noShow}`); it has no `payload.uid`;
- the reason of a cancellation is `cancellationReason`, that of a reschedule
  `reschedulingReason`, else `rescheduleReason`, else the booking form's
  `responses.rescheduleReason.value`.
"""

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    ValidationError,
)

from scheduling_service.schemas import StorableText as Text
from scheduling_service.schemas import is_storable

MAX_UID_LENGTH = 255
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 500
MAX_URL_LENGTH = 2048
MAX_TRIGGER_LENGTH = 100
MAX_REASON_LENGTH = 2000


class Trigger(StrEnum):
    BOOKING_CREATED = "BOOKING_CREATED"
    BOOKING_RESCHEDULED = "BOOKING_RESCHEDULED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"
    BOOKING_NO_SHOW_UPDATED = "BOOKING_NO_SHOW_UPDATED"
    PING = "PING"


BOOKING_TRIGGERS = frozenset(
    {Trigger.BOOKING_CREATED, Trigger.BOOKING_RESCHEDULED, Trigger.BOOKING_CANCELLED}
)


# Said of every body that is not Cal.com's envelope at all: a custom payload template, which
# Cal.com signs like its default body, is the likely cause.
TEMPLATE_HINT = (
    "not Cal.com's default webhook body: a custom payload template on this webhook in Cal.com "
    "may be the cause; clear the template so that Cal.com sends its default JSON body"
)


class MalformedDelivery(Exception):
    """A delivery that is not JSON, or not the Cal.com envelope a trigger needs."""

    def __init__(self, reason: str, *, event_id: str, trigger: str | None, not_json: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.trigger = trigger
        self.not_json = not_json


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
    cancellationReason: Any = None
    reschedulingReason: Any = None
    rescheduleReason: Any = None


class _NoShowMark(BaseModel):
    email: Annotated[Text, Field(min_length=1, max_length=MAX_EMAIL_LENGTH)]
    noShow: StrictBool


class _NoShowPayload(BaseModel):
    """Cal.com's `BookingNoShowUpdatedPayload` (packages/features/webhooks/lib/sendPayload.ts)."""

    bookingUid: Annotated[Text, Field(min_length=1, max_length=MAX_UID_LENGTH)]
    attendees: list[_NoShowMark] = []
    # Not sent by Cal.com's source today (the host's mark sends no webhook); read if it comes.
    noShowHost: StrictBool | None = None


class _Envelope(BaseModel):
    triggerEvent: Annotated[Text, Field(min_length=1, max_length=MAX_TRIGGER_LENGTH)]
    createdAt: Text | None = None
    payload: dict[str, Any] | None = None


def _field(document: object, key: str) -> object:
    return document.get(key) if isinstance(document, dict) else None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and is_storable(value) else None


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str | None
    time_zone: str | None


@dataclass(frozen=True)
class Booking:
    uid: str
    reschedule_uid: str | None
    applicant_email: str
    applicant_name: str | None
    time_zone: str | None
    attendees: tuple[Attendee, ...]
    start_time: datetime
    end_time: datetime
    meeting_url: str | None
    application_id_hint: UUID | None
    """`metadata.applicationId`; never set for a seated booking, whose metadata carries the
    earlier seats' (Cal.com merges the booking's stored metadata into each new seat's)."""
    seated: bool
    reason: str | None = None
    """Cal.com's cancellation reason (for a cancellation) or rescheduling reason (for a
    reschedule), as the person who made the change typed it."""

    @property
    def attendee_emails(self) -> tuple[str, ...]:
        return tuple(attendee.email for attendee in self.attendees)

    def as_seat_of(self, email: str) -> "Booking":
        """This booking as the seat of the attendee with `email` (one of `attendees`)."""
        attendee = next(a for a in self.attendees if a.email == email)
        return replace(
            self,
            applicant_email=attendee.email,
            applicant_name=attendee.name,
            time_zone=attendee.time_zone,
        )


@dataclass(frozen=True)
class NoShow:
    """Who a host marked absent from a booking, or cleared the mark of."""

    booking_uid: str
    attendees: tuple[tuple[str, bool], ...]
    """(email, absent) of each attendee whose mark was set or cleared."""
    host: bool | None
    """The host's mark, when Cal.com sends one."""


@dataclass(frozen=True)
class Delivery:
    trigger: str
    event_id: str
    created_at: str | None
    booking: Booking | None
    """Set for the three booking triggers, None for every other trigger."""
    no_show: NoShow | None = None
    """Set for `BOOKING_NO_SHOW_UPDATED`."""

    @property
    def acted_on(self) -> bool:
        """Whether the service applies this delivery (others are logged as `ignored`)."""
        return self.booking is not None or self.no_show is not None


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
            f"the body is not JSON ({_short(error)}): {TEMPLATE_HINT}",
            event_id=event_id_for(body, None, None, None),
            trigger=None,
            not_json=True,
        ) from None
    if not isinstance(document, dict):
        raise MalformedDelivery(
            f"the body is not a JSON object: {TEMPLATE_HINT}",
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

    acted_on = trigger in BOOKING_TRIGGERS or trigger == Trigger.BOOKING_NO_SHOW_UPDATED
    if trigger and not acted_on and len(trigger) <= MAX_TRIGGER_LENGTH:
        # Triggers this service does not act on are logged as they come, whatever their shape.
        return Delivery(trigger, event_id, created_at, None)
    try:
        envelope = _Envelope.model_validate(document)
    except ValidationError as error:
        hint = "" if trigger else f"; {TEMPLATE_HINT}"
        raise malformed(_describe(error) + hint) from None
    if envelope.payload is None:
        raise malformed(f"{envelope.triggerEvent} needs a payload object")
    if envelope.triggerEvent == Trigger.BOOKING_NO_SHOW_UPDATED:
        try:
            marks = _NoShowPayload.model_validate(envelope.payload)
        except ValidationError as error:
            raise malformed(_describe(error, prefix="payload")) from None
        no_show = NoShow(
            booking_uid=marks.bookingUid,
            attendees=tuple((normalize_email(m.email), m.noShow) for m in marks.attendees),
            host=marks.noShowHost,
        )
        return Delivery(envelope.triggerEvent, event_id, envelope.createdAt, None, no_show)
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
        attendees=tuple(
            Attendee(
                normalize_email(a.email),
                _clean_text(a.name, MAX_NAME_LENGTH),
                _clean_text(a.timeZone, MAX_NAME_LENGTH),
            )
            for a in payload.attendees
            # Seats are stored by attendee email: one longer than an email can be is no seat.
            if a.email and a.email.strip() and len(a.email.strip()) <= MAX_EMAIL_LENGTH
        ),
        start_time=payload.startTime.astimezone(UTC),
        end_time=payload.endTime.astimezone(UTC),
        meeting_url=_meeting_url(payload),
        application_id_hint=None
        if payload.seatsPerTimeSlot is not None
        else _application_id_hint(payload),
        seated=payload.seatsPerTimeSlot is not None,
        reason=_reason(payload, envelope.triggerEvent),
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


def _reason(payload: _BookingPayload, trigger: str) -> str | None:
    if trigger == Trigger.BOOKING_CANCELLED:
        return _clean_text(payload.cancellationReason, MAX_REASON_LENGTH)
    if trigger != Trigger.BOOKING_RESCHEDULED:
        return None
    # The booking form's answer when the top-level fields are absent, as Cal.com's own
    # bodies often carry it (`responses.rescheduleReason.value`).
    candidates = (
        payload.reschedulingReason,
        payload.rescheduleReason,
        _response_value(payload, "rescheduleReason"),
    )
    return next(
        (text for text in (_clean_text(c, MAX_REASON_LENGTH) for c in candidates) if text), None
    )


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
        # Never empty: the envelope and the payload are objects, so every error names a field.
        problems.append(f"{location}: {item['msg']}")
    return "; ".join(problems)


def _short(error: BaseException) -> str:
    return str(error)[:200]
