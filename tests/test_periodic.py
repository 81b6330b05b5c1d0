"""The background loops' shape: passes until stopped, through an outage told in two lines,
and a bug told with its traceback on every pass."""

import asyncio
import logging

import pytest

from scheduling_service.periodic import run_periodically


class Passes:
    """A loop's work: each pass raises the next of `failures` (None: succeeds); the pass
    after the last stops the loop."""

    def __init__(self, stop: asyncio.Event, failures: list[Exception | None]) -> None:
        self.stop = stop
        self.failures = failures
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1
        if self.count > len(self.failures):
            self.stop.set()
            return
        failure = self.failures[self.count - 1]
        if failure is not None:
            raise failure


async def run(failures: list[Exception | None]) -> int:
    stop = asyncio.Event()
    passes = Passes(stop, failures)
    await asyncio.wait_for(
        run_periodically(passes, every=0.001, stop=stop, loop="test loop", what="a test pass"),
        timeout=5,
    )
    return passes.count


async def test_passes_repeat_until_stop_is_set() -> None:
    assert await run([None, None]) == 3


async def test_a_loop_stopped_before_it_starts_makes_no_pass() -> None:
    stop = asyncio.Event()
    stop.set()
    passes = Passes(stop, [])

    await run_periodically(passes, every=60, stop=stop, loop="test loop", what="a test pass")

    assert passes.count == 0


async def test_stop_ends_the_pause_at_once() -> None:
    stop = asyncio.Event()
    passed = asyncio.Event()
    passes = 0

    async def work() -> None:
        nonlocal passes
        passes += 1
        passed.set()

    task = asyncio.create_task(
        run_periodically(work, every=3600, stop=stop, loop="test loop", what="a test pass")
    )
    await asyncio.wait_for(passed.wait(), timeout=5)

    stop.set()

    await asyncio.wait_for(task, timeout=5)
    assert passes == 1


async def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="scheduling_service.outages")
    refused = ConnectionRefusedError("connection refused")

    passes = await run([refused, refused, refused, None, None])

    assert passes == 6
    assert [r.message for r in caplog.records] == [
        "database unreachable",
        "database reachable again",
    ]
    assert not [r for r in caplog.records if r.exc_info]


async def test_any_other_failure_is_told_in_full_on_every_pass(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="scheduling_service.outages")

    passes = await run([ValueError("a bug"), ValueError("a bug")])

    assert passes == 3
    assert [r.getMessage() for r in caplog.records] == ["test loop: a test pass failed"] * 2
    assert all(r.exc_info for r in caplog.records)
