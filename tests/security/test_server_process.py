"""The limits `scheduling-service serve` sets on uvicorn, seen from a client of the real process."""

import socket
import time
from collections.abc import Iterator

import httpx

from tests.e2e.server import ServiceProcess, service_env

# h11 refuses a head still incomplete past 16 KiB; uvicorn reads 64 KiB at a time, so a head
# that big is refused however it arrives.
OVERSIZED_HEAD = 100 * 1024


def chunked_padding() -> Iterator[bytes]:
    yield b'{"name": "Chunked", "admin_emails": []'
    for _ in range(10):
        yield b" " * 16 * 1024
    yield b"}"


def test_server_refuses_oversized_requests_before_any_work(database_url: str) -> None:
    # A limit of 2 connections, to see it applied.
    server = ServiceProcess(service_env(database_url, SERVER_LIMIT_CONCURRENCY="2"))
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            health = http.get("/healthz")
            # uvicorn counts the asking connection too: beside the client's, kept alive after
            # the request above, no other fits.
            with socket.create_connection(("127.0.0.1", server.port)) as other:
                other.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                crowded = other.recv(4096)
            served_again = _eventually_served(http)
            big_head = http.get("/healthz", headers={"X-Padding": "x" * OVERSIZED_HEAD})
            long_query = http.get("/healthz", params={"pad": "x" * 9000})
            # No token: the size is refused before authentication is even looked at.
            chunked = http.post(
                "/v1/organizations",
                content=chunked_padding(),
                headers={"Content-Type": "application/json"},
            )
    finally:
        server.stop()
        server.log.unlink(missing_ok=True)

    assert health.status_code == 200
    assert "server" not in health.headers
    assert big_head.status_code == 400
    assert (long_query.status_code, long_query.headers["content-type"]) == (
        414,
        "application/problem+json",
    )
    assert (chunked.status_code, chunked.json()["type"]) == (
        413,
        "urn:scheduling-service:problem:payload-too-large",
    )
    assert crowded.startswith(b"HTTP/1.1 503 ")
    assert served_again == 200


def _eventually_served(http: httpx.Client) -> int:
    """The status once the server has noticed the extra connection close (a few ms)."""
    status = 0
    for _ in range(50):
        status = http.get("/healthz").status_code
        if status == 200:
            break
        time.sleep(0.05)
    return status
