"""Parsing Cal.com deliveries, against the real sample bodies in shared/calcom/."""

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from scheduling_service.calcom.delivery import (
    Attendee,
    Delivery,
    MalformedDelivery,
    NoShow,
    event_id_for,
    parse_delivery,
)
from tests.calcom_bodies import SAMPLES

Document = dict[str, Any]


# Said of every body that is not Cal.com's envelope (the admin reads it in the event log).
TEMPLATE_HINT = (
    "not Cal.com's default webhook body: a custom payload template on this webhook in Cal.com "
    "may be the cause; clear the template so that Cal.com sends its default JSON body"
)


def _raw(name: str) -> bytes:
    return (SAMPLES / f"{name}.json").read_bytes()


def _sample(name: str) -> Document:
    document: Document = json.loads(_raw(name))
    return document


def _body(document: object) -> bytes:
    # Cal.com sends JSON with no whitespace.
    return json.dumps(document, separators=(",", ":")).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected_event_id(trigger: str, uid: str, created_at: str) -> str:
    return _sha256(f"{trigger}\n{uid}\n{created_at}".encode())


def _created_with(mutate: Callable[[Document], None]) -> Delivery:
    """The booking_created sample with its payload changed by `mutate`, parsed."""
    document = _sample("booking_created")
    mutate(document["payload"])
    return parse_delivery(_body(document))


def _booking_with(mutate: Callable[[Document], None]) -> Any:
    booking = _created_with(mutate).booking
    assert booking is not None
    return booking


def _refused(document: object) -> MalformedDelivery:
    body = document if isinstance(document, bytes) else _body(document)
    with pytest.raises(MalformedDelivery) as refused:
        parse_delivery(body)
    assert refused.value.reason
    assert str(refused.value) == refused.value.reason
    return refused.value


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- the sample bodies -----------------------------------------------------------------------


def test_samples_are_found_beside_the_repository() -> None:
    names = {path.stem for path in SAMPLES.glob("*.json")}
    assert {"booking_created", "booking_rescheduled", "booking_cancelled", "ping"} <= names


def test_booking_created_sample_parses_into_its_booking() -> None:
    delivery = parse_delivery(_raw("booking_created"))
    assert delivery.trigger == "BOOKING_CREATED"
    assert delivery.created_at == "2026-05-04T09:12:45.123Z"
    assert delivery.event_id == _expected_event_id(
        "BOOKING_CREATED", "kZ3rT9mPqW2xYb7NcV4dHs", "2026-05-04T09:12:45.123Z"
    )
    booking = delivery.booking
    assert booking is not None
    assert booking.uid == "kZ3rT9mPqW2xYb7NcV4dHs"
    assert booking.reschedule_uid is None
    assert booking.applicant_email == "jane.doe@example.com"
    assert booking.applicant_name == "Jane Doe"
    assert booking.time_zone == "America/New_York"
    assert booking.attendee_emails == ("jane.doe@example.com",)
    assert booking.start_time == _utc(2026, 5, 12, 14, 0)
    assert booking.end_time == _utc(2026, 5, 12, 14, 30)
    assert booking.start_time.utcoffset() == timedelta(0)
    assert booking.end_time.utcoffset() == timedelta(0)
    assert booking.meeting_url == "https://app.cal.com/video/kZ3rT9mPqW2xYb7NcV4dHs"
    assert booking.application_id_hint is None
    assert booking.seated is False


def test_booking_rescheduled_sample_names_new_uid_and_the_original() -> None:
    delivery = parse_delivery(_raw("booking_rescheduled"))
    assert delivery.trigger == "BOOKING_RESCHEDULED"
    assert delivery.event_id == _expected_event_id(
        "BOOKING_RESCHEDULED", "P8wQe2LmX5vTn3RkY9cJaB", "2026-05-06T16:40:02.511Z"
    )
    booking = delivery.booking
    assert booking is not None
    assert booking.uid == "P8wQe2LmX5vTn3RkY9cJaB"
    assert booking.reschedule_uid == "kZ3rT9mPqW2xYb7NcV4dHs"
    assert booking.applicant_email == "jane.doe@example.com"
    assert booking.applicant_name == "Jane Doe"
    assert booking.time_zone == "America/New_York"
    # The new time, not rescheduleStartTime/rescheduleEndTime (the original's).
    assert booking.start_time == _utc(2026, 5, 14, 15, 0)
    assert booking.end_time == _utc(2026, 5, 14, 15, 30)
    assert booking.meeting_url == "https://app.cal.com/video/P8wQe2LmX5vTn3RkY9cJaB"
    assert booking.seated is False


def test_booking_cancelled_sample_parses_plus_zero_offset_and_has_no_meeting_link() -> None:
    delivery = parse_delivery(_raw("booking_cancelled"))
    assert delivery.trigger == "BOOKING_CANCELLED"
    assert delivery.event_id == _expected_event_id(
        "BOOKING_CANCELLED", "P8wQe2LmX5vTn3RkY9cJaB", "2026-05-08T08:03:19.004Z"
    )
    booking = delivery.booking
    assert booking is not None
    assert booking.uid == "P8wQe2LmX5vTn3RkY9cJaB"
    assert booking.reschedule_uid is None
    assert booking.applicant_email == "jane.doe@example.com"
    assert booking.applicant_name == "Jane Doe"
    assert booking.start_time == _utc(2026, 5, 14, 15, 0)
    assert booking.end_time == _utc(2026, 5, 14, 15, 30)
    assert booking.start_time.utcoffset() == timedelta(0)
    # No metadata, no videoCallData and location "integrations:daily".
    assert booking.meeting_url is None
    assert booking.application_id_hint is None
    assert booking.seated is False


def test_ping_sample_has_no_booking_and_event_id_is_body_hash() -> None:
    body = _raw("ping")
    delivery = parse_delivery(body)
    assert delivery.trigger == "PING"
    assert delivery.booking is None
    assert delivery.created_at == "2026-05-04T09:00:00.000Z"
    assert delivery.event_id == _sha256(body)


