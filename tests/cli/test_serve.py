"""`serve` says where it listens once it does, and cohorts' webhook URLs follow that address."""

import httpx

from scheduling_service.auth import Role
from tests.cli.command import clean_env, one_line_refusal, run
from tests.conftest import JWT_SECRET, Tokens
from tests.server import ServiceProcess

LISTENING = "scheduling-service listening on "


def test_listening_is_printed_once_the_port_is_bound(database_url: str) -> None:
    server = ServiceProcess(clean_env(DATABASE_URL=database_url))
    server.start()
    try:
        [line] = [line for line in server.output().splitlines() if line.startswith(LISTENING)]
        assert line == f"{LISTENING}{server.base_url} (1 worker)"

        second = run("serve", "--port", str(server.port), DATABASE_URL=database_url)
    finally:
        server.stop()

    line = one_line_refusal(second)
    assert f"port {server.port} is already in use" in line
    assert f"PORT={server.port + 1} make run" in line
    assert LISTENING not in second.stdout


def test_in_development_webhook_urls_name_the_port_served(
    database_url: str, tokens: Tokens
) -> None:
    server = ServiceProcess(clean_env(DATABASE_URL=database_url, JWT_SECRET=JWT_SECRET))
    server.start()
    try:
        system = tokens(Role.SYSTEM_ADMIN)
        with httpx.Client(base_url=server.base_url) as http:
            org = http.post(
                "/v1/organizations", json={"name": "Port", "admin_emails": []}, headers=system
            ).json()
            cohort = http.post(
                f"/v1/organizations/{org['id']}/cohorts", json={"name": "Port"}, headers=system
            ).json()
    finally:
        server.stop()

    assert cohort["webhook_url"] == f"{server.base_url}/webhooks/calcom/{cohort['id']}"


def test_a_public_base_url_that_is_set_is_kept(database_url: str, tokens: Tokens) -> None:
    server = ServiceProcess(
        clean_env(
            DATABASE_URL=database_url,
            JWT_SECRET=JWT_SECRET,
            PUBLIC_BASE_URL="https://scheduling.example.org",
        )
    )
    server.start()
    try:
        system = tokens(Role.SYSTEM_ADMIN)
        with httpx.Client(base_url=server.base_url) as http:
            org = http.post(
                "/v1/organizations", json={"name": "Set", "admin_emails": []}, headers=system
            ).json()
            cohort = http.post(
                f"/v1/organizations/{org['id']}/cohorts", json={"name": "Set"}, headers=system
            ).json()
    finally:
        server.stop()

    assert cohort["webhook_url"].startswith("https://scheduling.example.org/webhooks/calcom/")
