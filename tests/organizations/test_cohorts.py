import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient

from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import (
    assert_problem,
    create_cohort,
    create_org,
)

HEX_64 = re.compile(r"[0-9a-f]{64}")


async def test_system_admin_creates_cohort_with_webhook_url_and_secret(
    client: AsyncClient, tokens: Tokens
) -> None:
    org = await create_org(client, tokens)

    response = await client.post(
        f"/v1/organizations/{org['id']}/cohorts",
        json={"name": " Spring 2027 "},
        headers=tokens("system_admin"),
    )

    assert response.status_code == 201, response.text
    cohort = response.json()
    assert cohort["organization_id"] == org["id"]
    assert cohort["name"] == "Spring 2027"
    assert cohort["webhook_url"] == f"https://scheduling.test/webhooks/calcom/{cohort['id']}"
    assert cohort["webhook_url"].endswith(f"/webhooks/calcom/{cohort['id']}")
    assert HEX_64.fullmatch(cohort["webhook_secret"]), cohort["webhook_secret"]


async def test_each_cohort_gets_its_own_secret(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens)

    first = await create_cohort(client, tokens, org["id"], "One")
    second = await create_cohort(client, tokens, org["id"], "Two")

    assert first["webhook_secret"] != second["webhook_secret"]


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_organization_people_cannot_create_cohorts(
    client: AsyncClient, tokens: Tokens, role: str
) -> None:
    org = await create_org(client, tokens)

    response = await client.post(
        f"/v1/organizations/{org['id']}/cohorts",
        json={"name": "Mine"},
        headers=tokens(role, org["id"]),
    )

    assert_problem(response, 403, "forbidden")
    listed = await client.get(
        f"/v1/organizations/{org['id']}/cohorts", headers=tokens("system_admin")
    )
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_cohort_for_missing_organization_is_404(client: AsyncClient, tokens: Tokens) -> None:
    response = await client.post(
        f"/v1/organizations/{uuid.uuid4()}/cohorts",
        json={"name": "Nowhere"},
        headers=tokens("system_admin"),
    )

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_reading_a_cohort_never_shows_its_secret(
    client: AsyncClient, tokens: Tokens, role: str
) -> None:
    org = await create_org(client, tokens)
    created = await create_cohort(client, tokens, org["id"])

    response = await client.get(f"/v1/cohorts/{created['id']}", headers=tokens(role, org["id"]))

    assert response.status_code == 200, response.text
    cohort = response.json()
    assert "webhook_secret" not in cohort
    assert created["webhook_secret"] not in response.text
    expected = {k: v for k, v in created.items() if k != "webhook_secret"}
    assert cohort == expected


async def test_listing_cohorts_never_shows_secrets(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens)
    created = await create_cohort(client, tokens, org["id"])

    response = await client.get(
        f"/v1/organizations/{org['id']}/cohorts", headers=tokens("system_admin")
    )

    assert response.status_code == 200, response.text
    assert created["webhook_secret"] not in response.text
    assert all("webhook_secret" not in item for item in response.json()["items"])


async def test_member_lists_cohorts_page_by_page(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens)
    other_org = await create_org(client, tokens, name="Other")
    created = [await create_cohort(client, tokens, org["id"], f"Cohort {i}") for i in range(3)]
    await create_cohort(client, tokens, other_org["id"], "Not listed")
    headers = tokens("member", org["id"])

    first = await client.get(
        f"/v1/organizations/{org['id']}/cohorts", params={"limit": 2}, headers=headers
    )
    assert first.status_code == 200, first.text
    assert len(first.json()["items"]) == 2
    assert first.json()["next_cursor"]
    second = await client.get(
        f"/v1/organizations/{org['id']}/cohorts",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=headers,
    )

    assert second.status_code == 200, second.text
    assert len(second.json()["items"]) == 1
    assert second.json()["next_cursor"] is None
    seen = [c["id"] for c in first.json()["items"] + second.json()["items"]]
    assert sorted(seen) == sorted(c["id"] for c in created)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"cursor": "garbage"}])
