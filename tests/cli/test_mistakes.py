"""A mistake in a setting is one line saying what is wrong and how to fix it, exit code 1."""

import pytest
from sqlalchemy import make_url

from tests.cli.command import clean_env, one_line_refusal, run
from tests.server import ServiceProcess, free_port


def on_database(database_url: str, name: str) -> str:
    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_the_usual_postgresql_url_forms_are_served_by_asyncpg(
    database_url: str, scheme: str
) -> None:
    url = database_url.replace("postgresql+asyncpg://", f"{scheme}://", 1)

    result = run("migrate", DATABASE_URL=url)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_database_scheme_names_the_form_to_write() -> None:
    line = one_line_refusal(run("migrate", DATABASE_URL="mysql://user@db.example.org/app"))

    assert "DATABASE_URL" in line
    assert "postgresql://user:password@host:5432/database" in line


def test_an_unreachable_database_names_the_address() -> None:
    port = free_port()  # nothing listens there

    line = one_line_refusal(
        run("migrate", DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/scheduling")
    )

    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}" in line
    assert "DATABASE_URL" in line


def test_an_unknown_host_says_so() -> None:
    line = one_line_refusal(
        run("migrate", DATABASE_URL="postgresql://postgres@db.invalid/scheduling")
    )

    assert "cannot resolve db.invalid" in line


@pytest.mark.parametrize("command", ["migrate", "worker"])
def test_a_missing_database_says_how_to_create_it(database_url: str, command: str) -> None:
    line = one_line_refusal(run(command, DATABASE_URL=on_database(database_url, "nonexistent_db")))

    assert 'no database "nonexistent_db"' in line
    assert "createdb nonexistent_db" in line


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("SMTP_URL", "ftp://x", "SMTP_URL must be smtp://"),
        ("OUTBOX_MAX_ATTEMPTS", "many", "OUTBOX_MAX_ATTEMPTS: "),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: "),
        ("JWT_ALGORITHMS", '["HS256"', "JWT_ALGORITHMS: write a JSON list"),
    ],
)
def test_a_setting_that_fails_validation_is_one_line(
    database_url: str, setting: str, value: str, named: str
) -> None:
    # serve reads every setting; worker only its own, and checks them before connecting.
    command = ["serve", "--port", "1"] if setting.startswith("JWT") else ["worker"]
    line = one_line_refusal(run(*command, DATABASE_URL=database_url, **{setting: value}))

    assert line.startswith("scheduling-service: invalid configuration: ")
    assert named in line


def test_an_unreachable_mail_server_is_a_warning_and_the_service_serves(
    database_url: str,
) -> None:
    port = free_port()  # nothing listens there
    server = ServiceProcess(
        clean_env(DATABASE_URL=database_url, SMTP_URL=f"smtp://127.0.0.1:{port}")
    )

    server.start()  # healthy: alerts wait in the outbox
    server.stop()

    output = server.output()
    assert "Traceback" not in output
    # The command's own lines (the service's JSON log may hold other warnings meanwhile).
    [warning] = [line for line in output.splitlines() if line.startswith("scheduling-service: w")]
    assert warning.startswith("scheduling-service: warning: the mail server of SMTP_URL")
    assert f"127.0.0.1:{port}" in warning
    assert "alerts wait in the outbox" in warning
