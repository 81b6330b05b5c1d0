"""Headless Chromium, as a user's browser: it loads a page and answers the DOM it ends with.

CI installs Debian's `chromium` (`.ci/run`); without it these tests fail rather than skip, so
a CI machine without a browser cannot pass them unseen.
"""

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# Budget of virtual time the page gets to settle; Chromium stops earlier once it is idle.
VIRTUAL_TIME_BUDGET_MS = 10_000
TIMEOUT_SECONDS = 90


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run does)")
    return found


def rendered_dom(url: str) -> str:
    """The page's DOM once its scripts have run; every host but 127.0.0.1 is unreachable."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        result = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class PageServer:
    """Serves one HTML page at / from a loopback port of its own: an origin of its own."""

    def __init__(self) -> None:
        self.html = ""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self.origin = self.url.rstrip("/")


@contextmanager
def serving_pages(count: int) -> Iterator[list[PageServer]]:
    pages = [PageServer() for _ in range(count)]
    threads = [threading.Thread(target=p._server.serve_forever, daemon=True) for p in pages]
    for thread in threads:
        thread.start()
    try:
        yield pages
    finally:
        for page in pages:
            page._server.shutdown()
            page._server.server_close()
