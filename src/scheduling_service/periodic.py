"""The background loops' one shape: a pass, a pause, again, until the service stops.

A pass that fails does not end the loop: the next pass tries again, and the failure is told
as `OutageLog` tells it (one line while the database is unreachable, a traceback otherwise).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from scheduling_service.outages import OutageLog


async def run_periodically(
    work: Callable[[], Awaitable[object]],
    *,
    every: float,
    stop: asyncio.Event,
    loop: str,
    what: str,
) -> None:
    """Run `work`, then wait `every` seconds, until `stop` is set; the pass in hand when it
    is set is finished. `loop` names the loop in the outage log and metric, `what` a pass."""
    outage = OutageLog(loop)
    while not stop.is_set():
        try:
            await work()
        except Exception as error:  # the database may be down; the next pass tries again
            outage.failed(error, what)
        else:
            outage.succeeded()
        if await stopped_within(stop, every):
            return


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop`; answers whether it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
