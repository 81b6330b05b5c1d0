"""The SPA's reads while webhooks flow: the applications list and the orphan badge count."""

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from bench.database import SeededCohort
from bench.http import Client
from bench.load import percentile_ms
from scheduling_service.auth import Role, issue_token
from scheduling_service.config import Settings

READERS_PER_KIND = 1
"""Closed-loop readers per kind of request, each sending its next request when the last one
answered; one per kind, so a slow kind does not slow the others."""


def reader_token(jwt_secret: str, organization_id: uuid.UUID) -> str:
    settings = Settings(_env_file=None, jwt_secret=jwt_secret)
    return issue_token(
        settings,
        role=Role.MEMBER,
        organization_id=organization_id,
        subject="bench-reader",
        ttl=timedelta(hours=2),
    )


# Applicants waiting for their second round are mostly older ones (see bench.database): a
# filter the newest rows do not answer.
FILTERED_STATUS = "waiting_second_round"


def read_paths(cohort: SeededCohort) -> dict[str, str]:
    """What the SPA asks for: a page of 50, filtered by status, searched by a common last
    name and by one applicant's email, and the badge count."""
    applications = f"/v1/cohorts/{cohort.id}/applications"
    rare = cohort.email(cohort.applications // 3).split("@")[0]
    return {
        "list": f"{applications}?limit=50",
        "list_status": f"{applications}?{urlencode({'status': FILTERED_STATUS, 'limit': 50})}",
        "list_q": f"{applications}?{urlencode({'q': 'garcia', 'limit': 50})}",
        "list_q_one": f"{applications}?{urlencode({'q': rare, 'limit': 50})}",
        "badge": f"/v1/cohorts/{cohort.id}/orphaned-interviews/count",
    }


@dataclass
class ReadResult:
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, Any]]:
        return {
            kind: {
                "requests": len(values),
                "per_s": round(len(values) / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": round(percentile_ms(values, 50), 1),
                "p99_ms": round(percentile_ms(values, 99), 1),
                "errors": self.errors.get(kind, 0),
            }
            for kind, values in self.latencies.items()
        }


async def read_while(
    client: Client, paths: dict[str, str], token: str, running: asyncio.Event
) -> ReadResult:
    """`READERS_PER_KIND` closed-loop readers per path while `running` is set."""
    loop = asyncio.get_running_loop()
    result = ReadResult(latencies={kind: [] for kind in paths})
    headers = {"Authorization": f"Bearer {token}"}

    async def reader(kind: str) -> None:
        while running.is_set():
            started = loop.time()
            try:
                answer = await client.request("GET", paths[kind], headers)
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                result.errors[kind] = result.errors.get(kind, 0) + 1
                continue
            if answer.status != 200:
                result.errors[kind] = result.errors.get(kind, 0) + 1
                continue
            result.latencies[kind].append(loop.time() - started)

    started = loop.time()
    await asyncio.gather(*(reader(k) for k in paths for _ in range(READERS_PER_KIND)))
    result.seconds = loop.time() - started
    return result
