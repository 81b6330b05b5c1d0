"""Fuzz the API contract: schemathesis against the real server process.

`make fuzz` (or `python -m tests.fuzz.run`) starts `scheduling-service serve` on a free loopback
port against a throwaway database (on the embedded PostgreSQL in `.data/fuzz-postgres`, or on
the server of DATABASE_URL), seeds an organization with a cohort, applications, orphaned
interviews and webhook events, and runs `schemathesis run` over every operation of the served
`/openapi.json`. Path parameters name the seeded rows, so the fuzzer reaches real data rather
than 404s; requests carry an admin token of the organization, and the system-admin operations a
system-admin token. Webhook deliveries are signed with the cohort's secret (see `hooks.py`), so
the fuzzer reaches the Cal.com parser too.

Exit status 0 only when schemathesis found nothing: no 5xx, every answer's status, content type
and body documented. A failure is fixed in the code, never excluded here.
"""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from scheduling_service.auth import Role, issue_token
from scheduling_service.calcom.signature import sign
from scheduling_service.config import Settings
from scheduling_service.embedded import start_embedded_postgres
from tests.server import BIN, ServiceProcess, service_env

ROOT = Path(__file__).resolve().parents[2]
HOOKS = Path(__file__).resolve().parent / "hooks.py"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
# Per operation and phase: about 2,900 cases, under half a minute on 2 cores.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
SEED = os.environ.get("FUZZ_SEED", "20261124")


