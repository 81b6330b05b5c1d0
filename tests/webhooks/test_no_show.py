"""`BOOKING_NO_SHOW_UPDATED` over HTTP (issue 12 item 5): the application's interview records
who Cal.com marks absent, its history notes it, and clearing the mark clears it."""

from typing import Any

from httpx import AsyncClient

from tests.calcom_bodies import deliver, no_show_updated, sample, seated
from tests.conftest import Tokens
from tests.factories import create_application, events, get_application, history

Json = dict[str, Any]

UID = "kZ3rT9mPqW2xYb7NcV4dHs"  # the sample booking's
JANE = "jane.doe@example.com"


async def test_an_attendee_marked_absent_is_recorded_on_the_interview_and_in_history(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, sample("booking_created"))

    response = await deliver(client, cohort, no_show_updated(UID, {"Jane.Doe@example.com": True}))

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "matched"
    assert response.json()["application_id"] == application["id"]
    marked = await get_application(client, tokens, application)
    assert marked["status"] == "first_round_scheduled"
    assert marked["interview"]["no_show"] == {"attendees": [JANE], "host": False}
    assert marked["pipeline"]["no_show"] is True
    entry = (await history(client, tokens, application))[-1]
    assert (entry["kind"], entry["cause"], entry["event_id"]) == (
        "no_show",
        "webhook",
        response.json()["event_id"],
    )
    assert entry["interview"]["no_show"] == {"attendees": [JANE], "host": False}
    logged = (await events(client, tokens, cohort))[0]
    assert (logged["trigger"], logged["outcome"]) == ("BOOKING_NO_SHOW_UPDATED", "matched")


async def test_clearing_the_mark_clears_it(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, sample("booking_created"))
    await deliver(client, cohort, no_show_updated(UID, {JANE: True}))

    response = await deliver(
        client, cohort, no_show_updated(UID, {JANE: False}, created_at="2026-05-12T16:00:00Z")
    )

    assert response.json()["outcome"] == "matched"
    cleared = await get_application(client, tokens, application)
    assert cleared["interview"]["no_show"] is None
    assert cleared["pipeline"]["no_show"] is False
    kinds = [e["kind"] for e in await history(client, tokens, application)]
    assert kinds[-2:] == ["no_show", "no_show"]


async def test_the_same_mark_again_changes_nothing(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, sample("booking_created"))
    await deliver(client, cohort, no_show_updated(UID, {JANE: True}))
    before = await history(client, tokens, application)

    again = await deliver(
        client, cohort, no_show_updated(UID, {JANE: True}, created_at="2026-05-12T15:00:09Z")
    )

    assert again.json()["outcome"] == "duplicate"
    assert await history(client, tokens, application) == before


async def test_a_mark_on_a_booking_that_is_no_interview_is_ignored(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    response = await deliver(client, cohort, no_show_updated("unknown-uid", {JANE: True}))

    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    [logged] = await events(client, tokens, cohort)
    assert (logged["trigger"], logged["outcome"]) == ("BOOKING_NO_SHOW_UPDATED", "ignored")


async def test_in_a_seated_session_each_application_records_its_own_seat_holder(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane = await create_application(client, tokens, cohort, email="jane@example.com")
    john = await create_application(client, tokens, cohort, email="john@example.com", name="John")
    for email in ("jane@example.com", "john@example.com"):
        await deliver(
            client,
            cohort,
            seated(uid="session", responses_email=email, attendees=[email], created_at=email),
        )

    await deliver(client, cohort, no_show_updated("session", {"john@example.com": True}))

    assert (await get_application(client, tokens, john))["interview"]["no_show"] == {
        "attendees": ["john@example.com"],
        "host": False,
    }
    assert (await get_application(client, tokens, jane))["pipeline"]["no_show"] is False


async def test_a_no_show_update_without_its_booking_is_rejected(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    body = no_show_updated(UID, {JANE: True})
    del body["payload"]["bookingUid"]

    response = await deliver(client, cohort, body)

    assert response.status_code == 422
    assert "payload.bookingUid" in response.json()["detail"]
    assert [e["outcome"] for e in await events(client, tokens, cohort)] == ["rejected"]


async def test_a_new_interview_starts_without_marks(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, sample("booking_created"))
    await deliver(client, cohort, no_show_updated(UID, {JANE: True}))

    await deliver(client, cohort, sample("booking_rescheduled"))

    moved = await get_application(client, tokens, application)
    assert moved["interview"]["booking_uid"] == "P8wQe2LmX5vTn3RkY9cJaB"
    assert moved["interview"]["no_show"] is None
    assert moved["pipeline"]["no_show"] is False
