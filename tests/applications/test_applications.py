import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import Tokens
from tests.factories import (
    assert_problem,
    book,
    create_application,
    create_cohort,
    move_status,
)

SCHEDULED_STATUSES = ["first_round_scheduled", "second_round_scheduled"]


async def list_all(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/applications", headers=tokens("system_admin")
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def history_of(
    client: AsyncClient, tokens: Tokens, application: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/applications/{application['id']}/history", headers=tokens("system_admin")
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_org_admin_creates_application_submitted_by_default(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/applications",
        json={"applicant_name": " Jane Doe ", "contact_email": " Jane.Doe@Example.ORG "},
        headers=tokens("admin", cohort["organization_id"]),
    )

    assert response.status_code == 201, response.text
    application = response.json()
    assert uuid.UUID(application["id"])
    assert application["cohort_id"] == cohort["id"]
    assert application["applicant_name"] == "Jane Doe"
    assert application["contact_email"] == "jane.doe@example.org"
    assert application["status"] == "submitted"
    assert application["current_stage"] == "application"
    assert application["interview"] is None
    assert application["pipeline"] == {
        "state": "none",
        "round": None,
        "start_time": None,
        "end_time": None,
        "is_past": False,
        "no_show": False,
    }
    assert application["created_at"]
    assert application["updated_at"]


async def test_created_application_is_readable_by_members(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    created = await create_application(client, tokens, cohort, status=None)

    response = await client.get(
        f"/v1/applications/{created['id']}", headers=tokens("member", cohort["organization_id"])
    )

    assert response.status_code == 200, response.text
    assert response.json() == created


async def test_application_created_waiting_first_round_awaits_scheduling_round_1(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    application = await create_application(client, tokens, cohort, status="waiting_first_round")

    assert application["status"] == "waiting_first_round"
    assert application["current_stage"] == "first_round"
    assert application["pipeline"] == {
        "state": "awaiting_scheduling",
        "round": 1,
        "start_time": None,
        "end_time": None,
        "is_past": False,
        "no_show": False,
    }


@pytest.mark.parametrize(
    ("status", "stage", "state", "round_"),
    [
        ("submitted", "application", "none", None),
        ("under_review", "review", "none", None),
        ("waiting_first_round", "first_round", "awaiting_scheduling", 1),
        ("waiting_second_round", "second_round", "awaiting_scheduling", 2),
        ("accepted", "decision", "none", None),
        ("waitlist", "decision", "none", None),
        ("declined", "decision", "none", None),
    ],
)
async def test_application_created_in_status_shows_its_stage_and_pipeline(
    client: AsyncClient,
    tokens: Tokens,
    cohort: dict[str, Any],
    status: str,
    stage: str,
    state: str,
    round_: int | None,
) -> None:
    application = await create_application(client, tokens, cohort, status=status)

    assert application["status"] == status
    assert application["current_stage"] == stage
    assert application["pipeline"]["state"] == state
    assert application["pipeline"]["round"] == round_


@pytest.mark.parametrize("status", SCHEDULED_STATUSES)
async def test_application_cannot_be_created_as_scheduled(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any], status: str
) -> None:
    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/applications",
        json={"applicant_name": "Jane", "contact_email": "jane@example.org", "status": status},
        headers=tokens("admin", cohort["organization_id"]),
    )

    assert_problem(response, 422, "validation-error")
    assert await list_all(client, tokens, cohort) == []


@pytest.mark.parametrize(
    "body",
    [
        {"applicant_name": "Jane", "contact_email": "not-an-email"},
        {"applicant_name": "Jane", "contact_email": "jane@"},
        {"applicant_name": "Jane"},
        {"contact_email": "jane@example.org"},
        {"applicant_name": "  ", "contact_email": "jane@example.org"},
        {"applicant_name": "Jane", "contact_email": "jane@example.org", "status": "hired"},
        {"applicant_name": "Jane", "contact_email": "jane@example.org", "stage": "decision"},
    ],
)
async def test_invalid_application_is_refused(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any], body: dict[str, str]
) -> None:
    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/applications",
        json=body,
        headers=tokens("admin", cohort["organization_id"]),
    )

    assert_problem(response, 422, "validation-error")
    assert await list_all(client, tokens, cohort) == []


@pytest.mark.parametrize(
    "duplicate",
    ["jane@example.org", "JANE@Example.org", "  jane@example.org  ", "Jane@EXAMPLE.ORG "],
)
async def test_duplicate_contact_email_in_cohort_is_a_conflict(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any], duplicate: str
) -> None:
    first = await create_application(client, tokens, cohort, email="jane@example.org", status=None)

    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/applications",
        json={"applicant_name": "Jane Again", "contact_email": duplicate},
        headers=tokens("admin", cohort["organization_id"]),
    )

    assert_problem(response, 409, "conflict")
    assert [a["id"] for a in await list_all(client, tokens, cohort)] == [first["id"]]


