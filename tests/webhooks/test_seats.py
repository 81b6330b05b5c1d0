"""Seated events over HTTP (SPEC section 3, "Seated events"; issue 11 item 8, issue 12 items 1
and 2), with bodies shaped as Cal.com builds them."""

from typing import Any

from httpx import AsyncClient

from tests.calcom_bodies import deliver, seated
from tests.conftest import Tokens
from tests.factories import create_application, events, get_application, history, open_orphans

Json = dict[str, Any]

LATER = {"start": "2026-06-02T16:00:00Z", "end": "2026-06-02T16:30:00Z"}


async def _two_seats(client: AsyncClient, tokens: Tokens, cohort: Json) -> tuple[Json, Json]:
    jane = await create_application(client, tokens, cohort, email="jane@example.com")
    john = await create_application(client, tokens, cohort, email="john@example.com", name="John")
    for email in ("jane@example.com", "john@example.com"):
        body = seated(uid="session", responses_email=email, attendees=[email], created_at=email)
        assert (await deliver(client, cohort, body)).json()["outcome"] == "matched"
    return jane, john


async def test_host_moving_the_session_under_its_uid_moves_every_seat_holder(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane, john = await _two_seats(client, tokens, cohort)
    created_ids = {e["event_id"] for e in await events(client, tokens, cohort)}
    move = seated(
        "BOOKING_RESCHEDULED",
        uid="session",
        reschedule_uid="session",
        responses_email="jane@example.com",
        attendees=["jane@example.com", "john@example.com"],
        created_at="2026-05-20T08:00:00Z",
        **LATER,
    )

    response = await deliver(client, cohort, move)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "matched"
    assert response.json()["event_id"] not in created_ids
    for application in (jane, john):
        moved = await get_application(client, tokens, application)
        assert moved["status"] == "first_round_scheduled"
        assert moved["interview"]["booking_uid"] == "session"
        assert (moved["interview"]["start_time"], moved["interview"]["end_time"]) == (
            LATER["start"],
            LATER["end"],
        )
        entry = (await history(client, tokens, application))[-1]
        assert (entry["kind"], entry["event_id"]) == (
            "interview_rescheduled",
            response.json()["event_id"],
        )
    # The same move delivered again (a new createdAt) changes nothing.
    again = await deliver(client, cohort, {**move, "createdAt": "2026-05-20T08:00:05Z"})
    assert again.json()["outcome"] == "duplicate"
    assert len(await history(client, tokens, jane)) == 3


async def test_an_orphaned_seat_follows_the_session_moved_under_its_uid(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    await create_application(client, tokens, cohort, email="jane@example.com")
    for email in ("jane@example.com", "nobody@example.com"):
        await deliver(
            client,
            cohort,
            seated(uid="session", responses_email=email, attendees=[email], created_at=email),
        )

    await deliver(
        client,
        cohort,
        seated(
            "BOOKING_RESCHEDULED",
            uid="session",
            reschedule_uid="session",
            responses_email="jane@example.com",
            attendees=["jane@example.com", "nobody@example.com"],
            **LATER,
        ),
    )

    listed = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews",
        headers=tokens("member", cohort["organization_id"]),
    )
    [orphan] = listed.json()["items"]
    assert (orphan["booking_uid"], orphan["start_time"]) == ("session", LATER["start"])


async def test_host_merging_the_session_into_another_booking_moves_every_seat_holder(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane, john = await _two_seats(client, tokens, cohort)
    ann = await create_application(client, tokens, cohort, email="ann@example.com", name="Ann")
    await deliver(
        client,
        cohort,
        seated(
            uid="later", responses_email="ann@example.com", attendees=["ann@example.com"], **LATER
        ),
    )

    response = await deliver(
        client,
        cohort,
        seated(
            "BOOKING_RESCHEDULED",
            uid="later",
            reschedule_uid="session",
            responses_email="jane@example.com",
            attendees=["jane@example.com", "john@example.com"],
            **LATER,
        ),
    )

    assert response.json()["outcome"] == "matched"
    for application in (jane, john, ann):
        moved = await get_application(client, tokens, application)
        assert (moved["interview"]["booking_uid"], moved["interview"]["start_time"]) == (
            "later",
            LATER["start"],
        )
    assert (await history(client, tokens, john))[-1]["kind"] == "interview_rescheduled"
    # Ann, the booking's first attendee, is in `responses` when John gives up his seat there.
    await deliver(
        client,
        cohort,
        seated(
            "BOOKING_CANCELLED",
            uid="later",
            responses_email="ann@example.com",
            attendees=["john@example.com"],
            **LATER,
        ),
    )
    assert (await get_application(client, tokens, john))["status"] == "waiting_first_round"
    for application in (jane, ann):
        kept = await get_application(client, tokens, application)
        assert kept["interview"]["booking_uid"] == "later"


async def test_a_seat_holder_moving_their_own_seat_moves_only_theirs(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane, john = await _two_seats(client, tokens, cohort)

    response = await deliver(
        client,
        cohort,
        seated(
            "BOOKING_RESCHEDULED",
            uid="elsewhere",
            reschedule_uid="session",
            responses_email="john@example.com",
            attendees=["john@example.com"],
            **LATER,
        ),
    )

    assert response.json()["application_id"] == john["id"]
    assert (await get_application(client, tokens, john))["interview"]["booking_uid"] == "elsewhere"
    kept = await get_application(client, tokens, jane)
    assert (kept["interview"]["booking_uid"], kept["interview"]["start_time"]) == (
        "session",
        "2026-05-12T14:00:00Z",
    )


async def test_a_reschedule_by_an_attendee_without_a_seat_is_a_booking_of_their_own(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane, john = await _two_seats(client, tokens, cohort)
    before = [await get_application(client, tokens, a) for a in (jane, john)]

    response = await deliver(
        client,
        cohort,
        seated(
            "BOOKING_RESCHEDULED",
            uid="elsewhere",
            reschedule_uid="session",
            responses_email="mallory@example.com",
            attendees=["mallory@example.com"],
            **LATER,
        ),
    )

    assert response.json()["outcome"] == "orphaned"
    assert await open_orphans(client, tokens, cohort) == 1
    assert [await get_application(client, tokens, a) for a in (jane, john)] == before


async def test_a_cancellation_naming_no_seat_holder_cancels_nobody(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane, john = await _two_seats(client, tokens, cohort)

    response = await deliver(
        client,
        cohort,
        seated(
            "BOOKING_CANCELLED",
            uid="session",
            responses_email="jane@example.com",
            attendees=["mallory@example.com"],
        ),
    )

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "ignored"
    for application in (jane, john):
        assert (await get_application(client, tokens, application))["status"] == (
            "first_round_scheduled"
        )


async def test_a_later_seat_does_not_inherit_the_first_seats_application(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane = await create_application(client, tokens, cohort, email="jane@example.com")
    john = await create_application(client, tokens, cohort, email="john@example.com", name="John")
    await deliver(
        client,
        cohort,
        seated(
            uid="session",
            responses_email="jane@example.com",
            attendees=["jane@example.com"],
            metadata={
                "videoCallUrl": "https://app.cal.com/video/session",
                "applicationId": jane["id"],
            },
        ),
    )

    # John books through a plain link: Cal.com merges the booking's stored metadata (Jane's).
    response = await deliver(
        client,
        cohort,
        seated(
            uid="session",
            responses_email="john@example.com",
            attendees=["john@example.com"],
            created_at="2026-05-05T10:00:00Z",
            metadata={
                "videoCallUrl": "https://app.cal.com/video/session",
                "applicationId": jane["id"],
            },
        ),
    )

    assert response.json()["application_id"] == john["id"]
    assert (await get_application(client, tokens, john))["status"] == "first_round_scheduled"
    assert len(await history(client, tokens, jane)) == 2
