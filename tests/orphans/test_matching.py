"""Orphaned interviews resolved by an admin: candidates, match, dismiss (SPEC section 4)."""

import asyncio
from typing import Any

import pytest
from httpx import AsyncClient

from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import create_application, create_cohort, create_org

Json = dict[str, Any]


def admin(tokens: Tokens, cohort: Json, sub: str = "ada") -> dict[str, str]:
    return tokens("admin", cohort["organization_id"], sub=sub)


async def orphan_from(client: AsyncClient, cohort: Json, **fields: Any) -> str:
    response = await deliver(client, cohort, booking(**fields))
    assert response.json()["outcome"] == "orphaned", response.text
    orphan_id: str = response.json()["orphaned_interview_id"]
    return orphan_id


async def badge(client: AsyncClient, tokens: Tokens, cohort: Json) -> int:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews/count", headers=admin(tokens, cohort)
    )
    count: int = response.json()["open"]
    return count


async def test_full_loop_from_orphan_to_alias_match(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane = await create_application(client, tokens, cohort, email="jane.doe@example.com")
    await create_application(client, tokens, cohort, email="bob@example.com", name="Bob Stone")
    orphan_id = await orphan_from(
        client, cohort, uid="o1", email="j.a.n.e.doe+spring@example.com", name="Jane Doe"
    )
    assert await badge(client, tokens, cohort) == 1

    detail = await client.get(f"/v1/orphaned-interviews/{orphan_id}", headers=admin(tokens, cohort))
    assert detail.status_code == 200, detail.text
    [best, *_] = detail.json()["candidates"]
    assert best["application"]["id"] == jane["id"]
    assert "same email ignoring dots and +tags" in best["reasons"]

    matched = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/match",
        json={"application_id": jane["id"]},
        headers=admin(tokens, cohort),
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["application"]["status"] == "first_round_scheduled"
    assert matched.json()["application"]["interview"]["booking_uid"] == "o1"
    orphan = matched.json()["orphaned_interview"]
    assert (orphan["state"], orphan["resolved_by"], orphan["application_id"]) == (
        "matched",
        "ada",
        jane["id"],
    )
    assert await badge(client, tokens, cohort) == 0

    cancelled = await deliver(client, cohort, booking("BOOKING_CANCELLED", uid="o1"))
    assert cancelled.json()["application_id"] == jane["id"]
    after_cancel = await client.get(f"/v1/applications/{jane['id']}", headers=admin(tokens, cohort))
    assert after_cancel.json()["status"] == "waiting_first_round"

    rebooked = await deliver(
        client, cohort, booking(uid="o2", email="J.A.N.E.doe+spring@example.com")
    )
    assert rebooked.json() == {
        "event_id": rebooked.json()["event_id"],
        "outcome": "matched",
        "application_id": jane["id"],
        "orphaned_interview_id": None,
    }
    history = await client.get(
        f"/v1/applications/{jane['id']}/history", headers=admin(tokens, cohort)
    )
    match_entry = next(e for e in history.json()["items"] if e["kind"] == "match")
    assert (match_entry["cause"], match_entry["actor"]) == ("manual_match", "ada")


async def test_reschedule_after_match_moves_the_application_interview(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane = await create_application(client, tokens, cohort)
    orphan_id = await orphan_from(client, cohort, uid="o1", email="other@example.com")
    await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/match",
        json={"application_id": jane["id"]},
        headers=admin(tokens, cohort),
    )

    moved = await deliver(
        client,
        cohort,
        booking("BOOKING_RESCHEDULED", uid="o2", reschedule_uid="o1", email="other@example.com"),
    )

    assert moved.json()["application_id"] == jane["id"]
    seen = await client.get(f"/v1/applications/{jane['id']}", headers=admin(tokens, cohort))
    assert seen.json()["interview"]["booking_uid"] == "o2"


async def test_match_of_resolved_orphan_answers_409(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane = await create_application(client, tokens, cohort)
    orphan_id = await orphan_from(client, cohort, email="other@example.com")
    dismissed = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/dismiss",
        json={"reason": "a test booking"},
        headers=admin(tokens, cohort),
    )
    assert dismissed.status_code == 200, dismissed.text

    again = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/dismiss", json={}, headers=admin(tokens, cohort)
    )
    match = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/match",
        json={"application_id": jane["id"]},
        headers=admin(tokens, cohort),
    )

    assert (again.status_code, match.status_code) == (409, 409)
    assert match.headers["content-type"] == "application/problem+json"
    seen = await client.get(f"/v1/applications/{jane['id']}", headers=admin(tokens, cohort))
    assert seen.json()["status"] == "waiting_first_round"


async def test_dismissal_is_recorded_with_the_acting_admin(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    orphan_id = await orphan_from(client, cohort, email="spam@example.com")

    response = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/dismiss",
        json={"reason": "not an applicant"},
        headers=admin(tokens, cohort, sub="grace"),
    )

    assert response.json()["state"] == "dismissed"
    assert response.json()["resolved_by"] == "grace"
    assert await badge(client, tokens, cohort) == 0
    detail = await client.get(f"/v1/orphaned-interviews/{orphan_id}", headers=admin(tokens, cohort))
    [entry] = detail.json()["history"]
    assert (entry["kind"], entry["cause"], entry["actor"], entry["reason"]) == (
        "dismissal",
        "dismissal",
        "grace",
        "not an applicant",
    )


async def test_match_to_an_application_of_another_cohort_answers_409(
    client: AsyncClient, tokens: Tokens, org: Json, cohort: Json
) -> None:
    other = await create_cohort(client, tokens, org["id"], name="Other")
    elsewhere = await create_application(client, tokens, other)
    orphan_id = await orphan_from(client, cohort, email="other@example.com")

    response = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/match",
        json={"application_id": elsewhere["id"]},
        headers=admin(tokens, cohort),
    )

    assert response.status_code == 409
    assert await badge(client, tokens, cohort) == 1


async def test_members_cannot_match_or_dismiss(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane = await create_application(client, tokens, cohort)
    orphan_id = await orphan_from(client, cohort, email="other@example.com")
    member = tokens("member", cohort["organization_id"])

    match = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/match",
        json={"application_id": jane["id"]},
        headers=member,
    )
    dismiss = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/dismiss", json={}, headers=member
    )
    read = await client.get(f"/v1/orphaned-interviews/{orphan_id}", headers=member)

    assert (match.status_code, dismiss.status_code, read.status_code) == (403, 403, 200)


async def test_another_organization_sees_no_orphan(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    stranger = await create_org(client, tokens, name="Stranger")
    orphan_id = await orphan_from(client, cohort, email="other@example.com")

    response = await client.get(
        f"/v1/orphaned-interviews/{orphan_id}", headers=tokens("admin", stranger["id"])
    )

    assert response.status_code == 404


@pytest.mark.commits  # two admins at once
async def test_two_admins_matching_at_once_one_wins(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    jane = await create_application(client, tokens, cohort)
    bob = await create_application(client, tokens, cohort, email="bob@example.com", name="Bob")
    orphan_id = await orphan_from(client, cohort, email="other@example.com")

    responses = await asyncio.gather(
        *(
            client.post(
                f"/v1/orphaned-interviews/{orphan_id}/match",
                json={"application_id": application["id"]},
                headers=admin(tokens, cohort, sub=sub),
            )
            for application, sub in ((jane, "ada"), (bob, "grace"))
        )
    )

    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()["application"]
    loser = jane if winner["id"] == bob["id"] else bob
    seen = await client.get(f"/v1/applications/{loser['id']}", headers=admin(tokens, cohort))
    assert seen.json()["status"] == "waiting_first_round"
