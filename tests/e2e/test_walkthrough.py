"""The README's walk-through, run as written (bash, curl, jq) against the real server process."""

import re
import subprocess

from tests.cli.command import clean_env
from tests.conftest import ROOT
from tests.server import ServiceProcess

README_BASE = "http://127.0.0.1:8000"


def walkthrough() -> str:
    """The shell block of the README's walk-through section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walk-through", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return block


def files_in(directory: str) -> set[str]:
    tracked = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored=no"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(tracked.stdout.splitlines())


def test_readme_walkthrough_schedules_an_application(database_url: str) -> None:
    # Settings as a new user has them: none but the database.
    env = clean_env(DATABASE_URL=database_url)
    server = ServiceProcess(env)
    server.start()
    before = files_in(str(ROOT))
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough().replace(README_BASE, server.base_url)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.stop()

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    webhook_url, booked, answer, status = result.stdout.splitlines()
    assert re.fullmatch(rf"{server.base_url}/webhooks/calcom/[0-9a-f-]{{36}}", webhook_url)
    assert booked.startswith("BOOKING_CREATED uid=")
    assert answer.startswith('200 {"event_id":')
    assert '"outcome":"matched"' in answer
    assert status == '"first_round_scheduled"'
    # The cohort's answer held its webhook secret; nothing of it was written to the tree.
    assert files_in(str(ROOT)) == before
