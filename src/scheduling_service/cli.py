"""The `scheduling-service` command."""

import argparse
import asyncio
import errno
import json
import logging.config
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduling_service import cli_arguments as arguments
from scheduling_service.auth import Role, issue_token
from scheduling_service.command_settings import (
    COMMON,
    EMBEDDED_USES,
    MIGRATE_USES,
    RECONCILE_USES,
    TOKEN_USES,
    WORKER_USES,
    Refusal,
    load_settings,
)
from scheduling_service.config import Settings, get_settings
from scheduling_service.logs import logging_config

# `serve` hands this to its workers; `scheduling_service.app` must not be imported before it
# is set (see `_share_metrics`).
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# pg_ctl status's, for scripts: the server is not running.
STOPPED_EXIT_CODE = 3
# uvicorn's default: connections waiting to be accepted.
BACKLOG = 2048
WORKER_HEALTHCHECK_SECONDS = 30


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # Bound first: a taken port is known before PostgreSQL starts, and "listening on" below is
    # true (connections wait in the backlog until the app has started).
    listener = _listen(args.host, args.port)
    port: int = listener.getsockname()[1]
    workers = args.workers or settings.workers()
    if workers > 1 or settings.prometheus_multiproc_dir is not None:
        _share_metrics(settings.prometheus_multiproc_dir)
    if settings.environment == "development" and "public_base_url" not in settings.model_fields_set:
        # Cohorts' webhook URLs then name the address actually served (`PORT=8001 make run`).
        os.environ["PUBLIC_BASE_URL"] = f"http://{_url_host(args.host)}:{port}"
    # Resolved once, here, and handed to the workers through the environment: they then share
    # this process's embedded PostgreSQL (when DATABASE_URL is unset) instead of each starting
    # one. Migrations also run once, here, before any worker serves.
    url = _database(settings)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    _progress("migrating the database")
    _upgrade(url)
    _warn_if_mail_server_unreachable(settings)
    # After `_share_metrics`: the server module registers metrics.
    from scheduling_service.server import uvicorn_options

    config = uvicorn.Config(
        # An import string and a factory: each worker process builds its own app.
        "scheduling_service.app:create_app",
        factory=True,
        workers=workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level),
        # The request line is ours (one JSON line with the request ID), not uvicorn's.
        access_log=False,
        # The HTTP protocol and its limits (`server.py`). Named, not imported: each worker
        # imports it after `_share_metrics`.
        **uvicorn_options(settings),
        # uvicorn's supervisor restarts a worker that misses its health check; 5 s (the
        # default) is missed by a worker still starting on a busy machine, which then serves
        # with fewer workers than asked for.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    print(
        f"scheduling-service listening on http://{_url_host(args.host, wildcard=args.host)}:"
        f"{port} ({workers} worker{'s' if workers > 1 else ''})",
        flush=True,
    )
    # What uvicorn.run does, with the socket bound above.
    if workers > 1:
        Multiprocess(config, sockets=[listener]).run()
        return
    server = uvicorn.Server(config)
    server.run(sockets=[listener])
    if not server.started:  # the app failed to start; uvicorn logged why
        sys.exit(1)


def _progress(step: str) -> None:
    """One line per long step of the start, so a first start is never silent for long."""
    print(f"scheduling-service: {step}", flush=True)


def _database(settings: Settings) -> str:
    from scheduling_service.embedded import resolve_database_url

    if not settings.database_url:
        _progress(f"starting PostgreSQL (embedded, data in {settings.embedded_postgres_dir})")
    return resolve_database_url(settings)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, as uvicorn binds it; a taken port is one line."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise Refusal(
                f"port {port} is already in use on {host} (is another scheduling-service "
                f"running?): stop it, or choose another port (PORT={port + 1} make run, or "
                f"serve --port {port + 1})"
            ) from None
        raise Refusal(f"cannot listen on {host}:{port}: {error.strerror}") from None
    listener.listen(BACKLOG)
    listener.set_inheritable(True)
    return listener


def _url_host(host: str, *, wildcard: str = "localhost") -> str:
    """How a URL names the address `host` (every interface: `wildcard`)."""
    if host in {"0.0.0.0", "::", ""}:
        host = wildcard
    return f"[{host}]" if ":" in host else host


