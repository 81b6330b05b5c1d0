"""Operations endpoints: liveness and readiness."""

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduling_service import migrations

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str


@router.get("/healthz", operation_id="health", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readiness",
    summary="The database is reachable and its migrations are current",
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
        return Readiness(status="unavailable", database="ok", migrations=f"at {current}")
    return Readiness(status="ok", database="ok", migrations="current")
