"""`scheduling-service simulate` against the real server: an admin checks a cohort's set-up."""

import subprocess
from typing import Any

import httpx

from tests.conftest import JWT_SECRET, Tokens
from tests.server import BIN, running_server, service_env


def simulate(base_url: str, cohort: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "scheduling-service"),
            "simulate",
            "--url",
            base_url,
            "--cohort",
            cohort["id"],
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def booked_uid(result: subprocess.CompletedProcess[str]) -> str:
    """The uid the first line names: `BOOKING_CREATED uid=... start=...`."""
    first = result.stdout.splitlines()[0]
    return first.split("uid=", 1)[1].split()[0]


def test_simulated_bookings_move_an_application(database_url: str, tokens: Tokens) -> None:
    with running_server(service_env(database_url, JWT_SECRET=JWT_SECRET)) as base_url:
        api = httpx.Client(base_url=base_url, timeout=30)
        system = tokens("system_admin")
        org = api.post(
            "/v1/organizations", json={"name": "Sim", "admin_emails": ["a@x.org"]}, headers=system
        ).json()
        cohort = api.post(
            f"/v1/organizations/{org['id']}/cohorts", json={"name": "Sim"}, headers=system
        ).json()
        admin = tokens("admin", org["id"])
        application = api.post(
            f"/v1/cohorts/{cohort['id']}/applications",
            json={
                "applicant_name": "Jane Doe",
                "contact_email": "jane.doe@example.com",
                "status": "waiting_first_round",
            },
            headers=admin,
        ).json()
        secret = ["--secret", cohort["webhook_secret"]]
        jane = ["--email", "Jane.Doe@example.com ", "--name", "Jane Doe"]

        def status() -> str:
            seen = api.get(f"/v1/applications/{application['id']}", headers=admin).json()
            return str(seen["status"])

        created = simulate(base_url, cohort, *secret, *jane)
        assert created.returncode == 0, created.stdout + created.stderr
        assert created.stderr == ""  # only the result, on stdout
        assert created.stdout.startswith("BOOKING_CREATED uid=")
        assert '"outcome":"matched"' in created.stdout
        assert status() == "first_round_scheduled"

        moved = simulate(
            base_url,
            cohort,
            *secret,
            *jane,
            "--reschedule",
            booked_uid(created),
            "--start",
            "2030-01-02T15:00:00+00:00",
        )
        assert '"outcome":"matched"' in moved.stdout, moved.stdout
        interview = api.get(f"/v1/applications/{application['id']}", headers=admin).json()
        assert interview["interview"]["start_time"].startswith("2030-01-02T15:00:00")

        cancelled = simulate(base_url, cohort, *secret, *jane, "--cancel", booked_uid(moved))
        assert '"outcome":"matched"' in cancelled.stdout, cancelled.stdout
        # Not the default start: the booking's is only known when given with --start.
        assert cancelled.stdout.splitlines()[0] == f"BOOKING_CANCELLED uid={booked_uid(moved)}"
        assert status() == "waiting_first_round"

        stranger = simulate(base_url, cohort, *secret, "--email", "nobody@example.org")
        assert '"outcome":"orphaned"' in stranger.stdout

        forged = simulate(base_url, cohort, "--secret", "not-the-secret", *jane)
        assert forged.returncode == 1
        assert "401" in forged.stdout
        assert "invalid-signature" in forged.stdout


def test_simulate_says_when_the_service_is_unreachable() -> None:
    result = simulate(
        "http://127.0.0.1:9", {"id": "c0ffee"}, "--secret", "s", "--email", "a@example.org"
    )

    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "scheduling-service: could not reach http://127.0.0.1:9"
    )
