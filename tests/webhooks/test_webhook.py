"""The Cal.com webhook over HTTP against the real database (SPEC section 3)."""

import asyncio
import hashlib
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from tests.calcom_bodies import booking, deliver, encode, sample
from tests.conftest import Tokens
from tests.factories import (
    create_application,
    create_cohort,
    events,
    get_application,
    history,
    open_orphans,
)

Json = dict[str, Any]


async def test_sample_booking_created_schedules_the_first_round(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    body = sample("booking_created")

    response = await deliver(client, cohort, body)

    assert response.status_code == 200, response.text
    expected_id = hashlib.sha256(
        b"BOOKING_CREATED\nkZ3rT9mPqW2xYb7NcV4dHs\n2026-05-04T09:12:45.123Z"
    ).hexdigest()
    assert response.json() == {
        "event_id": expected_id,
        "outcome": "matched",
        "application_id": application["id"],
        "orphaned_interview_id": None,
    }
    updated = await get_application(client, tokens, application)
    assert updated["status"] == "first_round_scheduled"
    assert updated["current_stage"] == "first_round"
    assert updated["interview"] == {
        "booking_uid": "kZ3rT9mPqW2xYb7NcV4dHs",
        "start_time": "2026-05-12T14:00:00Z",
        "end_time": "2026-05-12T14:30:00Z",
        "meeting_url": "https://app.cal.com/video/kZ3rT9mPqW2xYb7NcV4dHs",
        "no_show": None,
    }
    assert updated["pipeline"] == {
        "state": "scheduled",
        "round": 1,
        "start_time": "2026-05-12T14:00:00Z",
        "end_time": "2026-05-12T14:30:00Z",
        "is_past": True,
        "no_show": False,
    }
    [created, scheduled] = await history(client, tokens, application)
    assert created["kind"] == "status"
    assert scheduled["kind"] == "interview_scheduled"
    assert scheduled["cause"] == "webhook"
    assert scheduled["event_id"] == expected_id
    assert (scheduled["from_status"], scheduled["to_status"]) == (
        "waiting_first_round",
        "first_round_scheduled",
    )
    [logged] = await events(client, tokens, cohort)
    assert logged["outcome"] == "matched"
    assert logged["body"].encode() == encode(body)


async def test_sample_reschedule_then_cancel_returns_the_application_to_waiting(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    for name in ("booking_created", "booking_rescheduled"):
        assert (await deliver(client, cohort, sample(name))).json()["outcome"] == "matched"
    rescheduled = await get_application(client, tokens, application)
    assert rescheduled["status"] == "first_round_scheduled"
    assert rescheduled["interview"]["booking_uid"] == "P8wQe2LmX5vTn3RkY9cJaB"
    assert rescheduled["interview"]["start_time"] == "2026-05-14T15:00:00Z"

    response = await deliver(client, cohort, sample("booking_cancelled"))

    assert response.json()["outcome"] == "matched"
    cancelled = await get_application(client, tokens, application)
    assert cancelled["status"] == "waiting_first_round"
    assert cancelled["interview"] is None
    assert cancelled["pipeline"]["state"] == "awaiting_scheduling"
    kinds = [entry["kind"] for entry in await history(client, tokens, application)]
    assert kinds == [
        "status",
        "interview_scheduled",
        "interview_rescheduled",
        "interview_cancelled",
    ]


async def test_email_is_matched_trimmed_and_in_any_case(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort, email="Jane.Doe@Example.com")

    response = await deliver(client, cohort, booking(email="  JANE.DOE@example.COM "))

    assert response.json()["application_id"] == application["id"]


async def test_offset_time_formats_are_stored_as_utc(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)

    await deliver(
        client, cohort, booking(start="2026-05-12T16:00:00+02:00", end="2026-05-12T14:30:00+00:00")
    )

    interview = (await get_application(client, tokens, application))["interview"]
    assert (interview["start_time"], interview["end_time"]) == (
        "2026-05-12T14:00:00Z",
        "2026-05-12T14:30:00Z",
    )


async def test_reschedule_chain_ends_cancelled(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="a"))
    await deliver(
        client,
        cohort,
        booking(
            "BOOKING_RESCHEDULED",
            uid="b",
            reschedule_uid="a",
            start="2026-05-13T10:00:00Z",
            end="2026-05-13T10:30:00Z",
        ),
    )
    await deliver(
        client,
        cohort,
        booking(
            "BOOKING_RESCHEDULED",
            uid="c",
            reschedule_uid="b",
            start="2026-05-14T10:00:00Z",
            end="2026-05-14T10:30:00Z",
        ),
    )
    middle = await get_application(client, tokens, application)
    assert middle["status"] == "first_round_scheduled"
    assert middle["interview"]["booking_uid"] == "c"
    assert middle["interview"]["start_time"] == "2026-05-14T10:00:00Z"

    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="c"))

    final = await get_application(client, tokens, application)
    assert (final["status"], final["interview"]) == ("waiting_first_round", None)