async def test_same_email_may_apply_to_another_cohort(
    client: AsyncClient, tokens: Tokens, org: dict[str, Any], cohort: dict[str, Any]
) -> None:
    other = await create_cohort(client, tokens, org["id"], "Autumn 2027")
    await create_application(client, tokens, cohort, email="jane@example.org", status=None)

    application = await create_application(
        client, tokens, other, email="Jane@Example.org", status=None
    )

    assert application["cohort_id"] == other["id"]


async def test_member_cannot_create_application(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/applications",
        json={"applicant_name": "Jane", "contact_email": "jane@example.org"},
        headers=tokens("member", cohort["organization_id"]),
    )

    assert_problem(response, 403, "forbidden")
    assert await list_all(client, tokens, cohort) == []


async def test_creating_application_in_missing_cohort_is_404(
    client: AsyncClient, tokens: Tokens, org: dict[str, Any]
) -> None:
    response = await client.post(
        f"/v1/cohorts/{uuid.uuid4()}/applications",
        json={"applicant_name": "Jane", "contact_email": "jane@example.org"},
        headers=tokens("admin", org["id"]),
    )

    assert_problem(response, 404, "not-found")


async def test_missing_application_is_404(
    client: AsyncClient, tokens: Tokens, org: dict[str, Any]
) -> None:
    response = await client.get(
        f"/v1/applications/{uuid.uuid4()}", headers=tokens("admin", org["id"])
    )

    assert_problem(response, 404, "not-found")


async def test_booked_interview_shows_as_scheduled_in_the_pipeline(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    application = await create_application(
        client, tokens, cohort, email="jane@example.org", status="waiting_first_round"
    )
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)

    answer = await book(client, cohort, email="Jane@Example.org", start=start)

    assert answer["outcome"] == "matched"
    assert answer["application_id"] == application["id"]
    shown = (
        await client.get(f"/v1/applications/{application['id']}", headers=tokens("system_admin"))
    ).json()
    assert shown["status"] == "first_round_scheduled"
    assert shown["current_stage"] == "first_round"
    assert shown["interview"]["meeting_url"].startswith("https://video.example.org/")
    assert datetime.fromisoformat(shown["interview"]["start_time"]) == start
    assert shown["pipeline"]["state"] == "scheduled"
    assert shown["pipeline"]["round"] == 1
    assert datetime.fromisoformat(shown["pipeline"]["start_time"]) == start
    assert datetime.fromisoformat(shown["pipeline"]["end_time"]) == start + timedelta(minutes=30)
    assert shown["pipeline"]["is_past"] is False


