"""What Cal.com's bookings list says that the service does not know: pure, no I/O.

Each difference becomes the delivery Cal.com would have sent for it (a webhook envelope built
from the API's booking), parsed by the webhook's own parser, so it is applied exactly as the
webhook would have been:
- a booking never seen: `BOOKING_CREATED`, or `BOOKING_RESCHEDULED` naming the booking it
  replaced (`rescheduledFromUid`); bookings are taken oldest first, so a chain of reschedules
  is replayed link by link, as its webhooks would have been;
- a cancellation never seen: `BOOKING_CANCELLED` (a booking cancelled because it was
  rescheduled, `rescheduledToUid`, is moved by its successor's reschedule instead);
- a seated booking (attendees with a `seatUid`): each attendee the service has no seat for
  took one (`BOOKING_CREATED` for that attendee), each seat the service holds whose attendee
  is no longer listed was given up (`BOOKING_CANCELLED` naming that attendee).
Pending and rejected bookings are skipped, as their webhooks are.

The event ID hashes the change itself (trigger, uid, attendee, replaced uid), so the same
change found by two runs, or by two replicas at once, is stored once.
"""

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from scheduling_service.calcom import delivery as calcom
from scheduling_service.models import BookingState


class ChangeKind(StrEnum):
    CREATED = "created"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    SEAT_TAKEN = "seat_taken"
    SEAT_GIVEN_UP = "seat_given_up"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    delivery: calcom.Delivery
    raw_body: bytes

    @property
    def booking(self) -> calcom.Booking:
        assert self.delivery.booking is not None
        return self.delivery.booking


Known = Mapping[str, Mapping[str, str]]
"""What the service knows: booking uid -> applicant email -> booking state."""


@dataclass(frozen=True)
class Skipped:
    """A booking whose change the webhook's parser refuses (no attendee email, say)."""

    booking_uid: str
    reason: str


@dataclass(frozen=True)
class Plan:
    changes: list[Change]
    skipped: list[Skipped]


def plan_changes(bookings: Iterable[Mapping[str, Any]], known: Known) -> Plan:
    timed: list[tuple[str, int, Change]] = []
    skipped: list[Skipped] = []
    for booking in bookings:
        status = str(booking.get("status") or "").lower()
        if status not in ("accepted", "cancelled"):
            continue
        seen = known.get(str(booking["uid"]), {})
        try:
            if _is_seated(booking):
                found = _seat_changes(booking, status, seen)
            else:
                found = _booking_changes(booking, status, seen)
        except calcom.MalformedDelivery as refused:
            skipped.append(Skipped(str(booking["uid"]), refused.reason))
            continue
        timed.extend((_moment(moment), len(timed), change) for moment, change in found)
    # In the order Cal.com made them (a sort key of times in UTC), as its webhooks came.
    timed.sort(key=lambda t: (t[0], t[1]))
    return Plan([change for _, _, change in timed], skipped)


def _moment(value: object) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).isoformat()
    except ValueError:
        return ""


def _booking_changes(
    booking: Mapping[str, Any], status: str, seen: Mapping[str, str]
) -> list[tuple[object, Change]]:
    """Each change with when it happened: a booking's creation at `createdAt`, its
    cancellation at `updatedAt` (the last change to it)."""
    created, changed = _times(booking)
    changes: list[tuple[object, Change]] = []
    if not seen:
        replaced = booking.get("rescheduledFromUid")
        if isinstance(replaced, str) and replaced:
            changes.append(
                (created, _change(ChangeKind.RESCHEDULED, booking, reschedule_uid=replaced))
            )
        else:
            changes.append((created, _change(ChangeKind.CREATED, booking)))
    cancelled = status == "cancelled" and not booking.get("rescheduledToUid")
    if cancelled and (not seen or BookingState.ACTIVE in seen.values()):
        changes.append((changed, _change(ChangeKind.CANCELLED, booking)))
    return changes


