"""The README's walk-through, run against the real server process and the real database."""

import subprocess
from pathlib import Path

import httpx

from scheduling_service.calcom.signature import sign
from tests.calcom_bodies import SAMPLES
from tests.conftest import JWT_SECRET
from tests.e2e.server import BIN, running_server, service_env


def cli_token(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "scheduling-service"), "token", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_readme_walkthrough_schedules_an_application(database_url: str) -> None:
    env = service_env(database_url, JWT_SECRET=JWT_SECRET)
    with running_server(env) as base_url, httpx.Client(base_url=base_url) as http:
        system = {"Authorization": f"Bearer {cli_token(env, '--role', 'system_admin')}"}
        org = http.post(
            "/v1/organizations",
            json={"name": "Acme Fellowship", "admin_emails": ["admin@acme.example"]},
            headers=system,
        ).json()
        cohort = http.post(
            f"/v1/organizations/{org['id']}/cohorts", json={"name": "Spring 2026"}, headers=system
        ).json()
        admin = {"Authorization": f"Bearer {cli_token(env, '--role', 'admin', '--org', org['id'])}"}
        application = http.post(
            f"/v1/cohorts/{cohort['id']}/applications",
            json={
                "applicant_name": "Jane Doe",
                "contact_email": "jane.doe@example.com",
                "status": "waiting_first_round",
            },
            headers=admin,
        ).json()
        body = Path(SAMPLES / "booking_created.json").read_bytes()

        delivered = http.post(
            f"/webhooks/calcom/{cohort['id']}",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Cal-Signature-256": sign(body, cohort["webhook_secret"]),
            },
        )

        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["outcome"] == "matched"
        seen = http.get(f"/v1/applications/{application['id']}", headers=admin).json()
        assert seen["status"] == "first_round_scheduled"
        assert http.get("/readyz").json()["status"] == "ok"
