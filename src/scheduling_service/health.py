"""Operations endpoints: liveness, readiness and metrics."""

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduling_service import metrics, migrations, problems
from scheduling_service.problems import ProblemError
from scheduling_service.schemas import examples

router = APIRouter(tags=["operations"])

# Public: probes and scrapers carry no token.
_PUBLIC: dict[str, Any] = {"security": []}


class Health(BaseModel):
    model_config = examples({"status": "ok"})

    status: str


class Readiness(BaseModel):
    model_config = examples(
        {"status": "ok", "database": "ok", "migrations": "current"},
        {"status": "unavailable", "database": "unreachable", "migrations": "unknown"},
    )

    status: str
    database: str
    migrations: str


@router.get(
    "/healthz",
    operation_id="health",
    summary="The process is up",
    description="For liveness probes; needs no token and touches nothing, not even the "
    "database. Any answer but 200 means the process should be restarted.",
    openapi_extra=_PUBLIC,
)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readiness",
    summary="The database is reachable and its migrations are current",
    description="For readiness probes; needs no token and changes nothing. 503 while the "
    "database is unreachable or its schema is not at this version's migration head: send no "
    "traffic to this process then.",
    openapi_extra=_PUBLIC,
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
async def readyz(request: Request, response: Response) -> Readiness:
    engine: AsyncEngine = request.app.state.engine
    head = migrations.head_revision()
    try:
        async with engine.connect() as connection:
            current = await migrations.current_revision(connection)
    except Exception:  # any failure to reach the database means "not ready", never a 500
        response.status_code = 503
        return Readiness(status="unavailable", database="unreachable", migrations="unknown")
    if current != head:
        response.status_code = 503
        behind = f"at {current}" if current else "none applied"
        return Readiness(status="unavailable", database="ok", migrations=behind)
    return Readiness(status="ok", database="ok", migrations="current")


def _require_metrics_token(request: Request) -> None:
    """With METRICS_TOKEN set, a scrape must present it as a bearer token."""
    token = request.app.state.settings.metrics_token
    if token is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode("latin-1"), expected
    ):
        raise ProblemError(
            problems.UNAUTHORIZED,
            "/metrics needs the METRICS_TOKEN as a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics, in the text exposition format",
    description="Open unless METRICS_TOKEN is set; then `Authorization: Bearer <METRICS_TOKEN>` "
    "is required (401 otherwise). Changes nothing.",
    openapi_extra=_PUBLIC,
    response_class=Response,
    dependencies=[Depends(_require_metrics_token)],
    responses={
        200: {
            "description": "Counters, gauges and histograms of this process (of all its "
            "workers when `serve` runs several) and the outbox depth read from the database.",
            "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
        },
        **problems.responses(problems.UNAUTHORIZED),
    },
)
async def prometheus_metrics(request: Request) -> Response:
    scraped = await metrics.scraped_families(request.app.state.engine)
    return Response(metrics.render(scraped), media_type=metrics.CONTENT_TYPE)
