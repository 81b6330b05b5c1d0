"""Webhook secret rotation (SPEC sections 3 and 5), across two rotations and their grace."""

import asyncio
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from scheduling_service.config import Settings
from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import create_cohort, create_org
from tests.security.conftest import serve


async def rotate(client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]) -> str:
    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate", headers=tokens("system_admin")
    )
    assert response.status_code == 200, response.text
    secret: str = response.json()["webhook_secret"]
    return secret


async def accepted(client: AsyncClient, cohort: dict[str, Any], secrets: list[str]) -> list[bool]:
    """Which secrets a fresh delivery signed with them gets through with."""
    answers = []
    for secret in secrets:
        body = booking(uid=uuid.uuid4().hex, email="walk-in@example.com")
        response = await deliver(client, cohort, body, secret=secret)
        assert response.status_code in (200, 401), response.text
        answers.append(response.status_code == 200)
    return answers


async def test_two_rotations_keep_the_newest_two_secrets_then_only_the_newest(
    app: FastAPI, client: AsyncClient, tokens: Tokens
) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    first = cohort["webhook_secret"]
    second = await rotate(client, tokens, cohort)
    third = await rotate(client, tokens, cohort)

    during_grace = await accepted(client, cohort, [first, second, third])
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            text("UPDATE cohorts SET previous_secret_expires_at = now() - interval '1 second'")
        )
    # What every process does each WEBHOOK_SECRETS_REFRESH_SECONDS.
    await app.state.intake.secrets.refresh()
    after_grace = await accepted(client, cohort, [first, second, third])

    assert during_grace == [False, True, True]
    assert after_grace == [False, False, True]
    events = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events", headers=tokens("admin", org["id"])
    )
    # Only the three accepted deliveries are in the event log; refused ones left no trace.
    assert [e["outcome"] for e in events.json()["items"]] == ["orphaned"] * 3


@pytest.mark.commits  # another replica reads what this one committed
async def test_a_rotation_on_one_replica_is_honoured_by_another_within_seconds(
    client: AsyncClient, tokens: Tokens, settings: Settings, database_url: str
) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    first = cohort["webhook_secret"]
    refresh = 3.0
    replica = settings.model_copy(update={"webhook_secrets_refresh_seconds": refresh})
    async with serve(replica, database_url) as other:
        started = time.monotonic()
        known = await accepted(other, cohort, [first])
        second = await rotate(client, tokens, cohort)
        third = await rotate(client, tokens, cohort)
        # The first secret, retired by the second rotation, stops working with the refresh.
        await asyncio.sleep(refresh + 0.5 - (time.monotonic() - started))
        after_refresh = await accepted(other, cohort, [first, second, third])
        # Cal.com set up with a newer secret a moment later works there before the next
        # refresh: a signature that matches nothing cached reads the cohort again.
        fourth = await rotate(client, tokens, cohort)
        await asyncio.sleep(1.1)
        before_next_refresh = await accepted(other, cohort, [fourth])
        elapsed = time.monotonic() - started

    assert known == [True]
    assert after_refresh == [False, True, True]
    assert before_next_refresh == [True]
    assert elapsed < 2 * refresh