async def _execute_autocommit(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


@contextmanager
def throwaway_database() -> Iterator[str]:
    server_url = os.environ.get("DATABASE_URL") or start_embedded_postgres(
        ROOT / ".data" / "fuzz-postgres"
    )
    name = f"scheduling_fuzz_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute_autocommit(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_execute_autocommit(server_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


class Seeder:
    """Builds the data the fuzzer works on, through the API, as the SPA and Cal.com would."""

    def __init__(self, http: httpx.Client, settings: Settings) -> None:
        self.http = http
        self.settings = settings
        self.system = self.bearer(Role.SYSTEM_ADMIN, None)

    def bearer(self, role: Role, organization_id: uuid.UUID | None) -> str:
        token = issue_token(
            self.settings,
            role=role,
            organization_id=organization_id,
            subject=f"fuzz-{role.value}",
            ttl=timedelta(hours=1),
        )
        return f"Bearer {token}"

    def post(self, path: str, body: dict[str, Any], authorization: str) -> dict[str, Any]:
        response = self.http.post(path, json=body, headers={"Authorization": authorization})
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def deliver(self, cohort: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(document, separators=(",", ":")).encode()
        response = self.http.post(
            f"/webhooks/calcom/{cohort['id']}",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Cal-Signature-256": sign(raw, cohort["webhook_secret"]),
            },
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def seed(self) -> dict[str, str]:
        """Answers the IDs and secrets the fuzz run needs."""
        org = self.post(
            "/v1/organizations",
            {"name": "Fuzz Fellowship", "admin_emails": ["admin@fuzz.example"]},
            self.system,
        )
        cohort = self.post(f"/v1/organizations/{org['id']}/cohorts", {"name": "Fuzz"}, self.system)
        # Rotated by the fuzzer instead of `cohort`, whose secret signs the fuzzed deliveries.
        spare = self.post(f"/v1/organizations/{org['id']}/cohorts", {"name": "Spare"}, self.system)
        admin = self.bearer(Role.ADMIN, uuid.UUID(org["id"]))
        applications = [
            self.post(
                f"/v1/cohorts/{cohort['id']}/applications",
                {"applicant_name": name, "contact_email": email, "status": status},
                admin,
            )
            for name, email, status in [
                ("Jane Doe", "jane.doe@example.com", "waiting_first_round"),
                ("John Roe", "john.roe@example.com", "under_review"),
                ("Ada Lovelace", "ada@example.com", "waiting_second_round"),
            ]
        ]
        self.deliver(cohort, _booking("uid-jane", "jane.doe@example.com", "Jane Doe"))
        orphan = self.deliver(cohort, _booking("uid-stranger", "stranger@example.net", "J. Doe"))
        self.deliver(cohort, _booking("uid-walk-in", "walk-in@example.net", "Walk In"))
        self.deliver(cohort, {"triggerEvent": "MEETING_ENDED", "payload": {"uid": "uid-jane"}})
        # A Cal.com connection to nowhere: reconciling reaches Cal.com's client, and fails.
        self.http.put(
            f"/v1/cohorts/{cohort['id']}/calcom-connection",
            json={"api_key": "cal_live_fuzz", "base_url": "http://127.0.0.1:9"},
            headers={"Authorization": admin},
        ).raise_for_status()
        # An authentic delivery the parser refuses is kept in the event log as `rejected`.
        self.http.post(
            f"/webhooks/calcom/{cohort['id']}",
            content=b"{not json",
            headers={
                "Content-Type": "application/json",
                "X-Cal-Signature-256": sign(b"{not json", cohort["webhook_secret"]),
            },
        )
        events = self.http.get(
            f"/v1/cohorts/{cohort['id']}/webhook-events", headers={"Authorization": admin}
        ).json()["items"]
        return {
            "org_id": org["id"],
            "cohort_id": cohort["id"],
            "spare_cohort_id": spare["id"],
            "application_id": applications[0]["id"],
            "orphan_id": orphan["orphaned_interview_id"],
            "webhook_event_id": events[0]["id"],
            "webhook_secret": cohort["webhook_secret"],
            "admin": admin,
            "system": self.system,
        }


def _booking(uid: str, email: str, name: str) -> dict[str, Any]:
    return {
        "triggerEvent": "BOOKING_CREATED",
        "createdAt": "2026-05-04T09:12:45.123Z",
        "payload": {
            "uid": uid,
            "startTime": "2026-05-12T14:00:00Z",
            "endTime": "2026-05-12T14:30:00Z",
            "attendees": [{"email": email, "name": name, "timeZone": "Europe/London"}],
            "responses": {"email": {"value": email}, "name": {"value": name}},
            "metadata": {"videoCallUrl": f"https://video.example.org/{uid}"},
        },
    }


def _config(seeded: dict[str, str]) -> str:
    """schemathesis.toml: seeded path parameters; a system-admin token where one is needed."""
    parameters = "\n".join(
        f'"path.{name}" = "{seeded[name]}"'
        for name in ("org_id", "cohort_id", "application_id", "orphan_id", "webhook_event_id")
    )
    return f"""
hooks = "{HOOKS}"

# No crash cache in the working tree: each run is seeded and stands on its own.
[cache]
enabled = false

[headers]
Authorization = "{seeded["admin"]}"

[parameters]
{parameters}

[[operations]]
include-operation-id = ["createOrganization", "createCohort"]
headers = {{ Authorization = "{seeded["system"]}" }}

[[operations]]
include-operation-id = "rotateWebhookSecret"
headers = {{ Authorization = "{seeded["system"]}" }}
parameters = {{ "path.cohort_id" = "{seeded["spare_cohort_id"]}" }}
"""


def run_schemathesis(base_url: str, seeded: dict[str, str], workdir: Path) -> int:
    config = workdir / "schemathesis.toml"
    config.write_text(_config(seeded))
    report = workdir / "report.json"
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        # One worker: hypothesis builds strategies from Python source with `ast`, which is not
        # thread-safe on every 3.11 patch release ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    env = dict(os.environ, FUZZ_WEBHOOK_SECRET=seeded["webhook_secret"])
    exit_code = subprocess.run(command, env=env, check=False).returncode
    print(f"fuzz: {_cases_run(report)} test cases run", flush=True)
    return exit_code


def _cases_run(report: Path) -> str:
    try:
        document = json.loads(report.read_text())
    except (OSError, ValueError):
        return "an unknown number of"
    return str(document.get("test_cases", {}).get("generated", "an unknown number of"))


def main() -> int:
    settings = Settings(_env_file=None, jwt_secret=secrets.token_hex(32))  # type: ignore[call-arg]
    assert settings.jwt_secret is not None
    with throwaway_database() as database_url, tempfile.TemporaryDirectory() as workdir:
        env = service_env(
            database_url,
            JWT_SECRET=settings.jwt_secret.get_secret_value(),
            JOURNAL_DIR=str(Path(workdir) / "journal"),
            SECRETS_KEY_FILE=str(Path(workdir) / "secrets.key"),
            # Fuzzed connections point anywhere: one short attempt each, and no periodic runs.
            CALCOM_API_MAX_ATTEMPTS="1",
            CALCOM_API_TIMEOUT_SECONDS="2",
            RUN_RECONCILER="false",
        )
        env.pop("SMTP_URL", None)
        server = ServiceProcess(env)
        server.start()
        try:
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                seeded = Seeder(http, settings).seed()
            exit_code = run_schemathesis(server.base_url, seeded, Path(workdir))
            if exit_code != 0:
                # The server's own account of the failures: the traceback behind any 5xx.
                print("== the server's log, last part", server.output()[-20_000:], sep="\n")
            return exit_code
        finally:
            server.stop()
            server.log.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
