"""The container image's recipe, checked by hadolint and by its structure; tests/e2e/test_image.py
builds and runs it where a Docker engine is available."""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.server import BIN

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.partition(" ") for line in lines)
        if keyword and not keyword.startswith("#")
    ]


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:  # the ARGs before the first FROM belong to no stage
            found[-1].append(instruction)
    return found


def base_image(stage: list[Instruction]) -> str:
    """The stage's FROM image, with the build arguments at their defaults."""
    defaults = dict(
        arguments.split("=", 1) for keyword, arguments in instructions() if keyword == "ARG"
    )
    image = stage[0][1].split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda name: defaults[name.group(1)], image)


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(BIN / "hadolint")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_stage_installs_the_locked_dependencies_with_hashes() -> None:
    build, _ = stages()
    runs = [arguments for keyword, arguments in build if keyword == "RUN"]
    assert any("--require-hashes -r requirements/main.txt" in run for run in runs)


def test_final_image_is_slim_and_runs_as_a_numeric_non_root_user() -> None:
    *_, final = stages()
    assert len(stages()) >= 2
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim", base_image(final))
    [user] = [arguments for keyword, arguments in final if keyword == "USER"]
    assert user.isdigit()
    assert int(user) != 0
    assert any(k == "COPY" and a.startswith("--from=build /venv") for k, a in final)


def test_final_image_checks_health_and_serves() -> None:
    *_, final = stages()
    [healthcheck] = [arguments for keyword, arguments in final if keyword == "HEALTHCHECK"]
    assert "http://127.0.0.1:8000/healthz" in healthcheck
    [command] = [arguments for keyword, arguments in final if keyword == "CMD"]
    assert json.loads(command)[:2] == ["scheduling-service", "serve"]
    exposed = [arguments for keyword, arguments in final if keyword == "EXPOSE"]
    assert exposed == ["8000"]


# The first releases whose email library refuses headers folded unsafely (CVE-2024-6923, its
# last part fixed in March 2026); the alerts do not rely on it, but the image should have it.
PATCHED = {(3, 11): 15, (3, 12): 13}


def test_every_stage_pins_a_python_release_with_the_email_header_fix() -> None:
    for stage in stages():
        image = base_image(stage)
        found = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim", image)
        assert found, f"{image} names no exact Python release"
        major, minor, patch = (int(part) for part in found.groups())
        assert (major, minor) in PATCHED, image
        assert patch >= PATCHED[major, minor], image


@pytest.mark.parametrize("needed", ["alembic.ini", "migrations"])
def test_final_image_can_migrate(needed: str) -> None:
    *_, final = stages()
    copied = [shlex.split(arguments) for keyword, arguments in final if keyword == "COPY"]
    assert any(parts[0] == needed for parts in copied)


def test_both_stages_start_from_the_base_image_build_argument() -> None:
    froms = [stage[0][1].split()[0] for stage in stages()]

    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    makefile = (ROOT / "Makefile").read_text()
    assert "--build-arg PYTHON_IMAGE=$(BASE_IMAGE)" in makefile
    assert "BASE_IMAGE ?= python:3.11.15-slim" in makefile


def test_the_user_and_the_journal_directory_have_a_named_group() -> None:
    *_, final = stages()
    [run] = [arguments for keyword, arguments in final if keyword == "RUN"]
    [user] = [arguments for keyword, arguments in final if keyword == "USER"]

    assert f"groupadd --system --gid {user} app" in run
    assert f"useradd --system --uid {user} --gid app" in run
    assert "install --directory --owner app --group app /var/lib/scheduling-service" in run