async def test_cancel_of_superseded_booking_keeps_interview(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="a"))
    await deliver(client, cohort, booking("BOOKING_RESCHEDULED", uid="b", reschedule_uid="a"))
    before = await history(client, tokens, application)

    response = await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="a"))

    assert response.status_code == 200
    after = await get_application(client, tokens, application)
    assert after["status"] == "first_round_scheduled"
    assert after["interview"]["booking_uid"] == "b"
    assert await history(client, tokens, application) == before


@pytest.mark.parametrize("terminal", ["accepted", "waitlist", "declined"])
async def test_booking_never_moves_a_terminal_status(
    client: AsyncClient, tokens: Tokens, cohort: Json, terminal: str
) -> None:
    application = await create_application(client, tokens, cohort, status="submitted")
    move = await client.post(
        f"/v1/applications/{application['id']}/status",
        json={"status": terminal},
        headers=tokens("admin", cohort["organization_id"]),
    )
    assert move.status_code == 200, move.text

    await deliver(client, cohort, booking(uid="a"))
    saved = await get_application(client, tokens, application)
    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="a"))
    cleared = await get_application(client, tokens, application)

    assert (saved["status"], saved["interview"]["booking_uid"]) == (terminal, "a")
    assert (cleared["status"], cleared["interview"]) == (terminal, None)


async def test_second_round_booking_schedules_the_second_round(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="first"))
    await client.post(
        f"/v1/applications/{application['id']}/status",
        json={"status": "waiting_second_round", "reason": "passed round one"},
        headers=tokens("admin", cohort["organization_id"]),
    )

    await deliver(client, cohort, booking(uid="second", created_at="2026-05-20T10:00:00Z"))

    updated = await get_application(client, tokens, application)
    assert updated["status"] == "second_round_scheduled"
    assert updated["current_stage"] == "second_round"
    assert updated["pipeline"]["round"] == 2
    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="second"))
    assert (await get_application(client, tokens, application))["status"] == "waiting_second_round"