def _share_metrics(configured: Path | None) -> None:
    """Point prometheus-client's multiprocess mode at an empty directory, before anything
    imports it: files of an earlier run would be summed into this one's values."""
    directory = configured or Path(tempfile.mkdtemp(prefix="scheduling-service-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(directory)


@contextmanager
def _connection_mistakes(url: str) -> Iterator[None]:
    """A database that cannot be reached, or has no such database, is the operator's to fix."""
    from scheduling_service.db import connection_failure

    try:
        yield
    except Exception as error:
        failure = connection_failure(error, url)
        if failure is None:
            raise
        raise Refusal(failure) from None


def _upgrade(url: str) -> None:
    from scheduling_service.migrations import upgrade_to_head

    with _connection_mistakes(url):
        upgrade_to_head(url)


def _warn_if_mail_server_unreachable(settings: Settings) -> None:
    """Alerts wait in the outbox while the mail server is down, so this only warns."""
    from scheduling_service.notifications.sender import unreachable_reason

    server = settings.smtp_server()
    if server is None or not settings.run_dispatcher:
        return
    reason = asyncio.run(unreachable_reason(server))
    if reason is not None:
        print(
            f"scheduling-service: warning: the mail server of SMTP_URL does not answer "
            f"({reason}); alerts wait in the outbox until it does",
            file=sys.stderr,
            flush=True,
        )


def _migrate(_: argparse.Namespace, settings: Settings) -> None:
    url = _database(settings)
    _progress("migrating the database")
    _upgrade(url)


def _worker(_: argparse.Namespace, settings: Settings) -> None:
    from scheduling_service.db import check_connection
    from scheduling_service.worker import run_worker

    url = _database(settings)
    with _connection_mistakes(url):
        asyncio.run(check_connection(url))
    _warn_if_mail_server_unreachable(settings)
    # No migration here: `serve` or `migrate` owns the schema, and running it from several
    # processes at once would race. Until it exists, each pass fails, is logged, and retried.
    asyncio.run(run_worker(settings, url))


def _reconcile(args: argparse.Namespace, settings: Settings) -> None:
    from scheduling_service.db import create_engine, create_sessionmaker
    from scheduling_service.errors import DomainError
    from scheduling_service.reconciliation.schemas import ReconcileOut
    from scheduling_service.reconciliation.service import reconcile_now

    url = _database(settings)

    async def run() -> ReconcileOut:
        engine = create_engine(url, settings)
        try:
            result = await reconcile_now(
                create_sessionmaker(engine), settings, args.cohort, args.since, args.dry_run
            )
            return ReconcileOut.of(result)
        finally:
            await engine.dispose()

    with _connection_mistakes(url):
        try:
            answer = asyncio.run(run())
        except DomainError as error:
            raise Refusal(error.detail) from None
    print(answer.model_dump_json(indent=2))


def _secrets_key(_: argparse.Namespace, settings: Settings) -> None:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


def _token(args: argparse.Namespace, settings: Settings) -> None:
    role = Role(args.role)
    if role is Role.SYSTEM_ADMIN and args.org is not None:
        args.parser.error("--org is not for system_admin, whose token names no organization")
    if role is not Role.SYSTEM_ADMIN and args.org is None:
        args.parser.error(f"--org is required for the {role.value} role")
    if settings.jwt_secret is None:
        raise Refusal("token signs with JWT_SECRET, which is not set: set it")
    token = issue_token(
        settings,
        role=role,
        organization_id=args.org,
        subject=args.sub,
        ttl=timedelta(hours=args.hours),
    )
    print(token)


def _simulate(args: argparse.Namespace, settings: Settings) -> None:
    import httpx

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
    # A cancellation is of a booking made earlier, whose start only the person knows (the
    # service cancels by uid): the line names a start only when it is the booking's.
    when = "" if args.cancel and args.start is None else f" start={start.isoformat()}"
    print(f"{simulated.trigger.value} uid={simulated.uid}{when}")
    try:
        answer = simulator.send(args.url, args.cohort, args.secret, simulated)
    except httpx.HTTPError as error:
        raise Refusal(f"could not reach {args.url}: {error}") from None
    print(f"{answer.status_code} {answer.text}")
    if not answer.is_success:
        sys.exit(1)


def _db(args: argparse.Namespace, settings: Settings) -> None:
    from scheduling_service import embedded

    action = {"status": embedded.status, "start": embedded.start, "stop": embedded.stop}
    state = action[args.action](settings.embedded_postgres_dir)
    print(state.describe())
    if args.action == "status" and state.pid is None:
        sys.exit(STOPPED_EXIT_CODE)


def _openapi(_: argparse.Namespace, settings: Settings) -> None:
    from scheduling_service.app import create_app

    print(json.dumps(create_app(settings, "unused://").openapi(), indent=2))


def _endpoints(_: argparse.Namespace, settings: Settings) -> None:
    from scheduling_service.app import create_app
    from scheduling_service.endpoints import endpoint_table

    print(endpoint_table(create_app(settings, "unused://").openapi()), end="")


def main(argv: list[str] | None = None) -> None:
    parser = arguments.Parser(prog="scheduling-service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations, then serve the API")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    serve.add_argument(
        "--port", type=arguments.port, default=8000, help="the port to listen on (0: any free one)"
    )
    serve.add_argument(
        "--workers",
        type=arguments.positive_whole,
        help="worker processes (default: WEB_CONCURRENCY, else 1 in development and one per "
        "CPU in production)",
    )
    serve.set_defaults(run=_serve, uses=None)

    migrate = commands.add_parser("migrate", help="apply the database migrations")
    migrate.set_defaults(run=_migrate, uses=MIGRATE_USES)

    worker = commands.add_parser(
        "worker", help="only send the outbox's alert emails and reconcile with Cal.com"
    )
    worker.set_defaults(run=_worker, uses=WORKER_USES)

    reconcile = commands.add_parser(
        "reconcile",
        help="apply what Cal.com's bookings API knows and the service missed, for one cohort",
        description="Lists the bookings Cal.com changed since --since (default: the cohort's "
        "watermark minus RECONCILE_OVERLAP_SECONDS) and applies each change the service has "
        "not seen, as its webhook would have been; prints the changes as JSON.",
    )
    reconcile.add_argument(
        "--cohort", type=arguments.cohort_id, required=True, help="the cohort ID"
    )
    reconcile.add_argument(
        "--since",
        type=arguments.aware_time,
        help="ask for changes since then, e.g. 2026-05-12T08:00Z (default: the watermark)",
    )
    reconcile.add_argument(
        "--dry-run", action="store_true", help="report what would change; change nothing"
    )
    reconcile.set_defaults(run=_reconcile, uses=RECONCILE_USES)

    secrets_key = commands.add_parser(
        "secrets-key", help="print a new key for SECRETS_ENCRYPTION_KEY"
    )
    secrets_key.set_defaults(run=_secrets_key, uses=COMMON)

    token = commands.add_parser(
        "token",
        help="print a signed JWT for local use",
        description="Print a token signed with JWT_SECRET, for local use.",
    )
    token.add_argument(
        "--role", choices=[r.value for r in Role], required=True, help="what the token may do"
    )
    token.add_argument(
        "--org",
        type=arguments.organization_id,
        help="the organization ID, for the member and admin roles (not for system_admin)",
    )
    token.add_argument("--sub", default="local-user", help="the user the token names")
    token.add_argument("--hours", type=arguments.hours, default=12.0, help="validity in hours")
    token.set_defaults(run=_token, uses=TOKEN_USES, parser=token)

    db = commands.add_parser(
        "db",
        help="status, start or stop the embedded PostgreSQL",
        description="The embedded PostgreSQL (data in EMBEDDED_POSTGRES_DIR), which serve "
        "starts when DATABASE_URL is unset: status (exit code 3 when stopped), start (it then "
        "keeps running after this command), stop.",
    )
    db.add_argument("action", choices=["status", "start", "stop"], help="what to do")
    db.set_defaults(run=_db, uses=EMBEDDED_USES)

    openapi = commands.add_parser("openapi", help="print the OpenAPI document")
    openapi.set_defaults(run=_openapi, uses=COMMON)

    endpoints = commands.add_parser(
        "endpoints", help="print the endpoints (method, path, summary) as a Markdown table"
    )
    endpoints.set_defaults(run=_endpoints, uses=COMMON)

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
        "--start",
        type=arguments.aware_time,
        help="the interview's start, e.g. 2026-05-12T14:00Z; with --cancel, the cancelled "
        "booking's (default: tomorrow 14:00 UTC)",
    )
    simulate.add_argument(
        "--minutes",
        type=arguments.positive_whole,
        default=30,
        help="the interview's length in minutes",
    )
    change = simulate.add_mutually_exclusive_group()
    change.add_argument(
        "--reschedule", metavar="UID", help="reschedule this booking uid (default: a new booking)"
    )
    change.add_argument(
        "--cancel", metavar="UID", help="cancel this booking uid (default: a new booking)"
    )
    simulate.set_defaults(run=_simulate, uses=COMMON)

    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.uses)
        # Logs go to stderr, so stdout carries only what a command prints (a token, a document).
        logging.config.dictConfig(logging_config(settings.log_level))
        args.run(args, settings)
    except Refusal as refusal:
        sys.exit(f"scheduling-service: {refusal}")
