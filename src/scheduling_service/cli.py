"""The `scheduling-service` command."""

import argparse
import asyncio
import json
import logging.config
import os
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pydantic import ValidationError

from scheduling_service.auth import Role, issue_token
from scheduling_service.config import get_settings
from scheduling_service.logs import logging_config

# `serve` hands this to its workers; `scheduling_service.app` must not be imported before it
# is set (see `_share_metrics`).
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from scheduling_service.db import resolve_database_url
    from scheduling_service.migrations import upgrade_to_head

    settings = get_settings()
    workers = args.workers or settings.workers()
    if workers > 1 or settings.prometheus_multiproc_dir is not None:
        _share_metrics(settings.prometheus_multiproc_dir)
    # Resolved once, here, and handed to the workers through the environment: they then share
    # this process's embedded PostgreSQL (when DATABASE_URL is unset) instead of each starting
    # one. Migrations also run once, here, before any worker serves.
    url = resolve_database_url(settings)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    upgrade_to_head(url)
    print(
        f"scheduling-service listening on http://{args.host}:{args.port} "
        f"({workers} worker{'s' if workers > 1 else ''})",
        flush=True,
    )
    uvicorn.run(
        # An import string and a factory: each worker process builds its own app.
        "scheduling_service.app:create_app",
        factory=True,
        workers=workers,
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level),
        # The request line is ours (one JSON line with the request ID), not uvicorn's.
        access_log=False,
        # h11 rather than httptools: only h11 bounds the request line and headers (httptools
        # buffers headers of any size), so an oversized head is refused with a 400.
        http="h11",
        h11_max_incomplete_event_size=settings.server_max_header_bytes,
        timeout_keep_alive=settings.server_timeout_keep_alive,
        limit_concurrency=settings.server_limit_concurrency,
        server_header=False,
    )


