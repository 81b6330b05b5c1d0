"""Errors the framework produces are problem documents too, not FastAPI's default JSON."""

import uuid

from httpx import AsyncClient

from tests.conftest import Tokens
from tests.factories import assert_problem, create_org


async def test_unknown_path_is_a_not_found_problem(client: AsyncClient, tokens: Tokens) -> None:
    response = await client.get("/v1/nothing-here", headers=tokens("system_admin"))

    assert_problem(response, 404, "not-found")


async def test_unsupported_method_is_a_method_not_allowed_problem(
    client: AsyncClient, tokens: Tokens
) -> None:
    org = await create_org(client, tokens)

    response = await client.delete(f"/v1/organizations/{org['id']}", headers=tokens("system_admin"))

    assert_problem(response, 405, "method-not-allowed")
    still_there = await client.get(f"/v1/organizations/{org['id']}", headers=tokens("system_admin"))
    assert still_there.status_code == 200


async def test_body_that_is_not_json_is_a_validation_problem(
    client: AsyncClient, tokens: Tokens
) -> None:
    response = await client.post(
        "/v1/organizations",
        content=b"{not json",
        headers={**tokens("system_admin"), "Content-Type": "application/json"},
    )

    assert_problem(response, 422, "validation-error")


async def test_validation_problem_lists_each_error(client: AsyncClient, tokens: Tokens) -> None:
    response = await client.post(
        f"/v1/cohorts/{uuid.uuid4()}/applications",
        json={"applicant_name": "", "contact_email": "nope"},
        headers=tokens("system_admin"),
    )

    body = assert_problem(response, 422, "validation-error")
    locations = {tuple(error["loc"]) for error in body["errors"]}
    assert ("body", "applicant_name") in locations
    assert ("body", "contact_email") in locations
    assert "contact_email" in body["detail"]


async def test_nul_character_in_name_is_a_validation_problem(
    client: AsyncClient, tokens: Tokens
) -> None:
    response = await client.post(
        "/v1/organizations",
        json={"name": "Acme\u0000", "admin_emails": []},
        headers=tokens("system_admin"),
    )

    assert_problem(response, 422, "validation-error")
