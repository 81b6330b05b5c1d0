"""Who used the two cores: CPU time of the benchmark, the server, PostgreSQL and the rest.

Each group is a process tree, read at the start and the end of a phase; "other" is whatever
else the machine ran meanwhile (the system-wide busy time less the three groups).
"""

import os
import time
from dataclasses import dataclass, field

import psutil

from bench.database import EMBEDDED_DIR


def _tree(pid: int | None) -> list[psutil.Process]:
    """A process and its children; none when it is gone (or never was)."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _tree_cpu(pid: int | None, exclude: int | None = None) -> float:
    total = 0.0
    skipped: set[int] = set()
    if exclude is not None:
        try:
            excluded = psutil.Process(exclude)
            skipped = {exclude, *(c.pid for c in excluded.children(recursive=True))}
        except psutil.NoSuchProcess:
            skipped = {exclude}
    for process in _tree(pid):
        if process.pid in skipped:
            continue
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        # Children that exited (backends, autovacuum workers) count once reaped by their parent.
        total += times.user + times.system + times.children_user + times.children_system
    return total


def tree_rss_mb(pid: int | None) -> float:
    """Resident memory of a process and its children, in MiB."""
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return round(total / 2**20, 1)


def postmaster_pid() -> int | None:
    """The embedded server's postmaster; None when DATABASE_URL names another server."""
    if os.environ.get("DATABASE_URL"):
        return None
    try:
        return int((EMBEDDED_DIR / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _system_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@dataclass
class CpuMeter:
    """Cores used per group between `start()` and `stop()` (1.0 is one core busy)."""

    server_pid: int | None = None
    postgres_pid: int | None = field(default_factory=postmaster_pid)
    _started: float = 0.0
    _before: dict[str, float] = field(default_factory=dict)

    def _snapshot(self) -> dict[str, float]:
        groups = {
            "bench": _tree_cpu(os.getpid(), exclude=self.server_pid),
            "server": _tree_cpu(self.server_pid),
            "postgres": _tree_cpu(self.postgres_pid),
        }
        groups["total"] = _system_busy()
        return groups

    def start(self) -> None:
        self._started = time.perf_counter()
        self._before = self._snapshot()

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        elapsed = time.perf_counter() - self._started
        used = {group: (after[group] - self._before[group]) / elapsed for group in after}
        # Backends that exited meanwhile took their time with them: bounded below by zero.
        used["other"] = max(0.0, used["total"] - used["bench"] - used["server"] - used["postgres"])
        # A thousandth of a core: at 200 events/s for 6 s, 0.005 ms of CPU per event (a
        # hundredth, as before, could not tell apart figures 0.05 ms apart).
        return {group: round(value, 3) for group, value in used.items()}
