"""openapi/openapi.json as integrators use it (contract/): Redocly and Spectral lint it, the
SPA's client is generated from it with openapi-typescript, and a scenario typed against that
client compiles under `tsc --strict` and runs against the real server.

The npm tools are pinned in contract/package-lock.json and installed with `npm ci` when the
lock changes; node and npm must be installed (CI has Node 20).
"""

import hashlib
import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.conftest import JWT_SECRET, ROOT, Tokens
from tests.server import running_server, service_env

CONTRACT = ROOT / "contract"
DOCUMENT = ROOT / "openapi" / "openapi.json"
GENERATED = CONTRACT / "generated"
# Spectral warnings the document must never have, whatever else it gains.
FORBIDDEN_WARNINGS = {
    "operation-description",
    "operation-tag-defined",
    "oas3-api-servers",
    "info-contact",
}
NPM_TIMEOUT = 600
TOOL_TIMEOUT = 300


def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=CONTRACT,
        env={**os.environ, "REDOCLY_TELEMETRY": "off", **(env or {})},
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def tool(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = run(str(CONTRACT / "node_modules" / ".bin" / name), *args, env=env)
    assert result.returncode == 0, f"{name}: {result.stdout[-4000:]}{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def npm_tools() -> None:
    """`npm ci` from the lock, unless node_modules was installed from this very lock."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the contract checks need Node 20 and npm")
    lock = hashlib.sha256((CONTRACT / "package-lock.json").read_bytes()).hexdigest()
    stamp = CONTRACT / "node_modules" / ".installed-from-lock"
    if stamp.exists() and stamp.read_text() == lock:
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=CONTRACT,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    stamp.write_text(lock)


def test_redocly_recommended_finds_no_error(npm_tools: None) -> None:
    result = run(
        str(CONTRACT / "node_modules" / ".bin" / "redocly"),
        "lint",
        str(DOCUMENT),
        "--format=json",
    )
    report: dict[str, Any] = json.loads(result.stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]

    assert errors == []
    assert report["totals"]["errors"] == 0


def test_spectral_oas_finds_no_error_and_no_undocumented_operation(npm_tools: None) -> None:
    result = run(
        str(CONTRACT / "node_modules" / ".bin" / "spectral"),
        "lint",
        str(DOCUMENT),
        "--ruleset",
        str(CONTRACT / ".spectral.yaml"),
        "--format=json",
        "--quiet",
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")

    # Spectral's severities: 0 error, 1 warning.
    assert [f for f in findings if f["severity"] == 0] == []
    assert [f for f in findings if f["code"] in FORBIDDEN_WARNINGS] == []


def test_a_typed_spa_scenario_compiles_strictly_and_runs_against_the_server(
    npm_tools: None, database_url: str, tokens: Tokens
) -> None:
    GENERATED.mkdir(exist_ok=True)
    # The SPA's client, as its team builds it: without the operations marked x-internal.
    tool("redocly", "bundle", str(DOCUMENT), "-o", str(GENERATED / "spa.json"))
    tool("openapi-typescript", str(GENERATED / "spa.json"), "-o", str(GENERATED / "api.ts"))
    generated = (GENERATED / "api.ts").read_text()
    tool("tsc", "-p", "tsconfig.json")

    with running_server(service_env(database_url, JWT_SECRET=JWT_SECRET)) as base_url:
        system_admin = tokens("system_admin")["Authorization"].removeprefix("Bearer ")
        scenario = run(
            "node",
            str(GENERATED / "js" / "scenario.js"),
            env={"BASE_URL": base_url, "SYSTEM_ADMIN_TOKEN": system_admin},
        )

    assert "receiveCalcomWebhook" not in generated
    assert scenario.returncode == 0, scenario.stdout + scenario.stderr
    assert "ok: as its type" in scenario.stdout
