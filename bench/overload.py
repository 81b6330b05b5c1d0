"""Past the knee: while webhooks arrive at twice the knee, the SPA's reads go on and a flood of
API readers asks for more than the server can answer. The webhook must keep taking every
authentic delivery; the API must shed what it cannot answer with 503 and `Retry-After`,
never another 5xx."""

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.http import Client
from bench.load import percentile_ms

FLOOD_READERS = 200
"""Closed-loop API readers at once, each asking again as soon as it is answered: far more than
the two workers' database pools (5 connections each) can serve."""


@dataclass
class FloodResult:
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: Counter[str] = field(default_factory=Counter)
    """The `Retry-After` of each 503 (`missing` when it had none)."""
    latencies: dict[int, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    readers: int = FLOOD_READERS

    def summary(self) -> dict[str, Any]:
        return {
            "readers": self.readers,
            "seconds": round(self.seconds, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "per_s": {str(k): round(v / self.seconds, 1) for k, v in sorted(self.statuses.items())}
            if self.seconds
            else {},
            "retry_after_on_503": dict(self.retry_after),
            "p50_ms": {
                str(k): round(percentile_ms(v, 50), 1) for k, v in sorted(self.latencies.items())
            },
            "p99_ms": {
                str(k): round(percentile_ms(v, 99), 1) for k, v in sorted(self.latencies.items())
            },
        }


async def flood(
    client: Client,
    paths: Sequence[str],
    token: str,
    running: asyncio.Event,
    readers: int = FLOOD_READERS,
) -> FloodResult:
    """`readers` closed-loop readers while `running` is set, each going through `paths` in
    turn (each from its own place in them)."""
    loop = asyncio.get_running_loop()
    result = FloodResult(readers=readers)
    headers = {"Authorization": f"Bearer {token}"}

    async def reader(first: int) -> None:
        turn = first
        while running.is_set():
            path = paths[turn % len(paths)]
            turn += 1
            started = loop.time()
            try:
                answer = await client.request("GET", path, headers)
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                result.statuses[0] += 1
                continue
            result.statuses[answer.status] += 1
            result.latencies.setdefault(answer.status, []).append(loop.time() - started)
            if answer.status == 503:
                result.retry_after[answer.retry_after or "missing"] += 1
                # Honoured, but for at most a second, so that the flood keeps pressing
                # throughout a phase of a few seconds.
                await asyncio.sleep(min(float(answer.retry_after or 1), 1.0))

    started = loop.time()
    await asyncio.gather(*(reader(n) for n in range(readers)))
    result.seconds = loop.time() - started
    return result