def test_parsing_is_independent_of_json_whitespace() -> None:
    pretty = parse_delivery(_raw("booking_created"))
    compact = parse_delivery(_body(_sample("booking_created")))
    assert pretty.booking == compact.booking
    assert pretty.event_id == compact.event_id


# --- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected_start", "expected_end"),
    [
        pytest.param(
            "2026-05-12T14:00:00Z",
            "2026-05-12T14:30:00Z",
            _utc(2026, 5, 12, 14, 0),
            _utc(2026, 5, 12, 14, 30),
            id="Z",
        ),
        pytest.param(
            "2026-05-12T14:00:00+00:00",
            "2026-05-12T14:30:00+00:00",
            _utc(2026, 5, 12, 14, 0),
            _utc(2026, 5, 12, 14, 30),
            id="plus-zero",
        ),
        pytest.param(
            "2026-05-12T14:00:00.000Z",
            "2026-05-12T14:30:00.000Z",
            _utc(2026, 5, 12, 14, 0),
            _utc(2026, 5, 12, 14, 30),
            id="milliseconds-Z",
        ),
        pytest.param(
            "2026-05-12T16:00:00+02:00",
            "2026-05-12T16:30:00+02:00",
            _utc(2026, 5, 12, 14, 0),
            _utc(2026, 5, 12, 14, 30),
            id="plus-two-hours",
        ),
        pytest.param(
            "2026-05-12T10:00:00-04:00",
            "2026-05-12T10:30:00-04:00",
            _utc(2026, 5, 12, 14, 0),
            _utc(2026, 5, 12, 14, 30),
            id="minus-four-hours",
        ),
        pytest.param(
            "2026-05-13T01:00:00+11:00",
            "2026-05-12T14:30:00Z",
            _utc(2026, 5, 12, 14, 0),
            _utc(2026, 5, 12, 14, 30),
            id="offset-crossing-midnight",
        ),
    ],
)
def test_times_in_any_offset_are_converted_to_utc(
    start: str, end: str, expected_start: datetime, expected_end: datetime
) -> None:
    def mutate(payload: Document) -> None:
        payload["startTime"] = start
        payload["endTime"] = end

    booking = _booking_with(mutate)
    assert booking.start_time == expected_start
    assert booking.end_time == expected_end
    assert booking.start_time.utcoffset() == timedelta(0)
    assert booking.end_time.utcoffset() == timedelta(0)
    assert (booking.start_time.hour, booking.end_time.hour) == (
        expected_start.hour,
        expected_end.hour,
    )


@pytest.fixture
def local_time_zone_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_zone_new_york")
def test_times_are_utc_whatever_the_machines_local_time_zone() -> None:
    def mutate(payload: Document) -> None:
        payload["startTime"] = "2026-05-12T16:00:00+02:00"
        payload["endTime"] = "2026-05-12T16:30:00+02:00"

    booking = _booking_with(mutate)
    assert (booking.start_time.isoformat(), booking.end_time.isoformat()) == (
        "2026-05-12T14:00:00+00:00",
        "2026-05-12T14:30:00+00:00",
    )


def test_start_equal_to_end_is_accepted() -> None:
    def mutate(payload: Document) -> None:
        payload["endTime"] = payload["startTime"]

    booking = _booking_with(mutate)
    assert booking.start_time == booking.end_time


# --- meeting link ----------------------------------------------------------------------------


def _set_link_fields(
    payload: Document, *, metadata: object = None, video: object = None, location: object = None
) -> None:
    for key, value in (("metadata", metadata), ("videoCallData", video), ("location", location)):
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value


@pytest.mark.parametrize(
    ("metadata", "video", "location", "expected"),
    [
        pytest.param(
            {"videoCallUrl": "https://app.cal.com/video/a"},
            {"url": "https://meetco.daily.co/b"},
            "https://zoom.us/j/c",
            "https://app.cal.com/video/a",
            id="metadata-videoCallUrl-first",
        ),
        pytest.param(
            {},
            {"url": "https://meetco.daily.co/b"},
            "https://zoom.us/j/c",
            "https://meetco.daily.co/b",
            id="videoCallData-when-no-videoCallUrl",
        ),
        pytest.param(
            None,
            {"url": "https://meetco.daily.co/b"},
            "integrations:daily",
            "https://meetco.daily.co/b",
            id="videoCallData-when-no-metadata",
        ),
        pytest.param(
            {"videoCallUrl": "integrations:daily"},
            {"url": "https://meetco.daily.co/b"},
            None,
            "https://meetco.daily.co/b",
            id="non-url-videoCallUrl-falls-through",
        ),
        pytest.param(
            {"applicationId": "x"},
            {"type": "daily_video"},
            "https://zoom.us/j/c",
            "https://zoom.us/j/c",
            id="https-location-when-no-video-url",
        ),
        pytest.param(
            None, None, "http://meet.example.org/room", "http://meet.example.org/room", id="http"
        ),
        pytest.param(
            None, None, "  https://zoom.us/j/c  ", "https://zoom.us/j/c", id="location-trimmed"
        ),
        pytest.param(None, None, "integrations:daily", None, id="integrations-location-is-none"),
        pytest.param(None, None, "12 High Street, London", None, id="address-location-is-none"),
        pytest.param(None, None, "ftp://files.example.org/x", None, id="ftp-location-is-none"),
        pytest.param(None, None, "", None, id="empty-location-is-none"),
        pytest.param(None, None, None, None, id="nothing-is-none"),
        pytest.param({"videoCallUrl": None}, {"url": None}, None, None, id="null-urls-are-none"),
        pytest.param(
            {"videoCallUrl": 5}, {"url": ["x"]}, None, None, id="non-string-urls-are-none"
        ),
    ],
)
def test_meeting_link_rule(
    metadata: object, video: object, location: object, expected: str
) -> None:
    def mutate(payload: Document) -> None:
        _set_link_fields(payload, metadata=metadata, video=video, location=location)

    assert _booking_with(mutate).meeting_url == expected


