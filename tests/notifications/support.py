"""What the notification tests share besides fixtures: the alert settings' values, making
orphans, and reading the outbox."""

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, text

from scheduling_service.db import SessionMaker
from scheduling_service.models import OutboxMessage
from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import create_cohort, create_org

Json = dict[str, Any]

APP_BASE_URL = "https://app.scheduling.test"
ALERT_FROM = "Scheduling alerts <alerts@scheduling.test>"
WINDOW_SECONDS = 3


async def one_admin_cohort(client: AsyncClient, tokens: Tokens, admin: str) -> Json:
    org = await create_org(client, tokens, name="Solo", admin_emails=[admin])
    return await create_cohort(client, tokens, org["id"], name="Spring 2026")


async def orphan_booking(
    client: AsyncClient, cohort: Json, n: int, *, uid: str | None = None, **fields: Any
) -> str:
    """Deliver a booking from an email no application has; answers the orphan's ID."""
    fields.setdefault("email", f"stranger{n}@example.com")
    fields.setdefault("name", f"Stranger {n}")
    response = await deliver(client, cohort, booking(uid=uid or f"orphan-{n}", **fields))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "orphaned", response.text
    orphan_id: str = response.json()["orphaned_interview_id"]
    return orphan_id


async def outbox(sessionmaker: SessionMaker) -> list[OutboxMessage]:
    async with sessionmaker() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.recipient)
        return list((await session.scalars(query)).all())


async def database_now(sessionmaker: SessionMaker) -> Any:
    async with sessionmaker() as session:
        return await session.scalar(text("SELECT clock_timestamp()"))
