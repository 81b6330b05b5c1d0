"""The orphaned interviews of a cohort over the API: listed, counted, filtered, paged."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import (
    ISO_SECONDS,
    assert_problem,
    book,
    create_application,
    create_cohort,
    create_orphan,
)


async def open_count(client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]) -> int:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews/count",
        headers=tokens("member", cohort["organization_id"]),
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"open"}
    count: int = response.json()["open"]
    return count


async def test_new_cohort_has_no_orphaned_interviews(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    listed = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews",
        headers=tokens("member", cohort["organization_id"]),
    )

    assert await open_count(client, tokens, cohort) == 0
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_unmatched_booking_is_listed_and_counted_as_open_orphan(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    await create_application(client, tokens, cohort, email="known@example.org", status=None)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    body = booking(
        email=" Stranger@Example.org ",
        name="Sam Stranger",
        uid="uid-1",
        start=start.strftime(ISO_SECONDS),
        end=(start + timedelta(minutes=30)).strftime(ISO_SECONDS),
        metadata={"videoCallUrl": "https://video.example.org/uid-1"},
    )

    answer = (await deliver(client, cohort, body)).json()

    assert answer["outcome"] == "orphaned"
    assert await open_count(client, tokens, cohort) == 1
    listed = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews",
        headers=tokens("member", cohort["organization_id"]),
    )
    assert listed.status_code == 200, listed.text
    [orphan] = listed.json()["items"]
    assert orphan["id"] == answer["orphaned_interview_id"]
    assert orphan["cohort_id"] == cohort["id"]
    assert orphan["state"] == "open"
    assert orphan["applicant_name"] == "Sam Stranger"
    assert orphan["applicant_email"] == "stranger@example.org"
    assert orphan["booking_uid"] == "uid-1"
    assert datetime.fromisoformat(orphan["start_time"]) == start
    assert datetime.fromisoformat(orphan["end_time"]) == start + timedelta(minutes=30)
    assert orphan["meeting_url"] == "https://video.example.org/uid-1"
    assert orphan["resolved_at"] is None
    assert orphan["resolved_by"] is None
    assert orphan["application_id"] is None
    assert orphan["created_at"]


async def test_matched_booking_is_not_an_orphan(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    await create_application(client, tokens, cohort, email="known@example.org", status=None)

    answer = await book(client, cohort, email="KNOWN@example.org")

    assert answer["outcome"] == "matched"
    assert await open_count(client, tokens, cohort) == 0


async def test_orphans_of_another_cohort_are_not_counted(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    other = await create_cohort(client, tokens, cohort["organization_id"], "Other")
    await create_orphan(client, other)

    assert await open_count(client, tokens, cohort) == 0


async def test_orphan_list_filters_by_state(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    await create_orphan(client, cohort)
    path = f"/v1/cohorts/{cohort['id']}/orphaned-interviews"
    headers = tokens("member", cohort["organization_id"])

    open_ = await client.get(path, params={"state": "open"}, headers=headers)
    cancelled = await client.get(path, params={"state": "cancelled"}, headers=headers)
    bogus = await client.get(path, params={"state": "lost"}, headers=headers)

    assert len(open_.json()["items"]) == 1
    assert cancelled.json() == {"items": [], "next_cursor": None}
    assert_problem(bogus, 422, "validation-error")


@pytest.mark.commits  # lists newest first: rows of one transaction share now()
async def test_orphan_list_pages(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    ids = [await create_orphan(client, cohort, f"s{i}@example.org") for i in range(3)]
    path = f"/v1/cohorts/{cohort['id']}/orphaned-interviews"
    headers = tokens("member", cohort["organization_id"])

    first = (await client.get(path, params={"limit": 2}, headers=headers)).json()
    second = (
        await client.get(path, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers)
    ).json()

    walked = [o["id"] for o in first["items"] + second["items"]]
    assert walked == list(reversed(ids))
    assert second["next_cursor"] is None
    assert await open_count(client, tokens, cohort) == 3
