"""The container image, built with `make image` and run as the README runs it: migrate, serve
against PostgreSQL, /healthz, the non-root user, the healthcheck and a clean stop.

It needs a Docker engine and the base image (pulled if need be); without either it is skipped,
and pytest's summary (`-ra`) prints why.
"""

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import NamedTuple

import httpx
import pytest
from sqlalchemy import make_url

from tests.conftest import ROOT
from tests.server import free_port

DOCKER = shutil.which("docker")
BASE_IMAGE = os.environ.get("BASE_IMAGE", "python:3.11.15-slim")
IMAGE = f"scheduling-service:test-{uuid.uuid4().hex[:8]}"
STRONG_SECRET = "8f2c5e0b7a4d9c1e6f3a8b5d2e7c0a9f"
SERVED_PORT = 8000  # the image's EXPOSE, CMD and HEALTHCHECK


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    assert DOCKER is not None
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {result.returncode}"


def why_unavailable() -> str | None:
    if DOCKER is None:
        return "no docker command on PATH"
    engine = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    if engine.returncode != 0:
        return f"no Docker engine answers: {last_line(engine)}"
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        pulled = docker("pull", BASE_IMAGE, check=False, timeout=600)
        if pulled.returncode != 0:
            return f"the base image {BASE_IMAGE} is not available: {last_line(pulled)}"
    return None


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    reason = why_unavailable()
    if reason is not None:
        pytest.skip(reason)
    subprocess.run(
        ["make", "image", f"IMAGE={IMAGE}", f"BASE_IMAGE={BASE_IMAGE}"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=1200,
    )
    yield IMAGE
    docker("image", "rm", "--force", IMAGE, check=False)


class Reach(NamedTuple):
    """How a container reaches the test database, and how the host reaches the container."""

    database: list[str]
    """`docker run` options for the database's network or socket."""
    published: list[str]
    url: str
    """DATABASE_URL inside the container."""
    port: int
    """The host port the container's 8000 answers on."""


def reach(database_url: str) -> Reach:
    url = make_url(database_url)
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str):
        # The embedded server listens on a Unix socket only, in a directory only its user may
        # enter: the socket itself is mounted.
        name = f".s.PGSQL.{url.port or 5432}"
        port = free_port()
        return Reach(
            database=["-v", f"{socket_dir}/{name}:/run/postgresql/{name}"],
            published=["-p", f"127.0.0.1:{port}:{SERVED_PORT}"],
            url=url.set(query={"host": "/run/postgresql"}).render_as_string(hide_password=False),
            port=port,
        )
    # A server on the host's loopback is reached from the host's network, where the image
    # then serves on its own port.
    if healthz(SERVED_PORT) or not port_is_free(SERVED_PORT):
        pytest.skip(f"port {SERVED_PORT} is taken on this host, where the image would serve")
    return Reach(database=["--network", "host"], published=[], url=database_url, port=SERVED_PORT)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_for(what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def healthz(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_image_migrates_serves_and_stops_cleanly(image: str, fresh_database: str) -> None:
    to = reach(fresh_database)

    # The README's migrate command: production, and no JWT_SECRET or PUBLIC_BASE_URL needed.
    migrated = docker(
        "run",
        "--rm",
        *to.database,
        "-e",
        f"DATABASE_URL={to.url}",
        image,
        "scheduling-service",
        "migrate",
        check=False,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    name = f"scheduling-service-test-{uuid.uuid4().hex[:8]}"
    volume = f"{name}-journal"
    started = docker(
        "run",
        "--detach",
        "--name",
        name,
        *to.database,
        *to.published,
        "-e",
        f"DATABASE_URL={to.url}",
        "-e",
        f"JWT_SECRET={STRONG_SECRET}",
        "-e",
        "PUBLIC_BASE_URL=https://scheduling.example.org",
        "-e",
        "WEB_CONCURRENCY=2",
        "-v",
        f"{volume}:/var/lib/scheduling-service",
        # The image's own check, asked more often than its 30 s, for the test's sake.
        "--health-interval",
        "2s",
        image,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    try:
        wait_for("/healthz", lambda: healthz(to.port))

        def inside(*command: str) -> str:
            return docker("exec", name, *command).stdout.strip()

        assert inside("id", "-u") == "10001"
        assert inside("id", "-gn") == "app"
        assert inside("stat", "-c", "%U:%G", "/var/lib/scheduling-service") == "app:app"

        def health() -> str:
            return docker("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()

        wait_for("the healthcheck", lambda: health() == "healthy")

        docker("stop", "--time", "30", name, timeout=60)
        exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = docker("logs", name)
        assert exit_code == "0", logs.stdout + logs.stderr
        assert "Traceback" not in logs.stdout + logs.stderr
        assert "scheduling-service listening on http://0.0.0.0:8000 (2 workers)" in logs.stdout
    finally:
        docker("rm", "--force", name, check=False)
        docker("volume", "rm", "--force", volume, check=False)
