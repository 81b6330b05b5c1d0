"""The limits `scheduling-service serve` sets on uvicorn, seen from a client of the real process."""

import socket
import time
from collections.abc import Iterator

import httpx

from tests.server import ServiceProcess, service_env

# h11 refuses a head still incomplete past 16 KiB (400); a whole head over 16 KiB is refused
# by the service's protocol (431).
OVERSIZED_HEAD = 100 * 1024


def chunked_padding() -> Iterator[bytes]:
    yield b'{"name": "Chunked", "admin_emails": []'
    for _ in range(10):
        yield b" " * 16 * 1024
    yield b"}"


def test_server_refuses_oversized_requests_before_any_work(database_url: str) -> None:
    # A limit of 1 request at once, to see it applied.
    server = ServiceProcess(service_env(database_url, SERVER_LIMIT_CONCURRENCY="1"))
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            health = http.get("/healthz")
            # A request in progress (its body still on the way) takes the one place.
            with socket.create_connection(("127.0.0.1", server.port)) as busy:
                busy.sendall(
                    b"POST /v1/organizations HTTP/1.1\r\nHost: test\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
                )
                time.sleep(0.2)
                crowded = http.get("/healthz")
            served_again = _eventually_served(http)
            big_head = http.get("/healthz", headers={"X-Padding": "x" * OVERSIZED_HEAD})
            # Under 64 KiB, so it arrives in one read: h11 alone would take it whole.
            whole_head = http.get("/healthz", headers={"X-Padding": "x" * 20 * 1024})
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
    assert whole_head.status_code == 431
    assert crowded.status_code == 503
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