def test_meeting_link_of_2048_characters_is_kept_and_a_longer_one_is_none() -> None:
    longest = "https://meet.example.org/" + "r" * (2048 - len("https://meet.example.org/"))

    def link(url: str) -> Callable[[Document], None]:
        def mutate(payload: Document) -> None:
            _set_link_fields(payload, location=url)

        return mutate

    assert _booking_with(link(longest)).meeting_url == longest
    assert _booking_with(link(longest + "r")).meeting_url is None


# --- applicant email, name, time zone --------------------------------------------------------


@pytest.mark.parametrize(
    ("responses", "attendees", "expected"),
    [
        pytest.param(
            {"email": {"label": "email", "value": "  Jane.Doe@Example.COM \t"}},
            [{"email": "other@example.com"}],
            "jane.doe@example.com",
            id="responses-email-value-wins-trimmed-lowercased",
        ),
        pytest.param(
            {"email": "  JANE@Example.org "},
            [{"email": "other@example.com"}],
            "jane@example.org",
            id="responses-email-plain-string",
        ),
        pytest.param(
            {"name": {"value": "Jane"}},
            [{"email": " First@Example.ORG "}, {"email": "second@example.org"}],
            "first@example.org",
            id="first-attendee-when-no-responses-email",
        ),
        pytest.param(
            None,
            [{"email": "FIRST@example.org"}],
            "first@example.org",
            id="first-attendee-when-no-responses",
        ),
        pytest.param(
            {"email": {"value": "   "}},
            [{"email": "first@example.org"}],
            "first@example.org",
            id="first-attendee-when-responses-email-blank",
        ),
        pytest.param(
            {"email": {"label": "email"}},
            [{"email": "first@example.org"}],
            "first@example.org",
            id="first-attendee-when-responses-email-has-no-value",
        ),
        pytest.param(
            {"email": {"value": 42}},
            [{"email": "first@example.org"}],
            "first@example.org",
            id="first-attendee-when-responses-email-not-a-string",
        ),
        pytest.param(
            {"email": {"value": "jane@example.org"}},
            [],
            "jane@example.org",
            id="responses-email-without-attendees",
        ),
    ],
)
def test_applicant_email_rule(responses: object, attendees: object, expected: str) -> None:
    def mutate(payload: Document) -> None:
        payload["responses"] = responses
        payload["attendees"] = attendees

    assert _booking_with(mutate).applicant_email == expected


@pytest.mark.parametrize(
    ("name", "attendee_name", "expected"),
    [
        pytest.param({"value": "Jane Doe"}, "Other", "Jane Doe", id="responses-name-value"),
        pytest.param({"value": "  Jane Doe  "}, "Other", "Jane Doe", id="trimmed"),
        pytest.param(
            {"value": {"firstName": "Jane", "lastName": "Doe"}},
            "Other",
            "Jane Doe",
            id="first-and-last-name",
        ),
        pytest.param(
            {"value": {"firstName": " Jane ", "lastName": ""}}, "Other", "Jane", id="first-only"
        ),
        pytest.param({"value": {"lastName": "Doe"}}, "Other", "Doe", id="last-only"),
        pytest.param("Jane Plain", "Other", "Jane Plain", id="plain-string"),
        pytest.param(None, "Attendee Name", "Attendee Name", id="attendee-when-no-name"),
        pytest.param({"value": ""}, "Attendee Name", "Attendee Name", id="attendee-when-blank"),
        pytest.param(
            {"value": {"firstName": "", "lastName": ""}},
            "Attendee Name",
            "Attendee Name",
            id="attendee-when-empty-name-parts",
        ),
        pytest.param(None, None, None, id="none-when-nowhere"),
        pytest.param({"value": "n" * 600}, "Other", "n" * 500, id="cut-at-500-characters"),
        pytest.param(None, "a" * 600, "a" * 500, id="attendee-name-cut-at-500-characters"),
    ],
)
def test_applicant_name_rule(name: object, attendee_name: str | None, expected: str | None) -> None:
    def mutate(payload: Document) -> None:
        responses: Document = {"email": {"value": "jane@example.org"}}
        if name is not None:
            responses["name"] = name
        payload["responses"] = responses
        payload["attendees"] = [{"email": "jane@example.org", "name": attendee_name}]

    assert _booking_with(mutate).applicant_name == expected


def test_time_zone_is_first_attendees_and_none_without_attendees() -> None:
    def two_attendees(payload: Document) -> None:
        payload["attendees"] = [
            {"email": "a@example.org", "timeZone": "Asia/Tokyo"},
            {"email": "b@example.org", "timeZone": "Europe/Paris"},
        ]

    def no_attendees(payload: Document) -> None:
        payload["attendees"] = []

    assert _booking_with(two_attendees).time_zone == "Asia/Tokyo"
    booking = _booking_with(no_attendees)
    assert booking.time_zone is None
    assert booking.attendee_emails == ()


def test_attendee_emails_are_normalised_in_order_and_skip_blank_and_overlong_ones() -> None:
    def mutate(payload: Document) -> None:
        payload["attendees"] = [
            {"email": " Booker@Example.ORG "},
            {"email": ""},
            {"name": "No Email"},
            {"email": "   "},
            {"email": "x" * 400 + "@example.org"},
            {"email": "GUEST@example.org"},
        ]

    assert _booking_with(mutate).attendee_emails == ("booker@example.org", "guest@example.org")