async def test_interview_that_has_ended_is_marked_past(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    application = await create_application(
        client, tokens, cohort, email="jane@example.org", status="waiting_second_round"
    )

    await book(
        client, cohort, email="jane@example.org", start=datetime.now(UTC) - timedelta(hours=2)
    )

    shown = (
        await client.get(f"/v1/applications/{application['id']}", headers=tokens("system_admin"))
    ).json()
    assert shown["status"] == "second_round_scheduled"
    assert shown["pipeline"]["state"] == "scheduled"
    assert shown["pipeline"]["round"] == 2
    assert shown["pipeline"]["is_past"] is True


async def test_allowed_manual_move_changes_status_and_records_history(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    application = await create_application(client, tokens, cohort, status=None)

    response = await client.post(
        f"/v1/applications/{application['id']}/status",
        json={"status": "under_review", "reason": "CV looks promising"},
        headers=tokens("admin", cohort["organization_id"], sub="alice"),
    )

    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["status"] == "under_review"
    assert moved["current_stage"] == "review"
    stored = (
        await client.get(f"/v1/applications/{application['id']}", headers=tokens("system_admin"))
    ).json()
    assert stored["status"] == "under_review"
    entry = (await history_of(client, tokens, application))[-1]
    assert entry["kind"] == "status"
    assert entry["from_status"] == "submitted"
    assert entry["to_status"] == "under_review"
    assert entry["cause"] == "admin"
    assert entry["actor"] == "alice"
    assert entry["reason"] == "CV looks promising"
    assert entry["event_id"] is None
    assert entry["interview"] is None


async def test_manual_move_to_waiting_first_round_awaits_scheduling(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    application = await create_application(client, tokens, cohort, status="under_review")

    moved = await move_status(
        client, tokens, application, cohort["organization_id"], "waiting_first_round"
    )

    assert moved["current_stage"] == "first_round"
    assert moved["pipeline"]["state"] == "awaiting_scheduling"
    assert moved["pipeline"]["round"] == 1


@pytest.mark.parametrize(
    ("start", "requested"),
    [
        ("submitted", "first_round_scheduled"),
        ("submitted", "second_round_scheduled"),
        ("waiting_first_round", "first_round_scheduled"),
        ("accepted", "submitted"),
        ("declined", "accepted"),
        ("submitted", "submitted"),
    ],
)
async def test_refused_manual_move_is_a_conflict_and_changes_nothing(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any], start: str, requested: str
) -> None:
    application = await create_application(client, tokens, cohort, status=start)
    history_before = await history_of(client, tokens, application)

    response = await client.post(
        f"/v1/applications/{application['id']}/status",
        json={"status": requested},
        headers=tokens("admin", cohort["organization_id"]),
    )

    assert_problem(response, 409, "transition-refused")
    stored = (
        await client.get(f"/v1/applications/{application['id']}", headers=tokens("system_admin"))
    ).json()
    assert stored == application
    assert await history_of(client, tokens, application) == history_before


async def test_member_cannot_move_status(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    application = await create_application(client, tokens, cohort, status=None)

    response = await client.post(
        f"/v1/applications/{application['id']}/status",
        json={"status": "under_review"},
        headers=tokens("member", cohort["organization_id"]),
    )

    assert_problem(response, 403, "forbidden")
    stored = (
        await client.get(f"/v1/applications/{application['id']}", headers=tokens("system_admin"))
    ).json()
    assert stored["status"] == "submitted"


@pytest.mark.parametrize(
    "body", [{"status": "hired"}, {}, {"status": "accepted", "reason": "x" * 2001}]
)
async def test_invalid_status_move_is_refused(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any], body: dict[str, str]
) -> None:
    application = await create_application(client, tokens, cohort, status=None)

    response = await client.post(
        f"/v1/applications/{application['id']}/status",
        json=body,
        headers=tokens("admin", cohort["organization_id"]),
    )

    assert_problem(response, 422, "validation-error")


async def test_history_lists_every_change_oldest_first(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    org_id = cohort["organization_id"]
    application = await create_application(client, tokens, cohort, status=None)
    await move_status(client, tokens, application, org_id, "under_review", "first look")
    await move_status(client, tokens, application, org_id, "waiting_first_round")
    await move_status(client, tokens, application, org_id, "waitlist", "full round")

    response = await client.get(
        f"/v1/applications/{application['id']}/history", headers=tokens("member", org_id)
    )

    assert response.status_code == 200, response.text
    entries = response.json()["items"]
    assert response.json()["next_cursor"] is None
    assert [(e["from_status"], e["to_status"]) for e in entries] == [
        (None, "submitted"),
        ("submitted", "under_review"),
        ("under_review", "waiting_first_round"),
        ("waiting_first_round", "waitlist"),
    ]
    assert [e["reason"] for e in entries] == [None, "first look", None, "full round"]
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert times == sorted(times)
    assert all(e["cause"] == "admin" for e in entries)
    assert len({e["id"] for e in entries}) == 4


async def test_history_pages_continue_in_order(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    org_id = cohort["organization_id"]
    application = await create_application(client, tokens, cohort, status=None)
    await move_status(client, tokens, application, org_id, "under_review")
    await move_status(client, tokens, application, org_id, "submitted")
    path = f"/v1/applications/{application['id']}/history"

    first = (await client.get(path, params={"limit": 2}, headers=tokens("member", org_id))).json()
    second = (
        await client.get(
            path,
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=tokens("member", org_id),
        )
    ).json()

    assert [e["to_status"] for e in first["items"]] == ["submitted", "under_review"]
    assert [e["to_status"] for e in second["items"]] == ["submitted"]
    assert second["next_cursor"] is None


async def test_history_of_missing_application_is_404(
    client: AsyncClient, tokens: Tokens, org: dict[str, Any]
) -> None:
    response = await client.get(
        f"/v1/applications/{uuid.uuid4()}/history", headers=tokens("admin", org["id"])
    )

    assert_problem(response, 404, "not-found")


async def test_history_shows_the_booked_interview_as_the_application_does(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    application = await create_application(
        client, tokens, cohort, status="waiting_first_round", email="jane@example.org"
    )
    await book(client, cohort, email="jane@example.org")
    shown = await client.get(
        f"/v1/applications/{application['id']}", headers=tokens("system_admin")
    )

    [scheduled] = [
        entry
        for entry in await history_of(client, tokens, application)
        if entry["kind"] == "interview_scheduled"
    ]

    interview = shown.json()["interview"]
    assert interview["start_time"].endswith("Z")
    assert scheduled["interview"] == interview