def _seat_changes(
    booking: Mapping[str, Any], status: str, seen: Mapping[str, str]
) -> list[tuple[object, Change]]:
    """The first seat was taken when the booking was made; of the others Cal.com keeps no
    time, so they are placed at the booking's last change, taken before given up."""
    created, changed = _times(booking)
    changes: list[tuple[object, Change]] = []
    listed: dict[str, Mapping[str, Any]] = {}
    for attendee in _attendees(booking):
        email = calcom.normalize_email(str(attendee.get("email") or ""))
        if email:
            listed.setdefault(email, attendee)
    if status == "accepted":
        for position, (email, attendee) in enumerate(listed.items()):
            if email not in seen:
                change = _change(ChangeKind.SEAT_TAKEN, booking, attendee=attendee)
                changes.append((created if position == 0 else changed, change))
    for email, state in sorted(seen.items()):
        if state == BookingState.ACTIVE and (status == "cancelled" or email not in listed):
            attendee = listed.get(email, {"email": email})
            changes.append((changed, _change(ChangeKind.SEAT_GIVEN_UP, booking, attendee=attendee)))
    return changes


def _times(booking: Mapping[str, Any]) -> tuple[object, object]:
    created = booking.get("createdAt")
    return created, booking.get("updatedAt") or created


_TRIGGERS = {
    ChangeKind.CREATED: calcom.Trigger.BOOKING_CREATED,
    ChangeKind.RESCHEDULED: calcom.Trigger.BOOKING_RESCHEDULED,
    ChangeKind.CANCELLED: calcom.Trigger.BOOKING_CANCELLED,
    ChangeKind.SEAT_TAKEN: calcom.Trigger.BOOKING_CREATED,
    ChangeKind.SEAT_GIVEN_UP: calcom.Trigger.BOOKING_CANCELLED,
}


def _change(
    kind: ChangeKind,
    booking: Mapping[str, Any],
    *,
    reschedule_uid: str | None = None,
    attendee: Mapping[str, Any] | None = None,
) -> Change:
    trigger = _TRIGGERS[kind]
    body = json.dumps(
        webhook_envelope(trigger, booking, reschedule_uid=reschedule_uid, attendee=attendee),
        separators=(",", ":"),
    ).encode()
    delivery = calcom.parse_delivery(body)
    assert delivery.booking is not None
    event_id = hashlib.sha256(
        "\n".join(
            (
                "reconciliation",
                trigger,
                str(booking["uid"]),
                delivery.booking.applicant_email,
                reschedule_uid or "",
            )
        ).encode()
    ).hexdigest()
    return Change(kind, dataclasses.replace(delivery, event_id=event_id), body)


def webhook_envelope(
    trigger: calcom.Trigger,
    booking: Mapping[str, Any],
    *,
    reschedule_uid: str | None = None,
    attendee: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The delivery Cal.com would have sent for this change (PROTOCOL.md's fields), with the
    API's booking beside it so the event log shows what reconciliation read."""
    attendees = [attendee] if attendee is not None else _attendees(booking)
    # A seat's answers are its attendee's own.
    owner = attendee if attendee is not None else booking
    responses = owner.get("bookingFieldsResponses")
    meeting_url = booking.get("meetingUrl")
    event_type = booking.get("eventType")
    payload: dict[str, Any] = {
        "uid": booking["uid"],
        "bookingId": booking.get("id"),
        "title": booking.get("title"),
        "startTime": booking.get("start"),
        "endTime": booking.get("end"),
        "attendees": [
            {"email": a.get("email"), "name": a.get("name"), "timeZone": a.get("timeZone")}
            for a in attendees
        ],
        "responses": responses if isinstance(responses, dict) else {},
        "metadata": booking.get("metadata")
        if trigger != calcom.Trigger.BOOKING_CANCELLED
        else None,
        "location": booking.get("location"),
        "videoCallData": {"url": meeting_url} if isinstance(meeting_url, str) else None,
        "eventTypeId": event_type.get("id")
        if isinstance(event_type, dict)
        else booking.get("eventTypeId"),
        "status": str(booking.get("status") or "").upper(),
        # The API does not say the event type's seats per slot; the parser needs "seated".
        "seatsPerTimeSlot": (len(_attendees(booking)) or 1) if _is_seated(booking) else None,
        "cancellationReason": booking.get("cancellationReason"),
        "reschedulingReason": booking.get("reschedulingReason"),
    }
    if reschedule_uid is not None:
        payload["rescheduleUid"] = reschedule_uid
    return {
        "triggerEvent": trigger.value,
        "createdAt": booking.get("updatedAt") or booking.get("createdAt"),
        "payload": payload,
        "reconciledFrom": dict(booking),
    }


def _attendees(booking: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    attendees = booking.get("attendees")
    return [a for a in attendees if isinstance(a, dict)] if isinstance(attendees, list) else []


def _is_seated(booking: Mapping[str, Any]) -> bool:
    return any("seatUid" in attendee for attendee in _attendees(booking))