async def test_seated_cancellation_cancels_only_the_attendee_who_left(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane = await create_application(client, tokens, cohort, email="jane@example.com")
    john = await create_application(client, tokens, cohort, email="john@example.com", name="John")
    for email, name in (("jane@example.com", "Jane"), ("john@example.com", "John")):
        response = await deliver(
            client,
            cohort,
            booking(uid="seated", email=email, name=name, seats=5, created_at=f"t-{email}"),
        )
        assert response.json()["outcome"] == "matched"

    cancel = booking("BOOKING_CANCELLED", uid="seated", email="jane@example.com", seats=5)
    response = await deliver(client, cohort, cancel)

    assert response.json()["application_id"] == jane["id"]
    assert (await get_application(client, tokens, jane))["status"] == "waiting_first_round"
    assert (await get_application(client, tokens, john))["status"] == "first_round_scheduled"


@pytest.mark.commits  # concurrent copies of one delivery
async def test_concurrent_copies_of_one_delivery_apply_once(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    body = encode(booking(uid="concurrent"))

    responses = await asyncio.gather(*(deliver(client, cohort, body) for _ in range(20)))

    assert [r.status_code for r in responses] == [200] * 20
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["duplicate"] * 19 + ["matched"]
    scheduled = [e for e in await history(client, tokens, application) if e["cause"] == "webhook"]
    assert len(scheduled) == 1
    assert len(await events(client, tokens, cohort)) == 1


async def test_same_booking_delivered_twice_with_new_created_at_applies_once(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    first = await deliver(client, cohort, booking(uid="x", created_at="2026-05-04T09:00:00Z"))
    second = await deliver(client, cohort, booking(uid="x", created_at="2026-05-04T09:00:01Z"))

    assert first.json()["outcome"] == "matched"
    assert second.json()["outcome"] == "duplicate"
    assert first.json()["event_id"] != second.json()["event_id"]
    assert len([e for e in await history(client, tokens, application) if e["event_id"]]) == 1


async def test_repeated_delivery_answers_duplicate(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    await create_application(client, tokens, cohort)
    body = sample("booking_created")
    first = await deliver(client, cohort, body)

    second = await deliver(client, cohort, body)

    assert second.status_code == 200
    assert second.json() == {
        "event_id": first.json()["event_id"],
        "outcome": "duplicate",
        "application_id": None,
        "orphaned_interview_id": None,
    }


async def test_application_id_in_metadata_wins_over_email(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    await create_application(client, tokens, cohort, email="jane.doe@example.com")
    other = await create_application(client, tokens, cohort, email="other@example.com", name="O")

    response = await deliver(client, cohort, booking(metadata={"applicationId": other["id"]}))

    assert response.json()["application_id"] == other["id"]


async def test_application_id_of_another_cohort_is_not_used(
    client: AsyncClient, tokens: Tokens, org: Json, cohort: Json
) -> None:
    elsewhere = await create_cohort(client, tokens, org["id"], name="Other cohort")
    stranger = await create_application(client, tokens, elsewhere, email="x@example.com")
    mine = await create_application(client, tokens, cohort)

    response = await deliver(client, cohort, booking(metadata={"applicationId": stranger["id"]}))

    assert response.json()["application_id"] == mine["id"]


async def test_reschedule_follows_known_booking_even_with_another_email(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="a"))

    response = await deliver(
        client,
        cohort,
        booking("BOOKING_RESCHEDULED", uid="b", reschedule_uid="a", email="typo@example.com"),
    )

    assert response.json() == {
        "event_id": response.json()["event_id"],
        "outcome": "matched",
        "application_id": application["id"],
        "orphaned_interview_id": None,
    }
    assert (await get_application(client, tokens, application))["interview"]["booking_uid"] == "b"


async def test_unmatched_booking_becomes_an_open_orphan_that_follows_its_booking(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    created = await deliver(client, cohort, booking(uid="o1", email="nobody@example.com"))

    assert created.json()["outcome"] == "orphaned"
    orphan_id = created.json()["orphaned_interview_id"]
    assert await open_orphans(client, tokens, cohort) == 1
    listed = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews",
        headers=tokens("member", cohort["organization_id"]),
    )
    [orphan] = listed.json()["items"]
    assert orphan["id"] == orphan_id
    assert orphan["applicant_email"] == "nobody@example.com"
    assert (orphan["state"], orphan["booking_uid"]) == ("open", "o1")

    moved = await deliver(
        client,
        cohort,
        booking(
            "BOOKING_RESCHEDULED",
            uid="o2",
            reschedule_uid="o1",
            email="nobody@example.com",
            start="2026-06-01T09:00:00Z",
            end="2026-06-01T09:30:00Z",
        ),
    )
    assert moved.json()["orphaned_interview_id"] == orphan_id
    listed = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews",
        headers=tokens("member", cohort["organization_id"]),
    )
    [orphan] = listed.json()["items"]
    assert (orphan["booking_uid"], orphan["start_time"]) == ("o2", "2026-06-01T09:00:00Z")

    await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="o2"))

    assert await open_orphans(client, tokens, cohort) == 0
    cancelled = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews",
        params={"state": "cancelled"},
        headers=tokens("member", cohort["organization_id"]),
    )
    assert [o["id"] for o in cancelled.json()["items"]] == [orphan_id]


