"""A local, durable journal of deliveries received while the database is unreachable.

Cal.com never retries, so a delivery that cannot be stored in PostgreSQL is appended here,
flushed and fsynced before it is answered, and applied once the database is back. Only
deliveries whose signature verified are written (see `organizations.secrets`). An entry that
cannot be applied is kept as a failed event, or set aside, so it never holds up the rest.
Several processes may share the directory: appends and the
hand-over to a drainer are serialized with `flock`, and each drained file is locked by the one
process applying it, so a file left by a killed drainer is picked up by the next.
"""

import base64
import fcntl
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread

_APPENDING = "journal.jsonl"
_DRAINING_PREFIX = "draining-"
# Not `*.jsonl`: entries here are out of the drain and of the size count.
_SET_ASIDE = "set-aside.log"


class JournalFull(Exception):
    """The journal reached its size limit: refuse rather than fill the disk."""


@dataclass(frozen=True)
class JournalEntry:
    cohort_id: uuid.UUID
    body: bytes
    signature: str | None

    def encode(self) -> bytes:
        record = {
            "cohort_id": str(self.cohort_id),
            "body": base64.b64encode(self.body).decode(),
            "signature": self.signature,
        }
        return json.dumps(record).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> "JournalEntry":
        record = json.loads(line)
        return cls(
            uuid.UUID(record["cohort_id"]), base64.b64decode(record["body"]), record["signature"]
        )


class Journal:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    async def append(self, entry: JournalEntry) -> None:
        """Durably append the entry; it is on disk when this returns."""
        await to_thread.run_sync(self._append, entry.encode())

    async def set_aside(self, record: bytes) -> None:
        """Keep an entry that cannot be applied in `set-aside.log`, out of the drain's way,
        for an operator to look at."""
        await to_thread.run_sync(self._set_aside, record.rstrip(b"\n") + b"\n")

    def has_entries(self) -> bool:
        return any(self._files())

    async def drain(self, apply: Callable[[JournalEntry], Awaitable[None]]) -> int:
        """Apply every entry in arrival order, deleting each file once all of it is applied.

        When `apply` raises, the rest of that file stays for the next drain; entries already
        applied are applied again then, which the webhook's deduplication makes harmless.
        """
        await to_thread.run_sync(self._hand_over)
        applied = 0
        for path in sorted(self.directory.glob(f"{_DRAINING_PREFIX}*.jsonl")):
            with _locked_or_skipped(path) as handle:
                if handle is None:
                    continue
                for line in handle:
                    if not line.strip():
                        continue
                    try:
                        entry = JournalEntry.decode(line)
                    except (ValueError, KeyError, TypeError):
                        # A line cut short by a crash mid-append: kept aside, not a wedge.
                        await self.set_aside(line)
                        continue
                    await apply(entry)
                    applied += 1
                path.unlink()
        return applied

    def _files(self) -> Iterator[Path]:
        if self.directory.exists():
            yield from self.directory.glob("*.jsonl")

    def _append(self, record: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._directory_lock():
            used = sum(path.stat().st_size for path in self._files())
            if used + len(record) > self.max_bytes:
                raise JournalFull(f"the delivery journal is full ({used} bytes)")
            descriptor = os.open(
                self.directory / _APPENDING, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
            )
            try:
                os.write(descriptor, record)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _fsync_directory(self.directory)

    def _set_aside(self, record: bytes) -> None:
        with self._directory_lock(), open(self.directory / _SET_ASIDE, "ab") as log:
            log.write(record)
            log.flush()
            os.fsync(log.fileno())

    def _hand_over(self) -> None:
        """Move the appended file aside for draining, so appends go on into a new one."""
        source = self.directory / _APPENDING
        if not source.exists():
            return
        with self._directory_lock():
            if source.exists():
                source.rename(self.directory / f"{_DRAINING_PREFIX}{time.time_ns()}.jsonl")
        _fsync_directory(self.directory)

    @contextmanager
    def _directory_lock(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _locked_or_skipped(path: Path) -> Iterator[BinaryIO | None]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - held for the whole drain of the file
    except FileNotFoundError:
        yield None
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        if not path.exists():
            # Another process finished this file between our listing and our lock.
            yield None
            return
        yield handle


def _fsync_directory(directory: Path) -> None:
    # A rename or a new file is durable only once its directory entry is.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
