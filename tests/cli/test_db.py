"""`scheduling-service db status|start|stop` for the embedded PostgreSQL (pg_ctl refuses root)."""

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduling_service.db import check_connection
from tests.cli.command import run
from tests.conftest import ROOT


@pytest.fixture
def data() -> Iterator[Path]:
    """A data directory of its own, under .data/ like the real one (the package opens the
    directories above it to the user it runs PostgreSQL as, when root)."""
    directory = ROOT / ".data" / f"cli-db-{uuid.uuid4().hex[:8]}"
    yield directory
    run("db", "stop", EMBEDDED_POSTGRES_DIR=str(directory), timeout=120)
    shutil.rmtree(directory, ignore_errors=True)


def test_the_embedded_server_is_started_checked_and_stopped(data: Path) -> None:
    def db(action: str) -> tuple[int, str]:
        result = run("db", action, EMBEDDED_POSTGRES_DIR=str(data), timeout=120)
        assert "Traceback" not in result.stderr, result.stderr
        return result.returncode, result.stdout.strip()

    assert db("status") == (3, f"embedded PostgreSQL: stopped (data in {data})")

    code, started = db("start")
    assert code == 0
    assert started.startswith("embedded PostgreSQL: running, pid ")
    try:
        # It outlived the command that started it, and answers at the URL printed.
        code, running = db("status")
        assert (code, running) == (0, started)
        asyncio.run(check_connection(running.split("DATABASE_URL=", 1)[1]))
    finally:
        code, stopped = db("stop")

    assert (code, stopped) == (0, f"embedded PostgreSQL: stopped (data in {data})")
    assert db("status")[0] == 3


def test_a_server_started_by_hand_outlives_a_command_that_used_it(data: Path) -> None:
    assert run("db", "start", EMBEDDED_POSTGRES_DIR=str(data), timeout=120).returncode == 0

    migrated = run("migrate", EMBEDDED_POSTGRES_DIR=str(data), timeout=120)

    assert migrated.returncode == 0, migrated.stderr
    assert run("db", "status", EMBEDDED_POSTGRES_DIR=str(data)).returncode == 0
