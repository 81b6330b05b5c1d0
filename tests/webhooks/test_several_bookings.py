"""SPEC section 2, "Several live bookings", over HTTP (issue 11, item 7)."""

from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient

from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import create_application, get_application, history

Json = dict[str, Any]

# Live bookings end in the future; the samples' times are in the past.
MINE = {"start": "2027-03-01T10:00:00Z", "end": "2027-03-01T10:30:00Z"}
STRANGER = {"start": "2027-03-02T15:00:00Z", "end": "2027-03-02T15:30:00Z"}


def _slot(interview: Json) -> tuple[str, datetime, datetime]:
    """A history entry's interview, whichever way its times are written."""
    start, end = (datetime.fromisoformat(interview[k]) for k in ("start_time", "end_time"))
    return interview["booking_uid"], start, end


def _expected(uid: str, times: dict[str, str]) -> tuple[str, datetime, datetime]:
    return uid, datetime.fromisoformat(times["start"]), datetime.fromisoformat(times["end"])


async def test_booking_created_while_another_is_live_is_current_and_recorded_as_double_booking(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="mine", created_at="c1", **MINE))

    response = await deliver(client, cohort, booking(uid="stranger", created_at="c2", **STRANGER))

    assert response.json()["outcome"] == "matched"
    updated = await get_application(client, tokens, application)
    assert updated["status"] == "first_round_scheduled"
    assert updated["interview"]["booking_uid"] == "stranger"
    entry = (await history(client, tokens, application))[-1]
    assert entry["kind"] == "double_booking"
    assert _slot(entry["interview"]) == _expected("stranger", STRANGER)
    assert _slot(entry["other_interview"]) == _expected("mine", MINE)
    assert entry["event_id"] == response.json()["event_id"]


async def test_cancelling_the_current_booking_falls_back_to_the_other_live_one(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="mine", created_at="c1", **MINE))
    await deliver(client, cohort, booking(uid="stranger", created_at="c2", **STRANGER))

    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="stranger", **STRANGER))

    updated = await get_application(client, tokens, application)
    assert updated["status"] == "first_round_scheduled"
    assert updated["interview"] == {
        "booking_uid": "mine",
        "start_time": MINE["start"],
        "end_time": MINE["end"],
        "meeting_url": "https://app.cal.com/video/mine",
        "no_show": None,
    }
    assert updated["pipeline"]["start_time"] == MINE["start"]
    entry = (await history(client, tokens, application))[-1]
    assert (entry["kind"], entry["from_status"], entry["to_status"]) == (
        "interview_cancelled",
        None,
        None,
    )
    assert entry["interview"]["booking_uid"] == "stranger"
    assert entry["other_interview"]["booking_uid"] == "mine"

    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="mine", **MINE))

    final = await get_application(client, tokens, application)
    assert (final["status"], final["interview"]) == ("waiting_first_round", None)


@pytest.mark.commits  # bookings ordered by creation time (one transaction's now())
async def test_the_most_recently_created_remaining_booking_becomes_current(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    for uid, created_at in (("first", "c1"), ("second", "c2"), ("third", "c3")):
        await deliver(client, cohort, booking(uid=uid, created_at=created_at, **MINE))

    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="third", **MINE))

    updated = await get_application(client, tokens, application)
    assert updated["interview"]["booking_uid"] == "second"


async def test_cancelling_a_live_booking_that_is_not_current_changes_nothing_else(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="mine", created_at="c1", **MINE))
    await deliver(client, cohort, booking(uid="stranger", created_at="c2", **STRANGER))
    before = await history(client, tokens, application)

    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="mine", **MINE))

    assert (await get_application(client, tokens, application))["interview"][
        "booking_uid"
    ] == "stranger"
    assert await history(client, tokens, application) == before
    # Nothing live remains once the current one goes too.
    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="stranger", **STRANGER))
    final = await get_application(client, tokens, application)
    assert (final["status"], final["interview"]) == ("waiting_first_round", None)


async def test_rescheduling_a_live_booking_that_is_not_current_moves_that_booking_only(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="mine", created_at="c1", **MINE))
    await deliver(client, cohort, booking(uid="stranger", created_at="c2", **STRANGER))
    before = await history(client, tokens, application)
    moved = {"start": "2027-03-05T09:00:00Z", "end": "2027-03-05T09:30:00Z"}

    response = await deliver(
        client,
        cohort,
        booking("BOOKING_RESCHEDULED", uid="mine-2", reschedule_uid="mine", **moved),
    )

    assert response.json()["outcome"] == "matched"
    unchanged = await get_application(client, tokens, application)
    assert unchanged["interview"]["booking_uid"] == "stranger"
    assert await history(client, tokens, application) == before
    # The moved booking is the one the application falls back on.
    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="stranger", **STRANGER))
    fallen_back = await get_application(client, tokens, application)
    assert (fallen_back["interview"]["booking_uid"], fallen_back["interview"]["start_time"]) == (
        "mine-2",
        moved["start"],
    )


async def test_an_interview_that_has_ended_is_not_a_live_booking(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="round-one"))  # the samples' past time
    await client.post(
        f"/v1/applications/{application['id']}/status",
        json={"status": "waiting_second_round"},
        headers=tokens("admin", cohort["organization_id"]),
    )

    await deliver(client, cohort, booking(uid="round-two", created_at="c2", **MINE))

    updated = await get_application(client, tokens, application)
    assert updated["status"] == "second_round_scheduled"
    assert (await history(client, tokens, application))[-1]["kind"] == "interview_scheduled"
