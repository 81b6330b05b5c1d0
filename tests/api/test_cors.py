"""CORS for the SPA's own origin (SPEC section 5): preflights answered before any token is
asked for, the headers a SPA must read exposed, and nothing for an origin not listed."""

import pytest
from httpx import AsyncClient

from scheduling_service.config import Settings
from tests.conftest import Tokens
from tests.factories import assert_problem, create_org

SPA = "https://app.example.org"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cors_allowed_origins": [SPA]})


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


async def test_a_preflight_from_the_spa_is_answered_without_a_token(client: AsyncClient) -> None:
    response = await client.options("/v1/organizations", headers=preflight(SPA))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    assert {"authorization", "content-type"} <= {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers


async def test_the_spa_reads_the_answer_and_its_request_id(
    client: AsyncClient, tokens: Tokens
) -> None:
    org = await create_org(client, tokens)

    response = await client.get(
        f"/v1/organizations/{org['id']}",
        headers={"Origin": SPA, **tokens("admin", org["id"])},
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"retry-after", "x-request-id"} <= exposed


async def test_a_problem_is_readable_by_the_spa(client: AsyncClient) -> None:
    response = await client.get("/v1/organizations/not-a-token", headers={"Origin": SPA})

    assert_problem(response, 401, "unauthorized")
    assert response.headers["access-control-allow-origin"] == SPA


async def test_another_origin_gets_no_cors_headers(client: AsyncClient, tokens: Tokens) -> None:
    other = "https://evil.example.net"

    refused = await client.options("/v1/organizations", headers=preflight(other))
    plain = await client.get(
        "/v1/organizations/0f3e5a8c-1b2d-4c6e-8f9a-3d5b7c9e1a20",
        headers={"Origin": other, **tokens("system_admin")},
    )

    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in plain.headers