def _share_metrics(configured: Path | None) -> None:
    """Point prometheus-client's multiprocess mode at an empty directory, before anything
    imports it: files of an earlier run would be summed into this one's values."""
    directory = configured or Path(tempfile.mkdtemp(prefix="scheduling-service-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(directory)


def _migrate(_: argparse.Namespace) -> None:
    from scheduling_service.db import resolve_database_url
    from scheduling_service.migrations import upgrade_to_head

    upgrade_to_head(resolve_database_url(get_settings()))


def _worker(_: argparse.Namespace) -> None:
    from scheduling_service.db import resolve_database_url
    from scheduling_service.notifications.dispatcher import run_worker

    settings = get_settings()
    # No migration here: `serve` or `migrate` owns the schema, and running it from several
    # processes at once would race. Until it exists, each pass fails, is logged, and retried.
    asyncio.run(run_worker(settings, resolve_database_url(settings)))


def _reconcile(args: argparse.Namespace) -> None:
    from scheduling_service.db import create_engine, create_sessionmaker, resolve_database_url
    from scheduling_service.errors import DomainError
    from scheduling_service.reconciliation.schemas import ReconcileOut
    from scheduling_service.reconciliation.service import reconcile_now

    settings = get_settings()

    async def run() -> ReconcileOut:
        engine = create_engine(resolve_database_url(settings), settings)
        try:
            result = await reconcile_now(
                create_sessionmaker(engine), settings, args.cohort, args.since, args.dry_run
            )
            return ReconcileOut.of(result)
        finally:
            await engine.dispose()

    try:
        answer = asyncio.run(run())
    except DomainError as error:
        sys.exit(f"scheduling-service: {error.detail}")
    print(answer.model_dump_json(indent=2))


def _secrets_key(_: argparse.Namespace) -> None:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


def _token(args: argparse.Namespace) -> None:
    role = Role(args.role)
    if role is not Role.SYSTEM_ADMIN and args.org is None:
        sys.exit("--org is required for the member and admin roles")
    token = issue_token(
        get_settings(),
        role=role,
        organization_id=args.org,
        subject=args.sub,
        ttl=timedelta(hours=args.hours),
    )
    print(token)


def _simulate(args: argparse.Namespace) -> None:
    from scheduling_service.calcom import simulator

    start = args.start or (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    simulated = simulator.booking_delivery(
        email=args.email,
        name=args.name,
        start=start,
        minutes=args.minutes,
        reschedule_uid=args.reschedule,
        cancel_uid=args.cancel,
    )
    print(f"{simulated.trigger.value} uid={simulated.uid} start={start.isoformat()}")
    try:
        answer = simulator.send(args.url, args.cohort, args.secret, simulated)
    except httpx.HTTPError as error:
        sys.exit(f"scheduling-service: could not reach {args.url}: {error}")
    print(f"{answer.status_code} {answer.text}")
    if not answer.is_success:
        sys.exit(1)


def _aware_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time with an offset, e.g. 2026-05-12T14:00Z")
    return moment


def _openapi(_: argparse.Namespace) -> None:
    from scheduling_service.app import create_app

    print(json.dumps(create_app(get_settings(), "unused://").openapi(), indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scheduling-service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes (default: WEB_CONCURRENCY, else 1 in development and one per "
        "CPU in production)",
    )
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply the database migrations")
    migrate.set_defaults(run=_migrate)

    worker = commands.add_parser(
        "worker", help="only send the outbox's alert emails and reconcile with Cal.com"
    )
    worker.set_defaults(run=_worker)

    reconcile = commands.add_parser(
        "reconcile",
        help="apply what Cal.com's bookings API knows and the service missed, for one cohort",
        description="Lists the bookings Cal.com changed since --since (default: the cohort's "
        "watermark minus RECONCILE_OVERLAP_SECONDS) and applies each change the service has "
        "not seen, as its webhook would have been; prints the changes as JSON.",
    )
    reconcile.add_argument("--cohort", type=uuid.UUID, required=True, help="the cohort ID")
    reconcile.add_argument(
        "--since", type=_aware_time, help="ask for changes since then, e.g. 2026-05-12T08:00Z"
    )
    reconcile.add_argument(
        "--dry-run", action="store_true", help="report what would change; change nothing"
    )
    reconcile.set_defaults(run=_reconcile)

    secrets_key = commands.add_parser(
        "secrets-key", help="print a new key for SECRETS_ENCRYPTION_KEY"
    )
    secrets_key.set_defaults(run=_secrets_key)

    token = commands.add_parser("token", help="print a signed JWT for local use")
    token.add_argument("--role", choices=[r.value for r in Role], required=True)
    token.add_argument("--org", type=uuid.UUID, help="organization ID (not for system_admin)")
    token.add_argument("--sub", default="local-user", help="the user the token names")
    token.add_argument("--hours", type=float, default=12.0, help="validity in hours")
    token.set_defaults(run=_token)

    openapi = commands.add_parser("openapi", help="print the OpenAPI document")
    openapi.set_defaults(run=_openapi)

    simulate = commands.add_parser(
        "simulate",
        help="send a signed delivery shaped like Cal.com's to a running service",
        description="Check a cohort's Cal.com set-up without booking a real interview: sends "
        "BOOKING_CREATED (or a reschedule or cancellation of an earlier uid) for the email "
        "given, signed with the secret, and prints the service's answer.",
    )
    simulate.add_argument("--cohort", required=True, help="the cohort ID in the webhook URL")
    simulate.add_argument("--secret", required=True, help="the cohort's webhook secret")
    simulate.add_argument("--email", required=True, help="the applicant's email")
    simulate.add_argument("--name", default="Simulated Applicant", help="the applicant's name")
    simulate.add_argument("--url", default="http://127.0.0.1:8000", help="the service's address")
    simulate.add_argument(
        "--start", type=_aware_time, help="interview start (default: tomorrow 14:00 UTC)"
    )
    simulate.add_argument("--minutes", type=int, default=30, help="interview length")
    change = simulate.add_mutually_exclusive_group()
    change.add_argument("--reschedule", metavar="UID", help="reschedule this booking uid")
    change.add_argument("--cancel", metavar="UID", help="cancel this booking uid")
    simulate.set_defaults(run=_simulate)

    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        # A refused configuration is the operator's to fix: one line, not a traceback.
        sys.exit(f"scheduling-service: invalid configuration: {_describe(error)}")
    # Logs go to stderr, so stdout carries only what a command prints (a token, a document).
    logging.config.dictConfig(logging_config(settings.log_level))
    args.run(args)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        field = "_".join(str(part) for part in item["loc"]).upper()
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)
