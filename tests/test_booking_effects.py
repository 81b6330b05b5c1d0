"""What a booking event does to an application (`bookings.effects`), beside the state machine's
own tests: the columns written and the history entry, for each case of SPEC sections 2 and 3
(created, rescheduled, cancelled, several live bookings, terminal statuses).

Expectations are written out from the SPEC as plain strings, never taken from the code.
"""

from datetime import UTC, datetime

import pytest

from scheduling_service.bookings.effects import (
    BookingChange,
    Cause,
    InterviewSlot,
    history_values,
    plan_booking,
)
from scheduling_service.models import HistoryCause
from scheduling_service.pipeline import BookingEvent, Status

CREATED, RESCHEDULED, CANCELLED = (
    BookingEvent.CREATED,
    BookingEvent.RESCHEDULED,
    BookingEvent.CANCELLED,
)
TERMINAL = ["accepted", "waitlist", "declined"]
NOT_SCHEDULED = ["submitted", "under_review", *TERMINAL]


def slot(uid: str, hour: int, url: str | None = None) -> InterviewSlot:
    return InterviewSlot(
        uid,
        datetime(2026, 5, 4, hour, tzinfo=UTC),
        datetime(2026, 5, 4, hour, 30, tzinfo=UTC),
        url or f"https://meet.example.org/{uid}",
    )


CURRENT = slot("current-uid", 9)
NEW = slot("new-uid", 11)
OTHER = slot("other-uid", 14)

INTERVIEW_CLEARED = {
    "interview_booking_uid": None,
    "interview_start_time": None,
    "interview_end_time": None,
    "interview_meeting_url": None,
    "interview_no_show": None,
}


def interview_of(booked: InterviewSlot) -> dict[str, object]:
    """The application's interview columns holding `booked`, no-show marks cleared."""
    return {
        "interview_booking_uid": booked.booking_uid,
        "interview_start_time": booked.start_time,
        "interview_end_time": booked.end_time,
        "interview_meeting_url": booked.meeting_url,
        "interview_no_show": None,
    }


def planned(change: BookingChange | None) -> BookingChange:
    assert change is not None, "the event should change the application"
    return change


# Booking created (SPEC 2): the interview saved; waiting_* -> *_scheduled; others kept.


@pytest.mark.parametrize(
    ("status", "after"),
    [
        ("waiting_first_round", "first_round_scheduled"),
        ("waiting_second_round", "second_round_scheduled"),
    ],
)
def test_booking_created_schedules_a_waiting_application(status: str, after: str) -> None:
    change = planned(plan_booking(Status(status), None, CREATED, NEW))

    assert change.application_values() == {"status": after, **interview_of(NEW)}
    assert (change.kind, change.from_status, change.to_status) == (
        "interview_scheduled",
        status,
        after,
    )
    assert change.other is None


@pytest.mark.parametrize("status", NOT_SCHEDULED)
def test_booking_created_saves_the_interview_and_keeps_any_other_status(status: str) -> None:
    change = planned(plan_booking(Status(status), None, CREATED, NEW))

    assert change.application_values() == {"status": status, **interview_of(NEW)}
    assert (change.kind, change.from_status, change.to_status) == (
        "interview_scheduled",
        None,
        None,
    )


# Several live bookings (SPEC 2): a booking created while another is live becomes the
# interview, and the history names both as a double booking.


def test_booking_created_while_another_is_live_is_a_double_booking_naming_both() -> None:
    change = planned(
        plan_booking(
            Status("first_round_scheduled"), "current-uid", CREATED, NEW, other_live=CURRENT
        )
    )

    assert change.application_values() == {
        "status": "first_round_scheduled",
        **interview_of(NEW),
    }
    assert change.kind == "double_booking"
    assert change.other == CURRENT
    assert (change.from_status, change.to_status) == (None, None)


# Booking rescheduled (SPEC 2).


@pytest.mark.parametrize(
    "status", ["first_round_scheduled", "second_round_scheduled", "under_review", *TERMINAL]
)
def test_reschedule_of_the_current_interview_replaces_it_and_keeps_the_status(
    status: str,
) -> None:
    change = planned(
        plan_booking(
            Status(status),
            "current-uid",
            RESCHEDULED,
            NEW,
            replaces_uid="current-uid",
            replaces_live=True,
        )
    )

    assert change.application_values() == {"status": status, **interview_of(NEW)}
    assert (change.kind, change.from_status, change.to_status) == (
        "interview_rescheduled",
        None,
        None,
    )


def test_reschedule_of_an_unknown_booking_acts_as_a_booking_created() -> None:
    change = planned(
        plan_booking(
            Status("waiting_second_round"), None, RESCHEDULED, NEW, replaces_uid="unknown-uid"
        )
    )

    assert change.application_values() == {
        "status": "second_round_scheduled",
        **interview_of(NEW),
    }
    assert (change.kind, change.from_status, change.to_status) == (
        "interview_scheduled",
        "waiting_second_round",
        "second_round_scheduled",
    )


