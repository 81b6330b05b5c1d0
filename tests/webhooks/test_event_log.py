"""The log of a cohort's deliveries over the API (`/v1/cohorts/{id}/webhook-events`)."""

from typing import Any

from httpx import AsyncClient

from tests.conftest import Tokens
from tests.factories import assert_problem, book, create_application, create_orphan


async def test_webhook_events_list_the_cohorts_deliveries_for_admins(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    await create_application(client, tokens, cohort, email="known@example.org", status=None)
    matched = await book(client, cohort, email="known@example.org")
    orphaned = await book(client, cohort, email="stranger@example.org")

    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events",
        headers=tokens("admin", cohort["organization_id"]),
    )

    assert response.status_code == 200, response.text
    events = response.json()["items"]
    assert response.json()["next_cursor"] is None
    assert [(e["event_id"], e["outcome"]) for e in events] == [
        (orphaned["event_id"], "orphaned"),
        (matched["event_id"], "matched"),
    ]
    assert events[1]["application_id"] == matched["application_id"]
    assert events[0]["orphaned_interview_id"] == orphaned["orphaned_interview_id"]
    assert all(e["trigger"] == "BOOKING_CREATED" for e in events)
    assert "stranger@example.org" in events[0]["body"]


async def test_webhook_events_filter_by_outcome(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    await create_orphan(client, cohort)
    path = f"/v1/cohorts/{cohort['id']}/webhook-events"
    headers = tokens("admin", cohort["organization_id"])

    orphaned = await client.get(path, params={"outcome": "orphaned"}, headers=headers)
    matched = await client.get(path, params={"outcome": "matched"}, headers=headers)
    bogus = await client.get(path, params={"outcome": "weird"}, headers=headers)

    assert [e["outcome"] for e in orphaned.json()["items"]] == ["orphaned"]
    assert matched.json() == {"items": [], "next_cursor": None}
    assert_problem(bogus, 422, "validation-error")


async def test_new_cohort_has_an_empty_event_log(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events", headers=tokens("system_admin")
    )

    assert response.json() == {"items": [], "next_cursor": None}


async def test_member_cannot_read_webhook_events(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    await create_orphan(client, cohort)

    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events",
        headers=tokens("member", cohort["organization_id"]),
    )

    assert_problem(response, 403, "forbidden")
    assert "stranger@example.org" not in response.text
