"""`scheduling-service db status|start|stop` for the embedded PostgreSQL (pg_ctl refuses root)."""

import asyncio
from pathlib import Path

from scheduling_service.db import check_connection
from tests.cli.command import run


def test_the_embedded_server_is_started_checked_and_stopped(tmp_path: Path) -> None:
    data = tmp_path / "postgres"

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
