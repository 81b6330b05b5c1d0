"""The README's generated parts are current, and it names every tool its commands use."""

import re
import subprocess

from tests.conftest import ROOT
from tests.server import BIN

README = ROOT / "README.md"


def between(text: str, begin: str, end: str) -> str:
    return text.split(begin, 1)[1].split(end, 1)[0]


def test_the_endpoint_list_is_the_served_documents() -> None:
    printed = subprocess.run(
        [str(BIN / "scheduling-service"), "endpoints"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = between(README.read_text(), "<!-- endpoints:begin -->\n", "<!-- endpoints:end -->")

    assert listed == printed, "run `make endpoints`"
    assert "| `POST` | `/webhooks/calcom/{cohort_id}` |" in listed


def test_the_readme_points_to_the_interactive_documentation() -> None:
    section = between(README.read_text(), "## Endpoints", "\n## ")

    assert "`/docs`" in section
    assert "`/openapi.json`" in section


# Part of any shell, or of the project itself.
NOT_TOOLS = {"export", "echo", "cd", "scheduling-service", "make", "python", "bash"}


def programs_run(block: str) -> set[str]:
    """The programs a shell block runs: words at the start of a command."""
    block = re.sub(r"#.*", "", block).replace("\\\n", " ")
    starts = re.findall(r"(?:^|\$\(|\||;|&&)\s*([a-z][a-z0-9_.-]*)(?=\s)", block, flags=re.M)
    assignments = set(re.findall(r"\b([A-Za-z_]+)=", block))
    return {word for word in starts if word not in NOT_TOOLS | assignments}


def test_the_setup_names_each_tool_the_walkthrough_uses() -> None:
    readme = README.read_text()
    walkthrough = between(readme, "## Walk-through", "\n## ")
    [block] = re.findall(r"```sh\n(.*?)```", walkthrough, flags=re.DOTALL)
    setup = between(readme, "## Set-up", "\n## ")

    used = programs_run(block)

    assert used >= {"curl", "jq"}
    assert {tool for tool in used if f"`{tool}`" not in setup} == set()


def test_the_setup_names_openssl_which_makes_the_production_secret() -> None:
    readme = README.read_text()

    assert "openssl rand -hex 32" in readme
    assert "`openssl`" in between(readme, "## Set-up", "\n## ")