async def test_cancellation_before_creation_is_remembered(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)

    cancelled = await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="late"))
    created = await deliver(client, cohort, booking(uid="late"))

    assert cancelled.json()["outcome"] == "ignored"
    assert created.json()["outcome"] == "ignored"
    unchanged = await get_application(client, tokens, application)
    assert (unchanged["status"], unchanged["interview"]) == ("waiting_first_round", None)


async def test_reschedule_before_creation_ends_as_in_order(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)

    moved = await deliver(
        client,
        cohort,
        booking(
            "BOOKING_RESCHEDULED",
            uid="new",
            reschedule_uid="old",
            start="2026-05-20T10:00:00Z",
            end="2026-05-20T10:30:00Z",
        ),
    )
    late = await deliver(client, cohort, booking(uid="old"))

    assert moved.json()["outcome"] == "matched"
    assert late.json()["outcome"] == "ignored"
    final = await get_application(client, tokens, application)
    assert final["status"] == "first_round_scheduled"
    assert (final["interview"]["booking_uid"], final["interview"]["start_time"]) == (
        "new",
        "2026-05-20T10:00:00Z",
    )


async def test_host_requested_reschedule_schedules_again(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="a"))
    request = booking("BOOKING_CANCELLED", uid="a")
    request["payload"]["requestReschedule"] = True
    await deliver(client, cohort, request)
    assert (await get_application(client, tokens, application))["status"] == "waiting_first_round"

    await deliver(client, cohort, booking("BOOKING_RESCHEDULED", uid="b", reschedule_uid="a"))

    final = await get_application(client, tokens, application)
    assert (final["status"], final["interview"]["booking_uid"]) == ("first_round_scheduled", "b")


