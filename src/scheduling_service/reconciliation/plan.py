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
  is no longer listed was given up (`BOOKING_CANCELLED` naming that attendee);
- a seated session its host moved (`session_moved`: the `BOOKING_RESCHEDULED` naming every
  seat holder moved, as Cal.com sends it), seen two ways, as Cal.com's
  `ownerRescheduleSeatedBooking` leaves them: in place, the seats the service holds under the
  booking's uid are at another time than the booking's `start`; merged into the booking
  already at the new time, the session the service knows is cancelled with no attendee left
  (`emptied`), and its seat holders are listed by another seated booking (found by the
  service with `attendeeEmail`) under which the service holds no seat for them. A seated
  booking naming `rescheduledFromUid` moves the seats held there alike.
Pending and rejected bookings are skipped, as their webhooks are.

The event ID hashes the change itself (trigger, uid, attendee, replaced uid; and the new
start of a session moved, which can move again under the same uid), so the same change found
by two runs, or by two replicas at once, is stored once.
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
    SESSION_MOVED = "session_moved"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    delivery: calcom.Delivery
    raw_body: bytes

    @property
    def booking(self) -> calcom.Booking:
        assert self.delivery.booking is not None
        return self.delivery.booking


@dataclass(frozen=True)
class Seen:
    """What the service knows of one (booking uid, applicant email)."""

    state: BookingState
    start: datetime | None


Known = Mapping[str, Mapping[str, Seen]]
"""What the service knows: booking uid -> applicant email -> what it holds."""


@dataclass(frozen=True)
class Skipped:
    """A booking whose change the webhook's parser refuses (no attendee email, say)."""

    booking_uid: str
    reason: str


@dataclass(frozen=True)
class Plan:
    changes: list[Change]
    skipped: list[Skipped]


def emptied_sessions(bookings: Iterable[Mapping[str, Any]], known: Known) -> dict[str, list[str]]:
    """Sessions the service holds seats of that Cal.com shows cancelled with no attendee
    left (their seats moved into another booking): uid -> the emails of the seats held."""
    emptied: dict[str, list[str]] = {}
    for booking in bookings:
        uid = str(booking["uid"])
        holders = [e for e, seen in known.get(uid, {}).items() if _active(seen)]
        status = str(booking.get("status") or "").lower()
        if status == "cancelled" and not _attendees(booking) and holders:
            emptied[uid] = sorted(holders)
    return emptied


def plan_changes(bookings: Iterable[Mapping[str, Any]], known: Known) -> Plan:
    listed = [
        b for b in bookings if str(b.get("status") or "").lower() in ("accepted", "cancelled")
    ]
    emptied = {str(b["uid"]): b for b in listed if str(b["uid"]) in emptied_sessions([b], known)}
    timed: list[tuple[str, int, Change]] = []
    skipped: list[Skipped] = []
    # (uid, email) of each seat a host moved: where it was, and where it went.
    moved: set[tuple[str, str]] = set()
    for booking in listed:
        try:
            found = _session_moves(booking, known, emptied, moved)
        except calcom.MalformedDelivery as refused:
            skipped.append(Skipped(str(booking["uid"]), refused.reason))
            continue
        timed.extend((_moment(moment), len(timed), change) for moment, change in found)
    unparsed = {s.booking_uid for s in skipped}
    for booking in listed:
        status = str(booking.get("status") or "").lower()
        uid = str(booking["uid"])
        if uid in unparsed:
            continue
        seen = {e: s for e, s in known.get(uid, {}).items() if (uid, e) not in moved}
        try:
            if _is_seated(booking) or uid in emptied:
                found = _seat_changes(booking, status, seen, moved)
            else:
                found = _booking_changes(booking, status, seen)
        except calcom.MalformedDelivery as refused:
            skipped.append(Skipped(uid, refused.reason))
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
    booking: Mapping[str, Any], status: str, seen: Mapping[str, Seen]
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
    if cancelled and (not seen or any(_active(s) for s in seen.values())):
        changes.append((changed, _change(ChangeKind.CANCELLED, booking)))
    return changes


def _session_moves(
    booking: Mapping[str, Any],
    known: Known,
    emptied: Mapping[str, Mapping[str, Any]],
    moved: set[tuple[str, str]],
) -> list[tuple[object, Change]]:
    """The host's moves of whole sessions that end at this (seated, accepted) booking, each
    at the moment it was made: the booking's last change when in place, the emptied
    session's when merged."""
    if not _is_seated(booking) or str(booking.get("status") or "").lower() != "accepted":
        return []
    uid = str(booking["uid"])
    _, changed = _times(booking)
    seen = known.get(uid, {})
    listed = _listed(booking)
    changes: list[tuple[object, Change]] = []
    start = _instant(booking.get("start"))
    in_place = [
        email
        for email, held in seen.items()
        if email in listed and _active(held) and held.start is not None and held.start != start
    ]
    if in_place:
        # Cal.com keeps the reason of a session moved in place in `cancellationReason`.
        reason = booking.get("cancellationReason")
        changes.append((changed, _moved(booking, uid, in_place, listed, reason)))
        moved.update((uid, email) for email in in_place)
    sources = [booking.get("rescheduledFromUid"), *emptied]
    arriving: dict[str, list[str]] = {}
    for email in listed:
        if email in seen:
            continue
        source = next(
            (
                s
                for s in sources
                if isinstance(s, str)
                and s != uid
                and (s, email) not in moved
                and _active(known.get(s, {}).get(email))
            ),
            None,
        )
        if source is not None:
            arriving.setdefault(source, []).append(email)
    for source, emails in arriving.items():
        at = _times(emptied[source])[1] if source in emptied else changed
        changes.append((at, _moved(booking, source, emails, listed, None)))
        moved.update((source, email) for email in emails)
        moved.update((uid, email) for email in emails)
    return changes


