"""`scheduling-service reconcile` and the periodic reconciler inside `serve`, as an operator
uses them after an outage, against the fake_calcom Cal.com."""

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import JWT_SECRET, Tokens
from tests.fake_calcom_api import API_KEY, FakeCalcomServer
from tests.server import BIN, ServiceProcess, service_env

START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "scheduling-service"), "reconcile", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status_of(api: httpx.Client, application: dict[str, Any], headers: dict[str, str]) -> str:
    status: str = api.get(f"/v1/applications/{application['id']}", headers=headers).json()["status"]
    return status


def test_an_operator_reconciles_from_the_command_line_and_serve_keeps_reconciling(
    database_url: str, fake_calcom: FakeCalcomServer, tokens: Tokens, tmp_path: Path
) -> None:
    env = service_env(
        database_url,
        JWT_SECRET=JWT_SECRET,
        SECRETS_KEY_FILE=str(tmp_path / "secrets.key"),
        RUN_RECONCILER="false",
    )
    server = ServiceProcess(env)
    server.start()
    system = tokens("system_admin")
    try:
        api = httpx.Client(base_url=server.base_url, timeout=30)
        org = api.post(
            "/v1/organizations", json={"name": "Ops", "admin_emails": ["a@x.org"]}, headers=system
        ).json()
        cohort = api.post(
            f"/v1/organizations/{org['id']}/cohorts", json={"name": "Ops"}, headers=system
        ).json()
        applications = [
            api.post(
                f"/v1/cohorts/{cohort['id']}/applications",
                json={
                    "applicant_name": n,
                    "contact_email": f"{n}@x.org",
                    "status": "waiting_first_round",
                },
                headers=system,
            ).json()
            for n in ("ada", "bo")
        ]
        unconnected = command(env, "--cohort", cohort["id"])
        assert unconnected.returncode == 1
        assert unconnected.stderr.strip().splitlines() == [
            "scheduling-service: the cohort has no Cal.com connection"
        ]
        connected = api.put(
            f"/v1/cohorts/{cohort['id']}/calcom-connection",
            json={"api_key": API_KEY, "base_url": fake_calcom.base_url},
            headers=system,
        )
        assert connected.status_code == 200, connected.text
        uid = fake_calcom.calcom.create("ada@x.org", "Ada", START)

        dry = command(env, "--cohort", cohort["id"], "--since", "2020-01-01T00:00Z", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["applied"] is False
        assert [c["booking_uid"] for c in json.loads(dry.stdout)["changes"]] == [uid]
        assert status_of(api, applications[0], system) == "waiting_first_round"

        applied = command(env, "--cohort", cohort["id"])
        assert applied.returncode == 0, applied.stderr
        assert json.loads(applied.stdout)["changes"][0]["outcome"] == "matched"
        assert status_of(api, applications[0], system) == "first_round_scheduled"
    finally:
        server.stop()
        server.log.unlink(missing_ok=True)

    periodic = ServiceProcess({**env, "RUN_RECONCILER": "true", "RECONCILE_INTERVAL_SECONDS": "1"})
    periodic.start()
    try:
        fake_calcom.calcom.create("bo@x.org", "Bo", START + timedelta(hours=1))
        api = httpx.Client(base_url=periodic.base_url, timeout=30)
        deadline = time.monotonic() + 30
        while status_of(api, applications[1], system) != "first_round_scheduled":
            assert time.monotonic() < deadline, periodic.output()
            time.sleep(0.2)
    finally:
        periodic.stop()
        periodic.log.unlink(missing_ok=True)