async def test_ping_answers_ignored_and_stores_nothing(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    response = await deliver(client, cohort, sample("ping"))

    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert await events(client, tokens, cohort) == []


async def test_other_triggers_are_logged_as_ignored(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    body = {"triggerEvent": "MEETING_ENDED", "createdAt": "2026-05-12T14:30:00Z", "uid": "m"}

    response = await deliver(client, cohort, body)

    assert response.json()["outcome"] == "ignored"
    [logged] = await events(client, tokens, cohort, outcome="ignored")
    assert logged["trigger"] == "MEETING_ENDED"


@pytest.mark.parametrize(
    ("signature", "says"),
    [
        (None, "X-Cal-Signature-256 is missing"),
        ("", "X-Cal-Signature-256 is missing"),
        ("0" * 64, "does not match this cohort's webhook secret, current or"),
        ("no-secret-provided", "the webhook in Cal.com has no secret"),
        ("sha256=" + "0" * 64, "starts with `sha256=`"),
        ("not-hex", "not a signature as Cal.com sends it"),
    ],
    ids=["missing", "empty", "wrong", "no-secret", "prefixed", "malformed"],
)
async def test_unsigned_or_badly_signed_delivery_is_refused_and_changes_nothing(
    client: AsyncClient, tokens: Tokens, cohort: Json, signature: str | None, says: str
) -> None:
    application = await create_application(client, tokens, cohort)
    raw = encode(sample("booking_created"))
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Cal-Signature-256"] = signature

    response = await client.post(f"/webhooks/calcom/{cohort['id']}", content=raw, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:scheduling-service:problem:invalid-signature"
    assert says in response.json()["detail"]
    assert (await get_application(client, tokens, application))["status"] == "waiting_first_round"
    assert await events(client, tokens, cohort) == []


async def test_delivery_signed_with_another_cohorts_secret_is_refused(
    client: AsyncClient, tokens: Tokens, org: Json, cohort: Json
) -> None:
    other = await create_cohort(client, tokens, org["id"], name="Other")

    response = await deliver(
        client, cohort, sample("booking_created"), secret=other["webhook_secret"]
    )

    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "set the webhook's secret in Cal.com's settings to this cohort's current" in detail
    # The answer never shows a secret.
    assert other["webhook_secret"] not in detail
    assert cohort["webhook_secret"] not in detail


@pytest.mark.parametrize("cohort_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
async def test_unknown_cohort_answers_404(client: AsyncClient, cohort_id: str) -> None:
    response = await client.post(
        f"/webhooks/calcom/{cohort_id}",
        content=b"{}",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_body_over_one_mebibyte_answers_413(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    body = sample("booking_created")
    body["payload"]["description"] = "x" * (1024 * 1024)

    response = await deliver(client, cohort, body)

    assert response.status_code == 413
    assert response.json()["type"] == "urn:scheduling-service:problem:payload-too-large"
    assert await events(client, tokens, cohort) == []


async def test_authentic_body_that_is_not_json_is_logged_as_rejected(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    response = await deliver(client, cohort, b"<html>not json</html>")

    assert response.status_code == 400
    assert response.json()["type"] == "urn:scheduling-service:problem:malformed-webhook"
    [logged] = await events(client, tokens, cohort, outcome="rejected")
    assert logged["body"] == "<html>not json</html>"
    assert logged["reason"].startswith("the body is not JSON")


async def test_authentic_booking_without_needed_fields_is_logged_as_rejected(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    body = sample("booking_created")
    del body["payload"]["startTime"]

    response = await deliver(client, cohort, body)

    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:scheduling-service:problem:invalid-webhook"
    assert "payload.startTime" in problem["detail"]
    [logged] = await events(client, tokens, cohort)
    assert (logged["outcome"], logged["trigger"]) == ("rejected", "BOOKING_CREATED")
    assert "payload.startTime" in logged["reason"]


async def test_previous_secret_is_accepted_only_during_the_grace_period(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    await create_application(client, tokens, cohort)
    rotated = await client.post(
        f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate", headers=tokens("system_admin")
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["webhook_secret"]

    old = await deliver(client, cohort, booking(uid="a"))
    new = await deliver(client, cohort, booking(uid="b"), secret=new_secret)
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            text("UPDATE cohorts SET previous_secret_expires_at = now() - interval '1 second'")
        )
    # What every process does each WEBHOOK_SECRETS_REFRESH_SECONDS.
    await app.state.intake.secrets.refresh()
    expired = await deliver(client, cohort, booking(uid="c"))

    assert (old.status_code, new.status_code, expired.status_code) == (200, 200, 401)


async def test_calcom_reasons_are_kept_on_the_history_entries_they_cause(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    for name in ("booking_created", "booking_rescheduled", "booking_cancelled"):
        assert (await deliver(client, cohort, sample(name))).status_code == 200

    entries = await history(client, tokens, application)

    assert [(e["kind"], e["reason"]) for e in entries] == [
        ("status", None),
        ("interview_scheduled", None),
        # The sample carries it as the booking form's answer, responses.rescheduleReason.
        ("interview_rescheduled", "Clash with another interview"),
        ("interview_cancelled", "I accepted another offer"),
    ]


async def test_top_level_rescheduling_reason_is_kept(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="a"))
    moved = booking("BOOKING_RESCHEDULED", uid="b", reschedule_uid="a")
    moved["payload"]["reschedulingReason"] = "  Travelling that week "

    await deliver(client, cohort, moved)

    assert (await history(client, tokens, application))[-1]["reason"] == "Travelling that week"
