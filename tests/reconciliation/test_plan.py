"""The comparison of Cal.com's bookings with what the service knows (pure)."""

from datetime import UTC, datetime
from typing import Any

from scheduling_service.reconciliation.plan import (
    ChangeKind,
    Known,
    Seen,
    emptied_sessions,
    plan_changes,
)

ACTIVE = Seen("active", None)
CANCELLED = Seen("cancelled", None)


def api_booking(uid: str, minute: int, **fields: Any) -> dict[str, Any]:
    email = fields.pop("email", "jane@example.org")
    return {
        "id": minute,
        "uid": uid,
        "status": "accepted",
        "start": "2026-05-12T14:00:00.000Z",
        "end": "2026-05-12T14:30:00.000Z",
        "attendees": [{"name": "Jane", "email": email, "timeZone": "UTC", "absent": False}],
        "bookingFieldsResponses": {"email": email, "name": "Jane"},
        "metadata": {},
        "location": f"https://meet.example/{uid}",
        "createdAt": f"2026-05-01T10:{minute:02d}:00.000Z",
        "updatedAt": None,
        **fields,
    }


def seat(email: str) -> dict[str, Any]:
    return {"name": email, "email": email, "timeZone": "UTC", "seatUid": f"seat-{email}"}


def kinds(bookings: list[dict[str, Any]], known: Known) -> list[Any]:
    plan = plan_changes(bookings, known)
    return [(c.kind, c.booking.uid, c.booking.reschedule_uid) for c in plan.changes]


def test_a_chain_of_reschedules_is_replayed_link_by_link_oldest_first() -> None:
    bookings = [
        api_booking("c", 3, rescheduledFromUid="b"),
        api_booking("a", 1, status="cancelled", rescheduledToUid="b"),
        api_booking("b", 2, status="cancelled", rescheduledFromUid="a", rescheduledToUid="c"),
    ]

    assert kinds(bookings, {}) == [
        (ChangeKind.CREATED, "a", None),
        (ChangeKind.RESCHEDULED, "b", "a"),
        (ChangeKind.RESCHEDULED, "c", "b"),
    ]


def test_what_the_service_knows_already_is_no_change() -> None:
    bookings = [
        api_booking("a", 1),
        api_booking("b", 2, status="cancelled", updatedAt="2026-05-01T11:00:00Z"),
        api_booking("c", 3, status="cancelled", rescheduledToUid="d"),
    ]
    known = {
        "a": {"jane@example.org": ACTIVE},
        "b": {"jane@example.org": CANCELLED},
        "c": {"jane@example.org": ACTIVE},
    }

    assert kinds(bookings, known) == []


def test_a_cancellation_never_seen_follows_the_changes_made_before_it() -> None:
    bookings = [
        api_booking("a", 1, status="cancelled", updatedAt="2026-05-01T12:00:00Z"),
        api_booking("b", 30, email="bo@example.org"),
    ]

    assert kinds(bookings, {"a": {"jane@example.org": ACTIVE}}) == [
        (ChangeKind.CREATED, "b", None),
        (ChangeKind.CANCELLED, "a", None),
    ]


def test_pending_and_rejected_bookings_are_skipped_as_their_webhooks_are() -> None:
    bookings = [api_booking("p", 1, status="pending"), api_booking("r", 2, status="rejected")]

    assert kinds(bookings, {}) == []


def test_seats_taken_and_given_up_are_found_per_attendee() -> None:
    seated = api_booking(
        "s", 1, attendees=[seat("one@x.org"), seat("new@x.org")], updatedAt="2026-05-01T11:00:00Z"
    )
    known = {"s": {"one@x.org": ACTIVE, "gone@x.org": ACTIVE, "left@x.org": CANCELLED}}

    plan = plan_changes([seated], known)

    assert [(c.kind, c.booking.attendee_emails, c.booking.seated) for c in plan.changes] == [
        (ChangeKind.SEAT_TAKEN, ("new@x.org",), True),
        (ChangeKind.SEAT_GIVEN_UP, ("gone@x.org",), True),
    ]


def test_the_same_change_has_the_same_event_id_and_each_seat_its_own() -> None:
    seated = api_booking("s", 1, attendees=[seat("one@x.org"), seat("two@x.org")])

    first = plan_changes([seated], {}).changes
    again = plan_changes([seated], {}).changes

    assert [c.delivery.event_id for c in first] == [c.delivery.event_id for c in again]
    assert len({c.delivery.event_id for c in first}) == 2


