"""Plain factories that create data through the API, as the SPA would."""

from typing import Any

from httpx import AsyncClient

from tests.conftest import Tokens


async def create_org(
    client: AsyncClient, tokens: Tokens, name: str = "Acme", admin_emails: list[str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/v1/organizations",
        json={"name": name, "admin_emails": admin_emails or ["admin@acme.example"]},
        headers=tokens("system_admin"),
    )
    assert response.status_code == 201, response.text
    org: dict[str, Any] = response.json()
    return org


async def create_cohort(
    client: AsyncClient, tokens: Tokens, org: dict[str, Any], name: str = "Spring 2026"
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/organizations/{org['id']}/cohorts",
        json={"name": name},
        headers=tokens("system_admin"),
    )
    assert response.status_code == 201, response.text
    cohort: dict[str, Any] = response.json()
    return cohort


async def create_application(
    client: AsyncClient,
    tokens: Tokens,
    cohort: dict[str, Any],
    *,
    email: str = "jane.doe@example.com",
    name: str = "Jane Doe",
    status: str = "waiting_first_round",
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/applications",
        json={"applicant_name": name, "contact_email": email, "status": status},
        headers=tokens("admin", cohort["organization_id"]),
    )
    assert response.status_code == 201, response.text
    application: dict[str, Any] = response.json()
    return application
