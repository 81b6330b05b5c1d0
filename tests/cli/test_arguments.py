"""Every option explains itself in --help; a wrong value is one line naming the form."""

import re

import pytest

from scheduling_service.cli import main
from tests.cli.command import run

COMMANDS = ["serve", "migrate", "worker", "token", "openapi", "endpoints", "simulate", "db"]


def options_of(help_text: str) -> dict[str, str]:
    """Each option of a --help text, with the text that explains it."""
    section = help_text.split("options:\n", 1)[1]
    entries: dict[str, str] = {}
    current = ""
    for line in section.splitlines():
        if re.match(r"  -", line):
            current = line.split()[0].rstrip(",")
            entries[current] = line
        elif current:
            entries[current] += " " + line.strip()
    return entries


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    """`--help` of a command; argparse alone answers it, so it runs in this process."""
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_says_what_it_is_and_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for option, text in options_of(help_of(command, capsys)).items():
        if option == "-h":
            continue
        assert "default" in text or "(required)" in text, text
        explanation = re.sub(r"^\s*\S+( [A-Z_{},]+)?", "", text).strip()
        assert len(explanation.split()) >= 3, text


def test_serve_help_names_where_it_listens_by_default() -> None:
    options = options_of(run("serve", "--help").stdout)

    assert "(default: 127.0.0.1)" in options["--host"]
    assert "(default: 8000)" in options["--port"]


SIMULATE = ["simulate", "--cohort", "c", "--secret", "s", "--email", "e@x.org"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([*SIMULATE, "--start", "2026-05-12T14:00"], "with an offset, e.g. 2026-05-12T14:00Z"),
        ([*SIMULATE, "--minutes", "0"], "--minutes: expected a whole number from 1 up"),
        (["serve", "--port", "http"], "argument --port: expected a port number from 0 to 65535"),
        (["serve", "--workers", "0"], "argument --workers: expected a whole number from 1 up"),
        (["token", "--role", "admin", "--hours", "0"], "--hours: expected a number of hours above"),
        (
            ["token", "--role", "admin", "--hours", "-1"],
            "--hours: expected a number of hours above",
        ),
        (["token", "--role", "admin", "--org", "acme"], "--org: expected an organization ID"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_expected_form(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse alone refuses these, so they run in this process; the command itself below.
    with pytest.raises(SystemExit) as exited:
        main(args)

    assert exited.value.code == 2
    written = capsys.readouterr()
    assert written.out == ""
    [line] = written.err.splitlines()
    assert line.startswith(f"scheduling-service {args[0]}: ")
    assert expected in line
    assert line.endswith(f"(see scheduling-service {args[0]} --help)")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            [*SIMULATE, "--start", "tomorrow"],
            "argument --start: expected an ISO 8601 time with an offset, e.g. 2026-05-12T14:00Z, "
            "not 'tomorrow'",
        ),
        (
            ["token", "--role", "system_admin", "--org", "3f9a6b0d-5c17-4b7a-9d2e-1f2a3b4c5d6e"],
            "--org is not for system_admin",
        ),
        (["token", "--role", "member"], "--org is required for the member role"),
    ],
)
def test_the_command_refuses_a_wrong_value_in_one_line(args: list[str], expected: str) -> None:
    result = run(*args)

    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"scheduling-service {args[0]}: {expected}")
    assert line.endswith(f"(see scheduling-service {args[0]} --help)")
