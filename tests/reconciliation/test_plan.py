"""The comparison of Cal.com's bookings with what the service knows (pure)."""

from typing import Any

from scheduling_service.reconciliation.plan import ChangeKind, plan_changes


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


def kinds(bookings: list[dict[str, Any]], known: dict[str, dict[str, str]]) -> list[Any]:
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
        "a": {"jane@example.org": "active"},
        "b": {"jane@example.org": "cancelled"},
        "c": {"jane@example.org": "active"},
    }

    assert kinds(bookings, known) == []


def test_a_cancellation_never_seen_follows_the_changes_made_before_it() -> None:
    bookings = [
        api_booking("a", 1, status="cancelled", updatedAt="2026-05-01T12:00:00Z"),
        api_booking("b", 30, email="bo@example.org"),
    ]

    assert kinds(bookings, {"a": {"jane@example.org": "active"}}) == [
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
    known = {"s": {"one@x.org": "active", "gone@x.org": "active", "left@x.org": "cancelled"}}

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
    known = {"a": {"jane@example.org": "active"}, "c": {"jane@example.org": "active"}}

    plan = plan_changes(bookings, known)

    assert [(c.kind, c.booking.reason) for c in plan.changes] == [
        (ChangeKind.RESCHEDULED, "Clash with another"),
        (ChangeKind.CANCELLED, "Found another slot"),
    ]
