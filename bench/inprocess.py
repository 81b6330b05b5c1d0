"""CPU per delivery of the service's own layers, without an HTTP server: the app called in
this process, as uvicorn would call it, with the bench's mix of deliveries.

`make bench` compares the service with the floor under uvicorn at 200/s, where a turn's CPU
moves by ±0.07 ms per event from one turn to the next. Here nothing else runs in the
process: the same code measures within about ±0.03 ms, enough to see what one change to
the service's layers buys (bench/RESULTS.md, issue 16).

    python -m bench.inprocess [--events 3000] [--rounds 3] [--in-flight 4]
"""

import argparse
import asyncio
import logging
import os
import secrets
import statistics
import tempfile
import time
from collections import Counter
from typing import Any

import uvloop
from cryptography.fernet import Fernet

from bench.database import bench_database, seed, send_waiting_digests
from bench.workload import Event, Workload

APPLICATIONS = 20_000


def _scope(path: str, event: Event) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(event.body)).encode()),
            (b"x-cal-signature-256", event.signature.encode()),
        ],
    }


async def _deliver(app: Any, path: str, event: Event, statuses: Counter[int]) -> None:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": event.body, "more_body": False}
        await asyncio.Event().wait()  # the client stays: no disconnect
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    await app(_scope(path, event), receive, send)


async def measure(database_url: str, dsn: str, events: int, rounds: int, in_flight: int) -> None:
    cohorts, _ = await seed(dsn, {"main": APPLICATIONS})
    cohort = cohorts["main"]
    os.environ.update(
        DATABASE_URL=database_url,
        ENVIRONMENT="production",
        JWT_SECRET=secrets.token_hex(32),
        SECRETS_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PUBLIC_BASE_URL="https://bench.example",
        JOURNAL_DIR=tempfile.mkdtemp(prefix="bench-journal-"),
        RUN_RECONCILER="false",
    )
    # Imported once the environment is set: the app reads its settings from it.
    from scheduling_service.app import create_app

    app = create_app()
    path = f"/webhooks/calcom/{cohort.id}"
    workload = Workload(cohort)

    async def batch(count: int) -> tuple[float, Counter[int]]:
        deliveries = workload.batch(count)
        statuses: Counter[int] = Counter()
        slots = asyncio.Semaphore(in_flight)

        async def one(event: Event) -> None:
            async with slots:
                await _deliver(app, path, event, statuses)

        started = time.process_time()
        await asyncio.gather(*(one(event) for event in deliveries))
        used = time.process_time() - started
        workload.settle()
        return used / count * 1000, statuses

    with tempfile.NamedTemporaryFile("w", prefix="bench-inprocess-", suffix=".log") as log:
        async with app.router.lifespan_context(app):
            # The log lines go to a file, as a server's do.
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler):
                    handler.setStream(log)
            await batch(500)  # warm-up: statements prepared, code paths run
            figures = []
            for turn in range(rounds):
                await send_waiting_digests(dsn)
                ms, statuses = await batch(events)
                figures.append(ms)
                print(f"turn {turn + 1}: {ms:.3f} ms of CPU per delivery; {dict(statuses)}")
    print(f"inprocess_ms_per_event={statistics.median(figures):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("--events", type=int, default=3000, help="deliveries per turn")
    parser.add_argument("--rounds", type=int, default=3, help="turns (the median is printed)")
    parser.add_argument("--in-flight", type=int, default=4, help="deliveries at once")
    args = parser.parse_args()
    with bench_database() as db:
        uvloop.run(measure(db.url, db.dsn, args.events, args.rounds, args.in_flight))


if __name__ == "__main__":
    main()
