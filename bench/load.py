"""An open-model load generator: sends are scheduled by the clock at a constant arrival rate,
whatever the server's speed, and each latency is measured from the send's scheduled time, so
time spent queueing (in the client, the kernel or the server) counts."""

import asyncio
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.http import Answer, Client

REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    label: str = ""


@dataclass
class Sample:
    label: str
    scheduled: float
    done: float
    status: int
    """0 when no answer came (connection refused or cut, or timed out)."""
    outcome: str | None = None

    @property
    def latency(self) -> float:
        return self.done - self.scheduled


@dataclass
class StepResult:
    offered: float
    sent: int
    started: float
    send_ended: float
    samples: list[Sample] = field(default_factory=list)
    max_lag: float = 0.0
    """How late the generator itself dispatched its latest send (its own saturation)."""

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if 200 <= s.status < 300]

    @property
    def errors(self) -> int:
        return self.sent - len(self.ok)

    @property
    def statuses(self) -> dict[int, int]:
        return dict(sorted(Counter(s.status for s in self.samples).items()))

    @property
    def outcomes(self) -> dict[str, int]:
        return dict(Counter(s.outcome or "-" for s in self.ok))

    @property
    def last_done(self) -> float:
        return max((s.done for s in self.samples), default=self.send_ended)

    @property
    def achieved(self) -> float:
        """Answered successfully, per second, over the sending window shifted by the median
        latency: a server that keeps up answers at the offered rate, one that falls behind
        sees its median latency grow with the backlog. (Up to the very last answer instead,
        a single stall at the end of a step, a checkpoint say, would count as saturation.)"""
        if not self.ok:
            return 0.0
        window = self.send_ended - self.started + 1 / self.offered
        return len(self.ok) / (window + self.percentile_ms(50) / 1000)

    @property
    def drain_seconds(self) -> float:
        """From the last scheduled send to the last answer: the backlog left at the end."""
        return max(0.0, self.last_done - self.send_ended)

    def percentile_ms(self, q: float, label: str | None = None) -> float:
        return percentile_ms(
            [s.latency for s in self.samples if label is None or s.label == label], q
        )

    def summary(self) -> dict[str, Any]:
        return {
            "offered_per_s": round(self.offered, 1),
            "sent": self.sent,
            "achieved_per_s": round(self.achieved, 1),
            "p50_ms": round(self.percentile_ms(50), 1),
            "p95_ms": round(self.percentile_ms(95), 1),
            "p99_ms": round(self.percentile_ms(99), 1),
            "max_ms": round(self.percentile_ms(100), 1),
            "errors": self.errors,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "outcomes": self.outcomes,
            "drain_s": round(self.drain_seconds, 2),
            "generator_max_lag_ms": round(self.max_lag * 1000, 1),
        }


def percentile_ms(latencies: Sequence[float], q: float) -> float:
    if not latencies:
        return float("nan")
    if q >= 100:
        return max(latencies) * 1000
    if len(latencies) == 1:
        return latencies[0] * 1000
    return statistics.quantiles(latencies, n=1000, method="inclusive")[int(q * 10) - 1] * 1000


def outcome_of(answer: Answer) -> str | None:
    marker = b'"outcome":"'
    at = answer.body.find(marker)
    if at < 0:
        return None
    start = at + len(marker)
    return answer.body[start : answer.body.index(b'"', start)].decode()


async def _send(client: Client, request: Request, scheduled: float, samples: list[Sample]) -> None:
    loop = asyncio.get_running_loop()
    try:
        answer = await asyncio.wait_for(
            client.request(request.method, request.path, request.headers, request.body),
            REQUEST_TIMEOUT,
        )
    except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError, Exception):
        samples.append(Sample(request.label, scheduled, loop.time(), 0))
        return
    samples.append(Sample(request.label, scheduled, loop.time(), answer.status, outcome_of(answer)))


async def open_loop(
    client: Client,
    requests: Sequence[Request],
    rate: float,
    *,
    stop: Callable[[], bool] | None = None,
) -> StepResult:
    """Send `requests` at `rate` per second, scheduled by the clock; wait for every answer."""
    loop = asyncio.get_running_loop()
    started = loop.time() + 0.05
    result = StepResult(rate, 0, started, started)
    tasks = []
    for number, request in enumerate(requests):
        if stop is not None and stop():
            break
        scheduled = started + number / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            result.max_lag = max(result.max_lag, -delay)
        tasks.append(asyncio.create_task(_send(client, request, scheduled, result.samples)))
        result.sent += 1
        result.send_ended = scheduled
    if tasks:
        await asyncio.wait(tasks)
    return result