def test_attendees_names_and_time_zones_are_trimmed_cut_at_500_and_blank_is_none() -> None:
    def mutate(payload: Document) -> None:
        payload["attendees"] = [
            {"email": "ann@example.org", "name": "  Ann  ", "timeZone": " Asia/Tokyo "},
            {"email": "bob@example.org", "name": "n" * 600, "timeZone": "z" * 600},
            {"email": "cid@example.org", "name": "   ", "timeZone": ""},
        ]

    assert _booking_with(mutate).attendees == (
        Attendee("ann@example.org", "Ann", "Asia/Tokyo"),
        Attendee("bob@example.org", "n" * 500, "z" * 500),
        Attendee("cid@example.org", None, None),
    )


def test_seat_of_an_attendee_is_the_booking_with_that_attendee_as_applicant() -> None:
    def mutate(payload: Document) -> None:
        payload["seatsPerTimeSlot"] = 4
        payload["attendees"] = [
            {"email": "jane.doe@example.com", "name": "Jane Doe", "timeZone": "America/New_York"},
            {"email": "Guest@Example.org", "name": " Guest Two ", "timeZone": "Europe/Paris"},
        ]

    booking = _booking_with(mutate)
    seat = booking.as_seat_of("guest@example.org")

    assert (seat.applicant_email, seat.applicant_name, seat.time_zone) == (
        "guest@example.org",
        "Guest Two",
        "Europe/Paris",
    )
    assert (seat.uid, seat.start_time, seat.end_time, seat.attendees, seat.seated) == (
        booking.uid,
        booking.start_time,
        booking.end_time,
        booking.attendees,
        True,
    )
    assert booking.applicant_email == "jane.doe@example.com"


@pytest.mark.parametrize("where", ["responses", "attendee"])
def test_applicant_email_of_320_characters_is_kept_and_321_is_malformed(where: str) -> None:
    longest = "a" * (320 - len("@example.org")) + "@example.org"

    def email(value: str) -> Callable[[Document], None]:
        def mutate(payload: Document) -> None:
            if where == "responses":
                payload["responses"] = {"email": {"value": value}}
            else:
                payload["responses"] = {}
                payload["attendees"] = [{"email": value}]

        return mutate

    booking = _booking_with(email(longest))
    assert booking.applicant_email == longest
    assert booking.attendee_emails == (
        (longest,) if where == "attendee" else ("jane.doe@example.com",)
    )
    with pytest.raises(MalformedDelivery) as refused:
        _created_with(email("a" + longest))
    assert refused.value.reason == "the applicant email is longer than 320 characters"


# --- metadata.applicationId ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "8f14e45f-ceea-4e8a-9c3b-0a1b2c3d4e5f",
            UUID("8f14e45f-ceea-4e8a-9c3b-0a1b2c3d4e5f"),
            id="valid-uuid",
        ),
        pytest.param(
            "8F14E45F-CEEA-4E8A-9C3B-0A1B2C3D4E5F",
            UUID("8f14e45f-ceea-4e8a-9c3b-0a1b2c3d4e5f"),
            id="upper-case-uuid",
        ),
        pytest.param("not-a-uuid", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param("8f14e45f-ceea-4e8a-9c3b", None, id="truncated"),
        pytest.param(12345, None, id="number"),
        pytest.param(None, None, id="null"),
        pytest.param(["8f14e45f-ceea-4e8a-9c3b-0a1b2c3d4e5f"], None, id="list"),
    ],
)
def test_application_id_hint_is_a_uuid_or_none(value: object, expected: UUID | None) -> None:
    def mutate(payload: Document) -> None:
        payload["metadata"] = {"applicationId": value}

    assert _booking_with(mutate).application_id_hint == expected


def test_application_id_hint_is_none_without_metadata() -> None:
    def mutate(payload: Document) -> None:
        payload.pop("metadata")

    assert _booking_with(mutate).application_id_hint is None


# --- seated events ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seats", "expected"),
    [pytest.param(None, False, id="null"), pytest.param(4, True, id="four-seats")],
)
def test_seated_flag_follows_seats_per_time_slot(seats: int | None, expected: bool) -> None:
    def mutate(payload: Document) -> None:
        payload["seatsPerTimeSlot"] = seats

    assert _booking_with(mutate).seated is expected


def test_seated_flag_is_false_when_seats_per_time_slot_is_absent() -> None:
    def mutate(payload: Document) -> None:
        payload.pop("seatsPerTimeSlot")

    assert _booking_with(mutate).seated is False


def test_seated_cancellation_names_only_the_attendee_who_left() -> None:
    document = _sample("booking_cancelled")
    document["payload"]["seatsPerTimeSlot"] = 5
    document["payload"]["responses"] = {}
    document["payload"]["attendees"] = [{"email": " Leaver@Example.org ", "name": "Leaver"}]
    booking = parse_delivery(_body(document)).booking
    assert booking is not None
    assert booking.seated is True
    assert booking.uid == "P8wQe2LmX5vTn3RkY9cJaB"
    assert booking.applicant_email == "leaver@example.org"
    assert booking.attendee_emails == ("leaver@example.org",)


def test_seated_booking_ignores_application_id_in_metadata() -> None:
    # Cal.com merges the seated booking's stored metadata into each new seat's webhook.
    def mutate(payload: Document) -> None:
        payload["seatsPerTimeSlot"] = 5
        payload["metadata"] = {"applicationId": "7d9e1f3a-5b7c-4d9e-8f1a-3b5c7d9e1f30"}

    assert _booking_with(mutate).application_id_hint is None


# --- event ID --------------------------------------------------------------------------------


def test_event_id_is_sha256_of_trigger_uid_created_at_joined_by_newlines() -> None:
    expected = _sha256(b"BOOKING_CREATED\nuid-1\n2026-05-04T09:12:45.123Z")
    assert event_id_for(b"anything", "BOOKING_CREATED", "uid-1", "2026-05-04T09:12:45.123Z") == (
        expected
    )