def test_a_booking_the_webhook_parser_refuses_is_reported_not_applied() -> None:
    nameless = api_booking("n", 1, attendees=[], bookingFieldsResponses={})

    plan = plan_changes([nameless], {})

    assert plan.changes == []
    assert [(s.booking_uid, "email" in s.reason) for s in plan.skipped] == [("n", True)]


def test_the_reasons_cal_com_keeps_reach_the_changes_as_their_webhooks_carry_them() -> None:
    bookings = [
        api_booking("a", 1, status="cancelled", rescheduledToUid="b"),
        api_booking("b", 2, rescheduledFromUid="a", reschedulingReason="Clash with another"),
        api_booking(
            "c",
            3,
            status="cancelled",
            cancellationReason="Found another slot",
            updatedAt="2026-05-01T12:00:00Z",
        ),
    ]
    known = {"a": {"jane@example.org": ACTIVE}, "c": {"jane@example.org": ACTIVE}}

    plan = plan_changes(bookings, known)

    assert [(c.kind, c.booking.reason) for c in plan.changes] == [
        (ChangeKind.RESCHEDULED, "Clash with another"),
        (ChangeKind.CANCELLED, "Found another slot"),
    ]


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def moves(bookings: list[dict[str, Any]], known: Known) -> list[Any]:
    return [
        (c.kind, c.booking.uid, c.booking.reschedule_uid, c.booking.attendee_emails)
        for c in plan_changes(bookings, known).changes
    ]


def test_a_session_its_host_moved_under_its_uid_moves_every_seat_held_there_once() -> None:
    held = Seen("active", at("2026-05-12T14:00:00Z"))
    moved = api_booking(
        "s",
        1,
        start="2026-05-13T09:00:00.000Z",
        end="2026-05-13T09:30:00.000Z",
        attendees=[seat("one@x.org"), seat("two@x.org")],
        updatedAt="2026-05-02T08:00:00Z",
        # Where Cal.com keeps the reason of a session moved in place.
        cancellationReason="Host travelling",
    )
    known = {"s": {"one@x.org": held, "two@x.org": held}}

    plan = plan_changes([moved], known)

    assert moves([moved], known) == [
        (ChangeKind.SESSION_MOVED, "s", "s", ("one@x.org", "two@x.org"))
    ]
    assert plan.changes[0].booking.reason == "Host travelling"
    assert plan.changes[0].booking.start_time == at("2026-05-13T09:00:00Z")
    arrived = Seen("active", at("2026-05-13T09:00:00Z"))
    assert moves([moved], {"s": {"one@x.org": arrived, "two@x.org": arrived}}) == []


def test_a_session_moved_twice_under_its_uid_is_two_changes() -> None:
    held = {"s": {"one@x.org": Seen("active", at("2026-05-12T14:00:00Z"))}}
    first, second = (
        api_booking(
            "s", 1, start=f"{day}T09:00:00Z", end=f"{day}T09:30:00Z", attendees=[seat("one@x.org")]
        )
        for day in ("2026-05-13", "2026-05-14")
    )

    [moved_once] = plan_changes([first], held).changes
    [moved_again] = plan_changes([second], held).changes

    assert moved_once.delivery.event_id != moved_again.delivery.event_id


def test_a_session_its_host_merged_into_another_booking_moves_its_seats_there() -> None:
    emptied = api_booking(
        "session", 1, status="cancelled", attendees=[], updatedAt="2026-05-02T08:00:00Z"
    )
    later = api_booking(
        "later",
        2,
        start="2026-05-13T09:00:00.000Z",
        end="2026-05-13T09:30:00.000Z",
        attendees=[seat("ann@x.org"), seat("one@x.org"), seat("two@x.org")],
    )
    known = {
        "session": {"one@x.org": ACTIVE, "two@x.org": ACTIVE, "gone@x.org": CANCELLED},
        "later": {"ann@x.org": ACTIVE},
    }

    assert emptied_sessions([emptied, later], known) == {"session": ["one@x.org", "two@x.org"]}
    assert moves([emptied, later], known) == [
        (ChangeKind.SESSION_MOVED, "later", "session", ("one@x.org", "two@x.org"))
    ]


def test_a_seat_of_an_emptied_session_found_nowhere_else_was_given_up() -> None:
    emptied = api_booking("session", 1, status="cancelled", attendees=[])
    elsewhere = api_booking("later", 2, attendees=[seat("one@x.org")])
    known = {"session": {"one@x.org": ACTIVE, "two@x.org": ACTIVE}}

    assert moves([emptied, elsewhere], known) == [
        (ChangeKind.SESSION_MOVED, "later", "session", ("one@x.org",)),
        (ChangeKind.SEAT_GIVEN_UP, "session", None, ("two@x.org",)),
    ]
