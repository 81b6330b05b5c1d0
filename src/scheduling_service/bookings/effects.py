"""What a booking event does to an application: the state machine's decision (`pipeline`)
turned into the columns to write and the history entry to add. Pure: no I/O.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduling_service import pipeline
from scheduling_service.models import HistoryCause, HistoryKind
from scheduling_service.pipeline import BookingEvent, Concerns, InterviewChange, Status


@dataclass(frozen=True)
class InterviewSlot:
    booking_uid: str
    start_time: datetime
    end_time: datetime
    meeting_url: str | None
    no_show: dict[str, Any] | None = None
    """Who Cal.com marked absent: `{"attendees": [emails], "host": bool}`, or None."""

    def as_json(self) -> dict[str, Any]:
        return {
            "booking_uid": self.booking_uid,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat(),
            "meeting_url": self.meeting_url,
            "no_show": self.no_show,
        }


@dataclass(frozen=True)
class Cause:
    """Why an application changed, as its history records it."""

    kind: HistoryCause
    actor: str
    event_id: str | None = None
    reason: str | None = None
    orphaned_interview_id: uuid.UUID | None = None


@dataclass(frozen=True)
class BookingChange:
    """What a booking event does to an application, as the state machine decides it."""

    status: Status
    interview: InterviewChange
    slot: InterviewSlot
    kind: HistoryKind
    from_status: Status | None
    to_status: Status | None
    other: InterviewSlot | None = None
    """The other live booking: the one a double booking adds to, or the one an application
    falls back on when its interview is cancelled."""

    def application_values(self) -> dict[str, Any]:
        """The columns of the application to write."""
        values: dict[str, Any] = {"status": self.status}
        saved = {
            InterviewChange.SAVE: self.slot,
            InterviewChange.FALL_BACK: self.other,
        }.get(self.interview)
        if saved is not None:
            values.update(
                interview_booking_uid=saved.booking_uid,
                interview_start_time=saved.start_time,
                interview_end_time=saved.end_time,
                interview_meeting_url=saved.meeting_url,
                interview_no_show=None,
            )
        elif self.interview is InterviewChange.CLEAR:
            values.update(
                interview_booking_uid=None,
                interview_start_time=None,
                interview_end_time=None,
                interview_meeting_url=None,
                interview_no_show=None,
            )
        return values


def plan_booking(
    status: Status,
    interview_booking_uid: str | None,
    event: BookingEvent,
    slot: InterviewSlot,
    *,
    replaces_uid: str | None = None,
    replaces_live: bool = False,
    other_live: InterviewSlot | None = None,
    kind: HistoryKind | None = None,
) -> BookingChange | None:
    """The change a booking event makes to an application in `status` whose current
    interview is `interview_booking_uid`; None when it changes nothing.

    `slot` is the booking created, the new booking of a reschedule (`replaces_uid` names the
    one it replaces) or the booking cancelled. `replaces_live` says whether the booking
    rescheduled or cancelled was a live booking of the application; `other_live` is the
    application's most recently created live booking besides it (and besides `slot`).
    """
    concerned_uid = slot.booking_uid if event is BookingEvent.CANCELLED else replaces_uid
    if concerned_uid is not None and interview_booking_uid == concerned_uid:
        concerns = Concerns.CURRENT
    elif replaces_live:
        concerns = Concerns.OTHER_LIVE
    else:
        concerns = Concerns.NOTHING_LIVE
    before = status
    another_live = other_live is not None
    transition = pipeline.apply_booking(before, event, concerns, another_live=another_live)
    if transition.interview is InterviewChange.KEEP and transition.status is before:
        return None
    status_changed = transition.status is not before
    scheduled_anew = (
        transition.interview is InterviewChange.SAVE and concerns is not Concerns.CURRENT
    )
    if kind is None:
        if event is BookingEvent.CANCELLED:
            kind = HistoryKind.INTERVIEW_CANCELLED
        elif scheduled_anew and other_live is not None:
            kind = HistoryKind.DOUBLE_BOOKING
        elif scheduled_anew:
            kind = HistoryKind.INTERVIEW_SCHEDULED
        else:
            kind = HistoryKind.INTERVIEW_RESCHEDULED
    keeps_other = transition.interview is InterviewChange.FALL_BACK or (
        kind is HistoryKind.DOUBLE_BOOKING
    )
    return BookingChange(
        status=transition.status,
        interview=transition.interview,
        slot=slot,
        kind=kind,
        from_status=before if status_changed else None,
        to_status=transition.status if status_changed else None,
        other=other_live if keeps_other else None,
    )


def history_values(
    application_id: uuid.UUID | None,
    kind: HistoryKind,
    cause: Cause,
    *,
    from_status: Status | None,
    to_status: Status | None,
    interview: InterviewSlot | None = None,
    other_interview: InterviewSlot | None = None,
) -> dict[str, Any]:
    """The columns of a history entry."""
    return {
        "application_id": application_id,
        "orphaned_interview_id": cause.orphaned_interview_id,
        "kind": kind,
        "from_status": from_status,
        "to_status": to_status,
        "interview": interview.as_json() if interview else None,
        "other_interview": other_interview.as_json() if other_interview else None,
        "cause": cause.kind,
        "event_id": cause.event_id,
        "actor": cause.actor,
        "reason": cause.reason,
    }


def no_show_after(
    current: dict[str, Any] | None, attendees: Iterable[tuple[str, bool]], host: bool | None
) -> dict[str, Any] | None:
    """An interview's no-show after Cal.com sets or clears marks (`attendees` as (email,
    absent), `host` when sent); None when nobody is marked absent any more."""
    absent = set(current["attendees"]) if current else set()
    host_absent = bool(current and current["host"])
    for email, is_absent in attendees:
        if is_absent:
            absent.add(email)
        else:
            absent.discard(email)
    if host is not None:
        host_absent = host
    if not absent and not host_absent:
        return None
    return {"attendees": sorted(absent), "host": host_absent}