@pytest.mark.parametrize(
    ("trigger", "uid"),
    [
        pytest.param(None, "uid-1", id="no-trigger"),
        pytest.param("PING", None, id="no-uid"),
        pytest.param("BOOKING_CREATED", "", id="empty-uid"),
    ],
)
def test_event_id_is_body_hash_without_trigger_or_string_uid(
    trigger: str | None, uid: str | None
) -> None:
    body = b'{"triggerEvent":"PING"}'
    assert event_id_for(body, trigger, uid, "2026-05-04T09:00:00Z") == _sha256(body)


def test_event_id_without_created_at_uses_empty_created_at() -> None:
    assert event_id_for(b"x", "BOOKING_CREATED", "uid-1", None) == _sha256(
        b"BOOKING_CREATED\nuid-1\n"
    )


def test_event_id_is_lowercase_sha256_hex() -> None:
    event_id = parse_delivery(_raw("booking_created")).event_id
    assert len(event_id) == 64
    assert event_id == event_id.lower()
    int(event_id, 16)


def test_same_booking_with_different_created_at_gets_different_event_id() -> None:
    first = _sample("booking_created")
    second = _sample("booking_created")
    second["createdAt"] = "2026-05-04T09:12:45.999Z"
    first_id = parse_delivery(_body(first)).event_id
    second_id = parse_delivery(_body(second)).event_id
    assert first_id != second_id
    assert second_id == _expected_event_id(
        "BOOKING_CREATED", "kZ3rT9mPqW2xYb7NcV4dHs", "2026-05-04T09:12:45.999Z"
    )


def test_same_delivery_with_different_body_bytes_gets_same_event_id() -> None:
    document = _sample("booking_created")
    compact = _body(document)
    changed = dict(document, extra="field")
    assert compact != _body(changed)
    assert parse_delivery(compact).event_id == parse_delivery(_body(changed)).event_id


def test_different_triggers_for_one_uid_get_different_event_ids() -> None:
    created = _sample("booking_created")
    cancelled = _sample("booking_created")
    cancelled["triggerEvent"] = "BOOKING_CANCELLED"
    assert parse_delivery(_body(created)).event_id != parse_delivery(_body(cancelled)).event_id


def test_ping_bodies_that_differ_get_different_event_ids() -> None:
    other = _sample("ping")
    other["createdAt"] = "2026-05-04T09:00:01.000Z"
    assert parse_delivery(_raw("ping")).event_id != parse_delivery(_body(other)).event_id


# --- other triggers --------------------------------------------------------------------------


def test_unknown_flat_trigger_parses_without_booking() -> None:
    body = _body(
        {"triggerEvent": "MEETING_ENDED", "createdAt": "2026-05-12T14:31:00Z", "bookingId": 1}
    )
    delivery = parse_delivery(body)
    assert delivery.trigger == "MEETING_ENDED"
    assert delivery.booking is None
    assert delivery.created_at == "2026-05-12T14:31:00Z"
    assert delivery.event_id == _sha256(body)


def test_unknown_trigger_with_booking_payload_is_not_validated_as_a_booking() -> None:
    # BOOKING_REQUESTED is not one of the three booking triggers: its payload is not checked.
    document = {
        "triggerEvent": "BOOKING_REQUESTED",
        "createdAt": "2026-05-04T09:00:00Z",
        "payload": {"uid": "req-1", "status": "PENDING"},
    }
    delivery = parse_delivery(_body(document))
    assert delivery.trigger == "BOOKING_REQUESTED"
    assert delivery.booking is None
    assert delivery.event_id == _expected_event_id(
        "BOOKING_REQUESTED", "req-1", "2026-05-04T09:00:00Z"
    )


def test_unknown_trigger_of_100_characters_is_logged_and_a_longer_one_is_malformed() -> None:
    longest = "T" * 100

    assert parse_delivery(_body({"triggerEvent": longest})).trigger == longest
    assert _refused({"triggerEvent": longest + "T"}).reason.startswith("triggerEvent: ")


def test_trigger_names_are_case_sensitive() -> None:
    document = _sample("booking_created")
    document["triggerEvent"] = "booking_created"
    assert parse_delivery(_body(document)).booking is None


# --- malformed deliveries --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="text"),
        pytest.param(b'{"triggerEvent": "BOOKING_CREATED"', id="truncated"),
        pytest.param(b"\xff\xfe\x00garbage", id="invalid-utf8"),
        pytest.param(b"triggerEvent=BOOKING_CREATED", id="form-encoded"),
    ],
)
def test_body_that_is_not_json_is_malformed_and_not_json(body: bytes) -> None:
    refused = _refused(body)
    assert refused.not_json is True
    assert refused.trigger is None
    assert refused.event_id == _sha256(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[]", id="empty-array"),
        pytest.param(b'[{"triggerEvent":"BOOKING_CREATED"}]', id="array-of-envelope"),
        pytest.param(b"42", id="number"),
        pytest.param(b'"BOOKING_CREATED"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"true", id="boolean"),
    ],
)
def test_json_that_is_not_an_object_is_malformed_and_not_json(body: bytes) -> None:
    refused = _refused(body)
    assert refused.not_json is True
    assert refused.trigger is None
    assert refused.event_id == _sha256(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000, id="open-arrays"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="closed-arrays"),
        pytest.param(b'{"a":' * 100_000, id="open-objects"),
        pytest.param(
            b'{"triggerEvent":"BOOKING_CREATED","payload":{"metadata":'
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
            id="deep-inside-payload",
        ),
    ],
)
def test_deeply_nested_json_is_malformed_never_recursion_error(body: bytes) -> None:
    # pytest.raises(MalformedDelivery) lets RecursionError or any other exception fail the test.
    refused = _refused(body)
    assert refused.not_json is True
    assert refused.event_id == _sha256(body)


