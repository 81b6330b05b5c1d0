"""A delivery is answered without FastAPI's request machinery (`webhooks/front.py`), yet
answers as any route of the API does where the API's middleware would act on it."""

from typing import Any

import pytest
from httpx import AsyncClient

from scheduling_service.calcom.signature import sign
from scheduling_service.config import Settings
from scheduling_service.limits import MAX_QUERY_STRING_BYTES
from tests.api.factories import assert_problem
from tests.calcom_bodies import booking, encode
from tests.conftest import Tokens
from tests.setup_data import create_application
from tests.webhooks.test_webhook import events

SPA = "https://app.example.org"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cors_allowed_origins": [SPA]})


def signed(cohort: dict[str, Any], raw: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Cal-Signature-256": sign(raw, cohort["webhook_secret"]),
    }


async def test_a_delivery_answers_with_its_request_id_and_the_documented_body(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    application = await create_application(client, tokens, cohort)
    raw = encode(booking(uid="front-1"))

    response = await client.post(
        f"/webhooks/calcom/{cohort['id']}",
        content=raw,
        headers={**signed(cohort, raw), "X-Request-ID": "delivery-1"},
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "delivery-1"
    answer = response.json()
    assert answer.pop("event_id")
    assert answer == {
        "outcome": "matched",
        "application_id": application["id"],
        "orphaned_interview_id": None,
    }


async def test_a_delivery_with_a_query_string_over_8_kib_is_refused_and_not_kept(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    raw = encode(booking(uid="front-2"))
    query = "pad=" + "x" * MAX_QUERY_STRING_BYTES

    response = await client.post(
        f"/webhooks/calcom/{cohort['id']}?{query}", content=raw, headers=signed(cohort, raw)
    )

    assert_problem(response, 414, "uri-too-long")
    assert await events(client, tokens, cohort) == []


async def test_a_delivery_from_the_spas_origin_is_applied_and_readable_by_it(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    raw = encode(booking(uid="front-3", email="walk-in@example.com"))

    response = await client.post(
        f"/webhooks/calcom/{cohort['id']}",
        content=raw,
        headers={**signed(cohort, raw), "Origin": SPA},
    )

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "orphaned"
    assert response.headers["access-control-allow-origin"] == SPA
