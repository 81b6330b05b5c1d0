import uuid
from datetime import timedelta

import pytest
from httpx import AsyncClient
from pydantic import SecretStr

from scheduling_service.auth import Role, issue_token
from scheduling_service.config import Settings
from tests.conftest import Tokens
from tests.factories import assert_problem, create_org


async def test_system_admin_creates_organization_with_normalized_admin_emails(
    client: AsyncClient, tokens: Tokens
) -> None:
    response = await client.post(
        "/v1/organizations",
        json={
            "name": "  Acme Fellowship  ",
            "admin_emails": ["Boss@Example.ORG", " boss@example.org ", "Ops@Example.org"],
        },
        headers=tokens("system_admin"),
    )

    assert response.status_code == 201, response.text
    org = response.json()
    assert uuid.UUID(org["id"])
    assert org["name"] == "Acme Fellowship"
    assert org["admin_emails"] == ["boss@example.org", "ops@example.org"]
    assert org["created_at"]
    assert org["updated_at"]
    stored = await client.get(f"/v1/organizations/{org['id']}", headers=tokens("system_admin"))
    assert stored.json() == org


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_organization_people_cannot_create_organizations(
    client: AsyncClient, tokens: Tokens, role: str
) -> None:
    org = await create_org(client, tokens)

    response = await client.post(
        "/v1/organizations",
        json={"name": "Sneaky", "admin_emails": []},
        headers=tokens(role, org["id"]),
    )

    assert_problem(response, 403, "forbidden")


async def test_request_without_token_is_unauthorized(client: AsyncClient) -> None:
    response = await client.post("/v1/organizations", json={"name": "X", "admin_emails": []})

    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c"],
)
async def test_request_with_garbage_credentials_is_unauthorized(
    client: AsyncClient, authorization: str
) -> None:
    response = await client.post(
        "/v1/organizations",
        json={"name": "X", "admin_emails": []},
        headers={"Authorization": authorization},
    )

    assert_problem(response, 401, "unauthorized")