def test_missing_trigger_event_is_malformed() -> None:
    document = _sample("booking_created")
    del document["triggerEvent"]
    refused = _refused(document)
    assert refused.not_json is False
    assert refused.trigger is None
    assert "triggerEvent" in refused.reason
    assert refused.event_id == _sha256(_body(document))


@pytest.mark.parametrize(
    "trigger",
    [pytest.param(None, id="null"), pytest.param(7, id="number"), pytest.param("", id="empty")],
)
def test_trigger_event_that_is_not_a_name_is_malformed(trigger: object) -> None:
    document = _sample("booking_created")
    document["triggerEvent"] = trigger
    refused = _refused(document)
    assert refused.not_json is False
    assert "triggerEvent" in refused.reason


BOOKING_TRIGGER_NAMES = ["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"]


@pytest.mark.parametrize("trigger", BOOKING_TRIGGER_NAMES)
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("absent", id="absent"),
        pytest.param(None, id="null"),
        pytest.param([], id="array"),
        pytest.param("text", id="string"),
    ],
)
def test_booking_trigger_without_payload_object_is_malformed(trigger: str, payload: object) -> None:
    document: Document = {"triggerEvent": trigger, "createdAt": "2026-05-04T09:00:00Z"}
    if payload != "absent":
        document["payload"] = payload
    refused = _refused(document)
    assert refused.not_json is False
    assert refused.trigger == trigger
    assert "payload" in refused.reason


@pytest.mark.parametrize("trigger", BOOKING_TRIGGER_NAMES)
@pytest.mark.parametrize("field", ["uid", "startTime", "endTime"])
def test_booking_without_required_field_is_malformed(trigger: str, field: str) -> None:
    document = _sample("booking_created")
    document["triggerEvent"] = trigger
    del document["payload"][field]
    refused = _refused(document)
    assert refused.not_json is False
    assert refused.trigger == trigger
    assert field in refused.reason


def test_malformed_booking_keeps_the_event_id_of_its_trigger_uid_and_created_at() -> None:
    document = _sample("booking_created")
    del document["payload"]["startTime"]
    refused = _refused(document)
    assert refused.event_id == _expected_event_id(
        "BOOKING_CREATED", "kZ3rT9mPqW2xYb7NcV4dHs", "2026-05-04T09:12:45.123Z"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("uid", "", id="empty-uid"),
        pytest.param("uid", 98765, id="numeric-uid"),
        pytest.param("uid", None, id="null-uid"),
        pytest.param("startTime", None, id="null-start"),
        pytest.param("startTime", "tomorrow at two", id="garbage-start"),
        pytest.param("endTime", "2026-13-45T99:00:00Z", id="impossible-end"),
        pytest.param("rescheduleUid", "", id="empty-reschedule-uid"),
        pytest.param("attendees", "jane@example.org", id="attendees-not-a-list"),
    ],
)
def test_booking_with_invalid_field_is_malformed(field: str, value: object) -> None:
    document = _sample("booking_rescheduled")
    document["payload"][field] = value
    refused = _refused(document)
    assert refused.trigger == "BOOKING_RESCHEDULED"
    assert field in refused.reason


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param("2026-05-12T14:00:00", "2026-05-12T14:30:00Z", id="naive-start"),
        pytest.param("2026-05-12T14:00:00Z", "2026-05-12T14:30:00", id="naive-end"),
        pytest.param("2026-05-12T14:00:00.000", "2026-05-12T14:30:00.000", id="naive-both"),
        pytest.param("2026-05-12", "2026-05-12T14:30:00Z", id="date-only-start"),
    ],
)
def test_times_without_offset_are_malformed(start: str, end: str) -> None:
    def mutate(payload: Document) -> None:
        payload["startTime"] = start
        payload["endTime"] = end

    with pytest.raises(MalformedDelivery) as refused:
        _created_with(mutate)
    assert refused.value.not_json is False
    assert "Time" in refused.value.reason


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param("2026-05-12T14:30:00Z", "2026-05-12T14:00:00Z", id="same-offset"),
        # 15:00+02:00 is 13:00 UTC, before 14:00 UTC although "15" > "14".
        pytest.param("2026-05-12T14:00:00Z", "2026-05-12T15:00:00+02:00", id="across-offsets"),
    ],
)
def test_end_time_before_start_time_is_malformed(start: str, end: str) -> None:
    def mutate(payload: Document) -> None:
        payload["startTime"] = start
        payload["endTime"] = end

    with pytest.raises(MalformedDelivery) as refused:
        _created_with(mutate)
    assert "endTime" in refused.value.reason
    assert refused.value.not_json is False


@pytest.mark.parametrize(
    ("responses", "attendees"),
    [
        pytest.param(None, [], id="no-responses-no-attendees"),
        pytest.param({}, [], id="empty-responses-no-attendees"),
        pytest.param({"email": {"value": "  "}}, [{"email": "   "}], id="blank-everywhere"),
        pytest.param({"name": {"value": "Jane"}}, [{"name": "Jane"}], id="attendee-without-email"),
        pytest.param(
            None,
            [{"name": "Booker"}, {"email": "guest@example.org"}],
            id="only-a-guest-has-email",
        ),
    ],
)
def test_booking_without_applicant_email_is_malformed(responses: object, attendees: object) -> None:
    def mutate(payload: Document) -> None:
        payload["responses"] = responses
        payload["attendees"] = attendees

    with pytest.raises(MalformedDelivery) as refused:
        _created_with(mutate)
    assert "email" in refused.value.reason
    assert refused.value.trigger == "BOOKING_CREATED"


def test_applicant_email_longer_than_320_characters_is_malformed() -> None:
    def mutate(payload: Document) -> None:
        payload["responses"] = {"email": {"value": "a" * 310 + "@example.org"}}

    with pytest.raises(MalformedDelivery) as refused:
        _created_with(mutate)
    assert "email" in refused.value.reason