async def test_bad_cohort_list_paging_is_invalid(
    client: AsyncClient, tokens: Tokens, params: dict[str, object]
) -> None:
    org = await create_org(client, tokens)

    response = await client.get(
        f"/v1/organizations/{org['id']}/cohorts", params=params, headers=tokens("admin", org["id"])
    )

    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("path", ["/v1/cohorts/{cohort}", "/v1/organizations/{org}/cohorts"])
async def test_other_organizations_cohorts_are_404_exactly_like_missing_ones(
    client: AsyncClient, tokens: Tokens, path: str
) -> None:
    org_a = await create_org(client, tokens, name="A")
    org_b = await create_org(client, tokens, name="B")
    cohort_a = await create_cohort(client, tokens, org_a["id"])
    headers = tokens("admin", org_b["id"])

    foreign = await client.get(path.format(cohort=cohort_a["id"], org=org_a["id"]), headers=headers)
    missing = await client.get(path.format(cohort=uuid.uuid4(), org=uuid.uuid4()), headers=headers)

    assert assert_problem(foreign, 404, "not-found") == assert_problem(missing, 404, "not-found")


async def test_system_admin_rotates_secret_with_a_24_hour_grace_period(
    client: AsyncClient, tokens: Tokens
) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])

    before = datetime.now(UTC)
    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate", headers=tokens("system_admin")
    )
    after = datetime.now(UTC)

    assert response.status_code == 200, response.text
    rotated = response.json()
    assert set(rotated) == {"webhook_secret", "previous_secret_expires_at"}
    assert HEX_64.fullmatch(rotated["webhook_secret"])
    assert rotated["webhook_secret"] != cohort["webhook_secret"]
    expires_at = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert expires_at.tzinfo is not None
    assert before + timedelta(hours=24) - timedelta(seconds=5) <= expires_at
    assert expires_at <= after + timedelta(hours=24) + timedelta(seconds=5)


async def test_after_rotation_webhook_accepts_new_and_previous_secret_only(
    client: AsyncClient, tokens: Tokens
) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    rotated = (
        await client.post(
            f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate", headers=tokens("system_admin")
        )
    ).json()

    new = await deliver(
        client,
        cohort,
        booking(email="one@example.org", uid="uid-new"),
        secret=rotated["webhook_secret"],
    )
    previous = await deliver(client, cohort, booking(email="two@example.org", uid="uid-previous"))
    unknown = await deliver(
        client, cohort, booking(email="three@example.org", uid="uid-x"), secret="f" * 64
    )

    assert new.status_code == 200, new.text
    assert previous.status_code == 200, previous.text
    assert_problem(unknown, 401)


async def test_second_rotation_retires_the_first_secret(
    client: AsyncClient, tokens: Tokens
) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    path = f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate"
    await client.post(path, headers=tokens("system_admin"))
    await client.post(path, headers=tokens("system_admin"))

    response = await deliver(client, cohort, booking(email="late@example.org"))

    assert_problem(response, 401)


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_organization_people_cannot_rotate_secret(
    client: AsyncClient, tokens: Tokens, role: str
) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])

    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate", headers=tokens(role, org["id"])
    )

    assert_problem(response, 403, "forbidden")
    # Had the refused rotation happened, this one would retire the original secret.
    await client.post(
        f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate", headers=tokens("system_admin")
    )
    original = await deliver(client, cohort, booking(email="a@example.org"))
    assert original.status_code == 200, original.text


async def test_rotating_secret_of_missing_cohort_is_404(
    client: AsyncClient, tokens: Tokens
) -> None:
    response = await client.post(
        f"/v1/cohorts/{uuid.uuid4()}/webhook-secret/rotate", headers=tokens("system_admin")
    )

    assert_problem(response, 404, "not-found")