def _moved(
    booking: Mapping[str, Any],
    source: str,
    emails: list[str],
    listed: Mapping[str, Mapping[str, Any]],
    reason: object,
) -> Change:
    # In the booking's order of attendees, as Cal.com lists the seats it moved.
    ordered = [listed[email] for email in listed if email in emails]
    return _change(
        ChangeKind.SESSION_MOVED,
        booking,
        reschedule_uid=source,
        attendees=ordered,
        reason=reason if isinstance(reason, str) else None,
    )


def _seat_changes(
    booking: Mapping[str, Any],
    status: str,
    seen: Mapping[str, Seen],
    moved: set[tuple[str, str]],
) -> list[tuple[object, Change]]:
    """The first seat was taken when the booking was made; of the others Cal.com keeps no
    time, so they are placed at the booking's last change, taken before given up. Seats
    moved by the host (`moved`) are neither."""
    created, changed = _times(booking)
    uid = str(booking["uid"])
    changes: list[tuple[object, Change]] = []
    listed = _listed(booking)
    if status == "accepted":
        for position, (email, attendee) in enumerate(listed.items()):
            if email not in seen and (uid, email) not in moved:
                change = _change(ChangeKind.SEAT_TAKEN, booking, attendee=attendee)
                changes.append((created if position == 0 else changed, change))
    for email, held in sorted(seen.items()):
        if _active(held) and (status == "cancelled" or email not in listed):
            attendee = listed.get(email, {"email": email})
            changes.append((changed, _change(ChangeKind.SEAT_GIVEN_UP, booking, attendee=attendee)))
    return changes


def _listed(booking: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The booking's attendees by normalized email, first listing kept."""
    listed: dict[str, Mapping[str, Any]] = {}
    for attendee in _attendees(booking):
        email = calcom.normalize_email(str(attendee.get("email") or ""))
        if email:
            listed.setdefault(email, attendee)
    return listed


def _active(seen: Seen | None) -> bool:
    return seen is not None and seen.state == BookingState.ACTIVE


def _instant(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return None


def _times(booking: Mapping[str, Any]) -> tuple[object, object]:
    created = booking.get("createdAt")
    return created, booking.get("updatedAt") or created


_TRIGGERS = {
    ChangeKind.CREATED: calcom.Trigger.BOOKING_CREATED,
    ChangeKind.RESCHEDULED: calcom.Trigger.BOOKING_RESCHEDULED,
    ChangeKind.CANCELLED: calcom.Trigger.BOOKING_CANCELLED,
    ChangeKind.SEAT_TAKEN: calcom.Trigger.BOOKING_CREATED,
    ChangeKind.SEAT_GIVEN_UP: calcom.Trigger.BOOKING_CANCELLED,
    ChangeKind.SESSION_MOVED: calcom.Trigger.BOOKING_RESCHEDULED,
}


def _change(
    kind: ChangeKind,
    booking: Mapping[str, Any],
    *,
    reschedule_uid: str | None = None,
    attendee: Mapping[str, Any] | None = None,
    attendees: list[Mapping[str, Any]] | None = None,
    reason: str | None = None,
) -> Change:
    trigger = _TRIGGERS[kind]
    envelope = webhook_envelope(
        trigger,
        booking,
        reschedule_uid=reschedule_uid,
        attendees=attendees or ([attendee] if attendee is not None else None),
    )
    if reason is not None:
        envelope["payload"]["reschedulingReason"] = reason
    body = json.dumps(envelope, separators=(",", ":")).encode()
    delivery = calcom.parse_delivery(body)
    assert delivery.booking is not None
    parts = [
        "reconciliation",
        trigger,
        str(booking["uid"]),
        delivery.booking.applicant_email,
        reschedule_uid or "",
    ]
    if kind is ChangeKind.SESSION_MOVED:
        parts.append(delivery.booking.start_time.isoformat())
    event_id = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return Change(kind, dataclasses.replace(delivery, event_id=event_id), body)


def webhook_envelope(
    trigger: calcom.Trigger,
    booking: Mapping[str, Any],
    *,
    reschedule_uid: str | None = None,
    attendees: list[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The delivery Cal.com would have sent for this change (PROTOCOL.md's fields), with the
    API's booking beside it so the event log shows what reconciliation read. `attendees`:
    the seats it is about (their first one's answers in `responses`), else every attendee."""
    named = attendees or _attendees(booking)
    # A seat's answers are its attendee's own.
    owner = attendees[0] if attendees else booking
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
            for a in named
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