def test_reschedule_of_a_booking_cancelled_first_acts_as_a_booking_created() -> None:
    # Cal.com's host-requested reschedule cancels the original before the new booking.
    change = planned(
        plan_booking(
            Status("waiting_first_round"),
            None,
            RESCHEDULED,
            NEW,
            replaces_uid="current-uid",
            replaces_live=False,
        )
    )

    assert change.application_values() == {
        "status": "first_round_scheduled",
        **interview_of(NEW),
    }


def test_reschedule_of_a_live_booking_that_is_not_the_interview_changes_nothing() -> None:
    assert (
        plan_booking(
            Status("first_round_scheduled"),
            "current-uid",
            RESCHEDULED,
            NEW,
            replaces_uid="other-uid",
            replaces_live=True,
            other_live=CURRENT,
        )
        is None
    )


# Booking cancelled (SPEC 2).


@pytest.mark.parametrize(
    ("status", "after"),
    [
        ("first_round_scheduled", "waiting_first_round"),
        ("second_round_scheduled", "waiting_second_round"),
    ],
)
def test_cancelling_the_interview_with_nothing_else_live_clears_it_and_reverts(
    status: str, after: str
) -> None:
    change = planned(
        plan_booking(Status(status), "current-uid", CANCELLED, CURRENT, replaces_live=True)
    )

    assert change.application_values() == {"status": after, **INTERVIEW_CLEARED}
    assert (change.kind, change.from_status, change.to_status) == (
        "interview_cancelled",
        status,
        after,
    )
    assert change.other is None


@pytest.mark.parametrize("status", NOT_SCHEDULED)
def test_cancelling_the_interview_of_an_unscheduled_status_clears_it_and_keeps_the_status(
    status: str,
) -> None:
    change = planned(
        plan_booking(Status(status), "current-uid", CANCELLED, CURRENT, replaces_live=True)
    )

    assert change.application_values() == {"status": status, **INTERVIEW_CLEARED}
    assert (change.from_status, change.to_status) == (None, None)


@pytest.mark.parametrize("status", ["first_round_scheduled", "second_round_scheduled"])
def test_cancelling_the_interview_falls_back_on_the_other_live_booking(status: str) -> None:
    change = planned(
        plan_booking(
            Status(status),
            "current-uid",
            CANCELLED,
            CURRENT,
            replaces_live=True,
            other_live=OTHER,
        )
    )

    assert change.application_values() == {"status": status, **interview_of(OTHER)}
    assert change.kind == "interview_cancelled"
    assert change.other == OTHER
    assert (change.from_status, change.to_status) == (None, None)


@pytest.mark.parametrize("replaces_live", [True, False])
def test_cancelling_a_booking_that_is_not_the_interview_changes_nothing(
    replaces_live: bool,
) -> None:
    assert (
        plan_booking(
            Status("first_round_scheduled"),
            "current-uid",
            CANCELLED,
            OTHER,
            replaces_live=replaces_live,
        )
        is None
    )


# Terminal statuses are never changed by a booking (SPEC 2), whatever it is.


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize(
    ("event", "interview", "replaces_uid", "replaces_live", "other_live"),
    [
        (CREATED, None, None, False, None),
        (CREATED, "current-uid", None, False, CURRENT),
        (RESCHEDULED, "current-uid", "current-uid", True, None),
        (RESCHEDULED, None, "unknown-uid", False, None),
        (CANCELLED, "current-uid", None, True, None),
        (CANCELLED, "current-uid", None, True, OTHER),
    ],
)
def test_a_terminal_status_is_never_moved_by_a_booking(
    status: str,
    event: BookingEvent,
    interview: str | None,
    replaces_uid: str | None,
    replaces_live: bool,
    other_live: InterviewSlot | None,
) -> None:
    booked = CURRENT if event is CANCELLED else NEW
    change = plan_booking(
        Status(status),
        interview,
        event,
        booked,
        replaces_uid=replaces_uid,
        replaces_live=replaces_live,
        other_live=other_live,
    )

    assert change is not None
    assert change.application_values()["status"] == status
    assert (change.from_status, change.to_status) == (None, None)


# The history entry a change adds (SPEC 3: Cal.com's reason is kept on it).


def test_history_entry_records_the_change_its_cause_and_cal_coms_reason() -> None:
    change = planned(
        plan_booking(
            Status("first_round_scheduled"), "current-uid", CANCELLED, CURRENT, replaces_live=True
        )
    )
    cause = Cause(HistoryCause.WEBHOOK, "calcom", event_id="evt-1", reason="Applicant is ill")

    values = history_values(
        None,
        change.kind,
        cause,
        from_status=change.from_status,
        to_status=change.to_status,
        interview=change.slot,
    )

    assert values == {
        "application_id": None,
        "orphaned_interview_id": None,
        "kind": "interview_cancelled",
        "from_status": "first_round_scheduled",
        "to_status": "waiting_first_round",
        "interview": {
            "booking_uid": "current-uid",
            "start_time": "2026-05-04T09:00:00+00:00",
            "end_time": "2026-05-04T09:30:00+00:00",
            "meeting_url": "https://meet.example.org/current-uid",
            "no_show": None,
        },
        "other_interview": None,
        "cause": "webhook",
        "event_id": "evt-1",
        "actor": "calcom",
        "reason": "Applicant is ill",
    }