@pytest.mark.parametrize("field", ["uid", "rescheduleUid"])
def test_uid_of_255_characters_is_accepted_and_256_is_malformed(field: str) -> None:
    accepted = _sample("booking_rescheduled")
    accepted["payload"][field] = "u" * 255
    booking = parse_delivery(_body(accepted)).booking
    assert booking is not None
    assert (booking.uid if field == "uid" else booking.reschedule_uid) == "u" * 255

    refused_document = _sample("booking_rescheduled")
    refused_document["payload"][field] = "u" * 256
    refused = _refused(refused_document)
    assert field in refused.reason


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(("payload", "uid"), "abc\x00def", id="uid"),
        pytest.param(("payload", "rescheduleUid"), "abc\x00", id="reschedule-uid"),
        pytest.param(("triggerEvent",), "BOOKING_CREATED\x00", id="trigger"),
        pytest.param(("createdAt",), "2026-05-06T16:40:02.511Z\x00", id="created-at"),
    ],
)
def test_nul_characters_are_malformed(path: tuple[str, ...], value: str) -> None:
    document = _sample("booking_rescheduled")
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    refused = _refused(document)
    assert refused.not_json is False
    assert "NUL" in refused.reason


def test_nul_in_trigger_event_is_not_reported_as_the_trigger() -> None:
    document = _sample("booking_created")
    document["triggerEvent"] = "BOOKING_CREATED\x00"
    refused = _refused(document)
    assert refused.trigger is None
    assert refused.event_id == _sha256(_body(document))


def test_nul_in_responses_email_falls_back_to_first_attendee() -> None:
    def mutate(payload: Document) -> None:
        payload["responses"] = {"email": {"value": "jane\x00@example.org"}}
        payload["attendees"] = [{"email": "attendee@example.org"}]

    assert _booking_with(mutate).applicant_email == "attendee@example.org"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"triggerEvent":"BOOKING_CREATED","createdAt":"x","payload":{"uid":"\\ud800"}}',
            id="uid",
        ),
        pytest.param(
            b'{"triggerEvent":"BOOKING_CREATED","createdAt":"\\ud800","payload":{"uid":"a"}}',
            id="created-at",
        ),
    ],
)
def test_lone_surrogate_escape_is_malformed_not_unicode_error(body: bytes) -> None:
    _refused(body)


@pytest.mark.parametrize(
    "document",
    [
        {"triggerEvent": "MEETING_ENDED", "payload": []},
        {"triggerEvent": "BOOKING_PAID", "createdAt": 12, "payload": {"uid": 5}},
    ],
    ids=["list-payload", "odd-types"],
)
def test_triggers_not_acted_on_are_accepted_whatever_their_shape(document: Document) -> None:
    delivery = parse_delivery(json.dumps(document).encode())

    assert (delivery.trigger, delivery.booking) == (document["triggerEvent"], None)


@pytest.mark.parametrize("value", [1747058400, "1747058400"], ids=["number", "digits"])
def test_unix_timestamps_are_not_taken_as_times(value: object) -> None:
    document = _sample("booking_created")
    document["payload"]["startTime"] = value

    assert "startTime" in _refused(document).reason


def test_odd_optional_fields_read_as_absent() -> None:
    def mutate(payload: Document) -> None:
        payload["metadata"] = ["not", "an", "object"]
        payload["videoCallData"] = "nope"
        payload["location"] = "HTTPS://meet.example.org/\x00"

    assert _booking_with(mutate).meeting_url is None


# --- the reason an admin reads in the event log ----------------------------------------------


def _changed(document: Document, **payload: object) -> Document:
    document["payload"].update(payload)
    return document


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            b"not json",
            f"the body is not JSON (Expecting value: line 1 column 1 (char 0)): {TEMPLATE_HINT}",
            id="not-json",
        ),
        pytest.param(b"[]", f"the body is not a JSON object: {TEMPLATE_HINT}", id="not-object"),
        pytest.param(
            _body({"payload": {}}),
            f"triggerEvent: Field required; {TEMPLATE_HINT}",
            id="no-trigger",
        ),
        pytest.param(
            _body({**_sample("booking_created"), "createdAt": 5}),
            "createdAt: Input should be a valid string",
            id="envelope-field-with-trigger-has-no-hint",
        ),
        pytest.param(
            _body(_changed(_sample("booking_created"), startTime="tomorrow")),
            "payload.startTime: Value error, must be an ISO 8601 time with an offset",
            id="unreadable-time",
        ),
        pytest.param(
            _body(_changed(_sample("booking_created"), uid="abc\x00")),
            "payload.uid: Value error, must not contain NUL characters or lone surrogates",
            id="nul",
        ),
        pytest.param(
            _body(
                _changed(
                    _sample("booking_created"),
                    uid=1,
                    startTime=2,
                    endTime=3,
                    attendees=4,
                    rescheduleUid=5,
                    seatsPerTimeSlot="six",
                )
            ),
            "payload.uid: Input should be a valid string; "
            "payload.startTime: Value error, must be an ISO 8601 time with an offset; "
            "payload.endTime: Value error, must be an ISO 8601 time with an offset; "
            "payload.attendees: Input should be a valid list; "
            "payload.rescheduleUid: Input should be a valid string",
            id="first-five-problems",
        ),
        pytest.param(
            _body(_changed(_sample("booking_created"), endTime="2026-05-12T13:59:59Z")),
            "payload.endTime is before payload.startTime",
            id="end-before-start",
        ),
        pytest.param(
            _body(_changed(_sample("booking_created"), responses={}, attendees=[])),
            "no applicant email in payload.responses.email or payload.attendees",
            id="no-email",
        ),
    ],
)
def test_a_malformed_delivery_says_exactly_what_is_wrong(body: bytes, reason: str) -> None:
    assert _refused(body).reason == reason


# --- no-shows --------------------------------------------------------------------------------


