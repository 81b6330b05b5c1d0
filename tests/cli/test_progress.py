"""`make run` says what each long step is doing, then where it listens."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.cli.command import clean_env
from tests.conftest import ROOT
from tests.server import BIN, free_port

STEPS = [
    "== creating the environment in",
    "== installing the locked dependencies",
    "== installing the locked test tools",
]


def test_each_step_of_setting_up_the_environment_says_so_first() -> None:
    # A dry run from scratch: every command make would run, the progress lines included.
    result = subprocess.run(
        ["make", "--always-make", "--dry-run", "VENV=/nonexistent/venv", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    announced = [next(i for i, line in enumerate(lines) if step in line) for step in STEPS]
    assert announced == sorted(announced)
    # Nothing long runs before its line: the venv and each pip install follow one.
    for i, line in enumerate(lines):
        if " -m venv " in line or " pip install " in line:
            assert any('echo "==' in before for before in lines[:i]), line
    assert all("--quiet" in line for line in lines if " pip install " in line)


def test_make_run_prints_starting_postgresql_migrating_then_listening() -> None:
    data = ROOT / ".data" / f"progress-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = clean_env(EMBEDDED_POSTGRES_DIR=str(data))
    # As a person types it, not as a sub-make of `make test` (which prints "Entering directory").
    for inherited in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
        env.pop(inherited, None)
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "make-run.log"
        with log.open("w") as output:
            make = subprocess.Popen(
                ["make", "run", "HOST=127.0.0.1", f"PORT={port}"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 120
            while "listening on" not in log.read_text():
                assert make.poll() is None, "make run exited"
                assert time.monotonic() < deadline, "make run never listened"
                time.sleep(0.2)
        finally:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=30)
            subprocess.run(
                [str(BIN / "scheduling-service"), "db", "stop"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                check=False,
            )
            shutil.rmtree(data, ignore_errors=True)
        lines = log.read_text().splitlines()

    # An environment older than the lock files is brought up to date first, saying so.
    assert all(line.startswith("== ") for line in lines if not line.startswith("scheduling"))
    lines = [line for line in lines if line.startswith("scheduling")]
    assert lines == [
        f"scheduling-service: starting PostgreSQL (embedded, data in {data})",
        "scheduling-service: migrating the database",
        f"scheduling-service listening on http://127.0.0.1:{port} (1 worker)",
    ]
