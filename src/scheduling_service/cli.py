"""The `scheduling-service` command."""

import argparse
import json
import logging
import sys
import uuid
from datetime import timedelta

from scheduling_service.auth import Role, issue_token
from scheduling_service.config import get_settings


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from scheduling_service.app import create_app
    from scheduling_service.db import resolve_database_url
    from scheduling_service.migrations import upgrade_to_head

    settings = get_settings()
    url = resolve_database_url(settings)
    upgrade_to_head(url)
    print(f"scheduling-service listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(create_app(settings, url), host=args.host, port=args.port, log_level="info")


def _migrate(_: argparse.Namespace) -> None:
    from scheduling_service.db import resolve_database_url
    from scheduling_service.migrations import upgrade_to_head

    upgrade_to_head(resolve_database_url(get_settings()))


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


def _openapi(_: argparse.Namespace) -> None:
    from scheduling_service.app import create_app

    print(json.dumps(create_app(get_settings(), "unused://").openapi(), indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scheduling-service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply the database migrations")
    migrate.set_defaults(run=_migrate)

    token = commands.add_parser("token", help="print a signed JWT for local use")
    token.add_argument("--role", choices=[r.value for r in Role], required=True)
    token.add_argument("--org", type=uuid.UUID, help="organization ID (not for system_admin)")
    token.add_argument("--sub", default="local-user", help="the user the token names")
    token.add_argument("--hours", type=float, default=12.0, help="validity in hours")
    token.set_defaults(run=_token)

    openapi = commands.add_parser("openapi", help="print the OpenAPI document")
    openapi.set_defaults(run=_openapi)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.run(args)