async def test_expired_token_is_unauthorized(client: AsyncClient, settings: Settings) -> None:
    token = issue_token(
        settings,
        role=Role.SYSTEM_ADMIN,
        organization_id=None,
        subject="ops",
        ttl=timedelta(minutes=-5),
    )

    response = await client.get(
        "/v1/organizations/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert_problem(response, 401, "unauthorized")


async def test_token_signed_with_another_secret_is_unauthorized(
    client: AsyncClient, settings: Settings
) -> None:
    forged = settings.model_copy(
        update={"jwt_secret": SecretStr("someone-else-s-secret-long-enough-for-hs256")}
    )
    token = issue_token(
        forged,
        role=Role.SYSTEM_ADMIN,
        organization_id=None,
        subject="mallory",
        ttl=timedelta(minutes=5),
    )

    response = await client.post(
        "/v1/organizations",
        json={"name": "Forged", "admin_emails": []},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "admin_emails",
    [["not-an-email"], ["a@b"], ["ok@example.org", "two@@example.org"], "ok@example.org"],
)
async def test_create_organization_with_bad_admin_email_is_invalid(
    client: AsyncClient, tokens: Tokens, admin_emails: object
) -> None:
    response = await client.post(
        "/v1/organizations",
        json={"name": "Acme", "admin_emails": admin_emails},
        headers=tokens("system_admin"),
    )

    body = assert_problem(response, 422, "validation-error")
    assert "admin_emails" in body["detail"]


@pytest.mark.parametrize("body", [{"admin_emails": []}, {"name": "   "}, {"name": ""}])
async def test_create_organization_needs_a_name(
    client: AsyncClient, tokens: Tokens, body: dict[str, object]
) -> None:
    response = await client.post("/v1/organizations", json=body, headers=tokens("system_admin"))

    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_organization_people_read_their_organization(
    client: AsyncClient, tokens: Tokens, role: str
) -> None:
    org = await create_org(client, tokens)

    response = await client.get(f"/v1/organizations/{org['id']}", headers=tokens(role, org["id"]))

    assert response.status_code == 200, response.text
    assert response.json() == org


async def test_org_admin_changes_name_and_admin_emails(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens, admin_emails=["first@example.org"])

    response = await client.patch(
        f"/v1/organizations/{org['id']}",
        json={"name": "Acme Renamed", "admin_emails": ["New.Admin@Example.org"]},
        headers=tokens("admin", org["id"]),
    )

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Acme Renamed"
    assert response.json()["admin_emails"] == ["new.admin@example.org"]
    stored = (
        await client.get(f"/v1/organizations/{org['id']}", headers=tokens("member", org["id"]))
    ).json()
    assert stored["name"] == "Acme Renamed"
    assert stored["admin_emails"] == ["new.admin@example.org"]


async def test_patch_changes_only_the_fields_given(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens, admin_emails=["keep@example.org"])

    response = await client.patch(
        f"/v1/organizations/{org['id']}",
        json={"name": "Only The Name"},
        headers=tokens("admin", org["id"]),
    )

    assert response.status_code == 200, response.text
    assert response.json()["admin_emails"] == ["keep@example.org"]
    assert response.json()["name"] == "Only The Name"


async def test_system_admin_patches_any_organization(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens)

    response = await client.patch(
        f"/v1/organizations/{org['id']}",
        json={"admin_emails": []},
        headers=tokens("system_admin"),
    )

    assert response.status_code == 200, response.text
    assert response.json()["admin_emails"] == []


async def test_member_cannot_patch_organization(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens)

    response = await client.patch(
        f"/v1/organizations/{org['id']}",
        json={"name": "Hijacked"},
        headers=tokens("member", org["id"]),
    )

    assert_problem(response, 403, "forbidden")
    stored = await client.get(f"/v1/organizations/{org['id']}", headers=tokens("system_admin"))
    assert stored.json() == org


async def test_patch_with_bad_admin_email_is_invalid_and_changes_nothing(
    client: AsyncClient, tokens: Tokens
) -> None:
    org = await create_org(client, tokens)

    response = await client.patch(
        f"/v1/organizations/{org['id']}",
        json={"admin_emails": ["fine@example.org", "broken"]},
        headers=tokens("admin", org["id"]),
    )

    assert_problem(response, 422, "validation-error")
    stored = await client.get(f"/v1/organizations/{org['id']}", headers=tokens("system_admin"))
    assert stored.json() == org


async def test_patch_with_unknown_field_is_invalid(client: AsyncClient, tokens: Tokens) -> None:
    org = await create_org(client, tokens)

    response = await client.patch(
        f"/v1/organizations/{org['id']}",
        json={"id": str(uuid.uuid4())},
        headers=tokens("admin", org["id"]),
    )

    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_other_organizations_admin_gets_404_exactly_like_a_missing_id(
    client: AsyncClient, tokens: Tokens, method: str
) -> None:
    org_a = await create_org(client, tokens, name="A")
    org_b = await create_org(client, tokens, name="B")
    body = {"name": "Taken over"} if method == "PATCH" else None

    foreign = await client.request(
        method, f"/v1/organizations/{org_a['id']}", json=body, headers=tokens("admin", org_b["id"])
    )
    missing = await client.request(
        method, f"/v1/organizations/{uuid.uuid4()}", json=body, headers=tokens("admin", org_b["id"])
    )

    assert_problem(foreign, 404, "not-found")
    assert foreign.json() == assert_problem(missing, 404, "not-found")
    stored = await client.get(f"/v1/organizations/{org_a['id']}", headers=tokens("system_admin"))
    assert stored.json() == org_a


async def test_missing_organization_is_404_even_for_system_admin(
    client: AsyncClient, tokens: Tokens
) -> None:
    response = await client.get(f"/v1/organizations/{uuid.uuid4()}", headers=tokens("system_admin"))

    assert_problem(response, 404, "not-found")


async def test_malformed_organization_id_is_invalid(client: AsyncClient, tokens: Tokens) -> None:
    response = await client.get("/v1/organizations/not-a-uuid", headers=tokens("system_admin"))

    assert_problem(response, 422, "validation-error")