def test_no_show_update_names_the_booking_and_each_mark() -> None:
    # Cal.com's handleMarkNoShow: {message, attendees: [{email, noShow}], bookingUid, bookingId}.
    document = {
        "triggerEvent": "BOOKING_NO_SHOW_UPDATED",
        "createdAt": "2026-05-12T15:00:00.000Z",
        "payload": {
            "message": "No-show updated",
            "attendees": [
                {"email": " Jane.Doe@Example.com", "noShow": True},
                {"email": "guest@example.org", "noShow": False},
            ],
            "bookingUid": "kZ3rT9mPqW2xYb7NcV4dHs",
            "bookingId": 4242,
        },
    }
    body = _body(document)

    delivery = parse_delivery(body)

    assert delivery.booking is None
    assert delivery.no_show == NoShow(
        "kZ3rT9mPqW2xYb7NcV4dHs",
        (("jane.doe@example.com", True), ("guest@example.org", False)),
        None,
    )
    assert delivery.event_id == _sha256(body)
    assert (delivery.trigger, delivery.created_at) == (
        "BOOKING_NO_SHOW_UPDATED",
        "2026-05-12T15:00:00.000Z",
    )


@pytest.mark.parametrize("host", [True, False])
def test_no_show_update_reads_the_hosts_mark_when_sent(host: bool) -> None:
    document = {
        "triggerEvent": "BOOKING_NO_SHOW_UPDATED",
        "payload": {"bookingUid": "kZ3rT9mPqW2xYb7NcV4dHs", "noShowHost": host},
    }

    no_show = parse_delivery(_body(document)).no_show

    assert no_show == NoShow("kZ3rT9mPqW2xYb7NcV4dHs", (), host)


@pytest.mark.parametrize(
    "payload",
    [
        {"attendees": []},
        {"bookingUid": "u", "attendees": [{"email": "a@example.org", "noShow": "yes"}]},
        {"bookingUid": "u", "attendees": [{"noShow": True}]},
    ],
    ids=["no-booking-uid", "mark-not-a-boolean", "mark-without-email"],
)
def test_no_show_update_without_what_it_needs_is_refused(payload: Document) -> None:
    document = {"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "createdAt": "t", "payload": payload}

    assert _refused(document).reason.startswith("payload.")


# --- reasons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"reschedulingReason": "A", "rescheduleReason": "B"}, "A"),
        ({"rescheduleReason": "B"}, "B"),
        ({}, "Clash with another interview"),  # responses.rescheduleReason.value
        ({"reschedulingReason": "   ", "rescheduleReason": 5}, "Clash with another interview"),
    ],
    ids=["rescheduling-reason", "reschedule-reason", "form-answer", "blank-and-odd"],
)
def test_rescheduling_reason_is_read_in_order(fields: Document, expected: str) -> None:
    document = _sample("booking_rescheduled")
    document["payload"].update(fields)

    booking = parse_delivery(_body(document)).booking

    assert booking is not None
    assert booking.reason == expected


def test_cancellation_reason_is_read_and_a_creation_has_none() -> None:
    cancelled = parse_delivery(_raw("booking_cancelled")).booking
    created = parse_delivery(_raw("booking_created")).booking

    assert cancelled is not None
    assert cancelled.reason == "I accepted another offer"
    assert created is not None
    assert created.reason is None


def test_reasons_are_cut_at_2000_characters() -> None:
    cancelled = _sample("booking_cancelled")
    cancelled["payload"]["cancellationReason"] = "c" * 2100
    rescheduled = _sample("booking_rescheduled")
    rescheduled["payload"]["reschedulingReason"] = "r" * 2100

    cancellation = parse_delivery(_body(cancelled)).booking
    reschedule = parse_delivery(_body(rescheduled)).booking

    assert cancellation is not None
    assert cancellation.reason == "c" * 2000
    assert reschedule is not None
    assert reschedule.reason == "r" * 2000


def test_reschedule_without_any_reason_has_none() -> None:
    document = _sample("booking_rescheduled")
    for key in ("reschedulingReason", "rescheduleReason"):
        document["payload"].pop(key, None)
    document["payload"]["responses"].pop("rescheduleReason", None)

    booking = parse_delivery(_body(document)).booking

    assert booking is not None
    assert booking.reason is None


# What the admin reads in the event log's reason for a time Cal.com's format allows but no
# zone can show (SECURITY.md, "times Python cannot convert").
@pytest.mark.parametrize(
    ("start", "reason"),
    [
        pytest.param(
            "0001-01-01T00:00:00+05:00",
            "payload.startTime: Value error, is out of range: it cannot be converted to UTC",
            id="overflows-on-conversion",
        ),
        pytest.param(
            "0001-01-01T12:00:00Z",
            "payload.startTime: Value error, is out of range: too close to the year 1 or 9999"
            " to show in every zone",
            id="first-day-of-year-1",
        ),
    ],
)
def test_a_time_no_zone_can_show_is_malformed_with_its_reason(start: str, reason: str) -> None:
    document = _sample("booking_created")
    document["payload"]["startTime"] = start

    assert _refused(document).reason == reason


def test_times_one_day_inside_the_years_1_and_9999_are_kept() -> None:
    def mutate(payload: Document) -> None:
        payload["startTime"] = "0001-01-02T00:00:00Z"
        payload["endTime"] = "9999-12-30T23:59:59.999999Z"

    booking = _booking_with(mutate)

    assert booking.start_time == _utc(1, 1, 2)
    assert booking.end_time == datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.usefixtures("local_time_zone_new_york")
def test_the_reason_for_a_time_no_zone_can_show_is_the_same_in_any_local_time_zone() -> None:
    document = _sample("booking_created")
    document["payload"]["startTime"] = "0001-01-01T02:00:00Z"  # the year 0 in New York

    assert _refused(document).reason == (
        "payload.startTime: Value error, is out of range: too close to the year 1 or 9999"
        " to show in every zone"
    )
