from httpx import AsyncClient

from tests.conftest import Tokens


async def test_create_org(client: AsyncClient, tokens: Tokens) -> None:
    r = await client.post(
        "/v1/organizations",
        json={"name": "Acme", "admin_emails": ["A@x.org"]},
        headers=tokens("system_admin"),
    )
    assert r.status_code == 201, r.text
    org = r.json()
    r = await client.post(
        f"/v1/organizations/{org['id']}/cohorts",
        json={"name": "S26"},
        headers=tokens("system_admin"),
    )
    assert r.status_code == 201, r.text
    print(r.json())
    assert (await client.get("/readyz")).json()["status"] == "ok"
