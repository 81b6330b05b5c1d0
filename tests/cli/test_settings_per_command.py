"""Each command checks only the settings it reads."""

from tests.cli.command import one_line_refusal, run

PRODUCTION_WITHOUT_API_SETTINGS = {"ENVIRONMENT": "production"}  # no JWT_SECRET, no https URL


def test_migrate_in_production_needs_only_the_database(database_url: str) -> None:
    result = run("migrate", DATABASE_URL=database_url, **PRODUCTION_WITHOUT_API_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert "refuses" not in result.stderr


def test_a_setting_a_command_does_not_read_does_not_stop_it(database_url: str) -> None:
    result = run("migrate", DATABASE_URL=database_url, WEB_CONCURRENCY="many", SMTP_URL="ftp://x")

    assert result.returncode == 0, result.stderr


def test_the_same_setting_stops_the_command_that_reads_it(database_url: str) -> None:
    line = one_line_refusal(
        run("serve", "--port", "1", DATABASE_URL=database_url, WEB_CONCURRENCY="many")
    )

    assert line.startswith("scheduling-service: invalid configuration: WEB_CONCURRENCY: ")
    assert "SMTP" not in line


def test_token_in_production_checks_the_secret_but_not_the_public_url() -> None:
    weak = one_line_refusal(
        run(
            "token", "--role", "system_admin", JWT_SECRET="short", **PRODUCTION_WITHOUT_API_SETTINGS
        )
    )
    assert "a weak JWT_SECRET" in weak
    assert "PUBLIC_BASE_URL" not in weak

    signed = run(
        "token",
        "--role",
        "system_admin",
        JWT_SECRET="8f2c5e0b7a4d9c1e6f3a8b5d2e7c0a9f",
        **PRODUCTION_WITHOUT_API_SETTINGS,
    )
    assert signed.returncode == 0, signed.stderr
    assert signed.stdout.count(".") == 2  # a JWT


def test_token_without_a_secret_says_to_set_it() -> None:
    line = one_line_refusal(
        run(
            "token",
            "--role",
            "system_admin",
            JWT_JWKS_URL="https://idp.example.org/jwks",
            **PRODUCTION_WITHOUT_API_SETTINGS,
        )
    )

    assert "JWT_SECRET" in line


def test_serve_in_production_still_refuses_both(database_url: str) -> None:
    line = one_line_refusal(
        run("serve", "--port", "1", DATABASE_URL=database_url, **PRODUCTION_WITHOUT_API_SETTINGS)
    )

    assert "a missing JWT_SECRET" in line
    assert "a PUBLIC_BASE_URL that is not https://" in line
