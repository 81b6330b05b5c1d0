"""Runs the installed `scheduling-service` command as a person would, in a clean directory."""

import os
import subprocess
import tempfile

from tests.server import BIN

# Settings a developer's shell may hold; each test states the ones it means.
_SETTINGS_PREFIXES = ("DATABASE_", "JWT_", "SMTP_", "PUBLIC_", "ENVIRONMENT", "WEB_CONCURRENCY")


def clean_env(**settings: str) -> dict[str, str]:
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(_SETTINGS_PREFIXES)
    }
    env.update(settings)
    return env


def run(*args: str, timeout: float = 60, **settings: str) -> subprocess.CompletedProcess[str]:
    """`scheduling-service ARGS` with exactly `settings`, in an empty directory (no .env)."""
    with tempfile.TemporaryDirectory() as directory:
        return subprocess.run(
            [str(BIN / "scheduling-service"), *args],
            env=clean_env(**settings),
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command prints on stderr, after checking it is one."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("scheduling-service: "), line
    return line
