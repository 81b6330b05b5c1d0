"""Sampling the running server with py-spy, and the functions its samples spend most time in."""

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"


def py_spy() -> str | None:
    return str(PY_SPY) if PY_SPY.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, output: Path, *, native: bool = False) -> Path | None:
    """Sample the process and its workers (collapsed stacks, one line per stack); `native`
    also unwinds C frames (asyncpg's and uvloop's Cython, the interpreter, system calls)."""
    binary = py_spy()
    if binary is None:
        return None
    await asyncio.to_thread(output.unlink, missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        binary,
        "record",
        # Unwinding C frames needs the process paused while sampled; Python frames do not.
        *(["--native"] if native else ["--nonblocking"]),
        "--pid",
        str(pid),
        "--subprocesses",
        "--rate",
        "200",
        "--duration",
        str(int(seconds)),
        "--format",
        "raw",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    if not await asyncio.to_thread(output.exists):
        print(errors.decode(errors="replace")[-2000:], file=sys.stderr)
        return None
    return output


_PROCESS = re.compile(r'process \d+:"[^"]*";?')


def _stacks(collapsed: Path) -> list[tuple[list[str], int]]:
    """(frames, samples) per line; py-spy's leading `process N:"command"` frames dropped."""
    stacks = []
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [f for f in _PROCESS.sub("", stack).split(";") if f]
        if frames:
            stacks.append((frames, int(count_text)))
    return stacks


def _function(frame: str) -> str:
    """ "name (path/to/file.py:line)" -> "name (path/to/file.py)"."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').rsplit(':', 1)[0]})"


def _component(frame: str) -> str:
    """The top-level package (or stdlib module) a frame's file is in."""
    path = frame.partition(" (")[2]
    return path.split("/", 1)[0].split(".py", 1)[0] or "?"


def format_top(collapsed: Path, limit: int = 35) -> str:
    stacks = _stacks(collapsed)
    total = sum(count for _, count in stacks)
    if not total:
        return "no samples"
    own: Counter[str] = Counter()
    components: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for frames, count in stacks:
        leaf = frames[-1]
        own[_function(leaf)] += count
        components[_component(leaf)] += count
        for function in {
            _function(f) for f in frames if f.partition(" (")[2].startswith("scheduling_service/")
        }:
            ours[function] += count

    def block(title: str, counts: Counter[str], rows: int) -> list[str]:
        lines = [title]
        for name, count in counts.most_common(rows):
            lines.append(f"{100 * count / total:6.1f}%  {name}")
        return [*lines, ""]

    return "\n".join(
        [
            f"{total} samples (on-CPU, every worker)",
            "",
            *block("on-CPU time by package of the innermost frame:", components, 20),
            *block("the service's functions, inclusive (they and what they call):", ours, limit),
            *block("functions, self time:", own, limit),
        ]
    )
