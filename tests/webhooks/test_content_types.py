"""Cal.com custom payload templates (SPEC section 3, "Other content types"; issue 12 item 3):
the signature is checked whatever the content type, and an authentic body that is not the
envelope is refused, naming the likely cause, and kept in the event log as `rejected`."""

from typing import Any

import pytest
from httpx import AsyncClient

from tests.calcom_bodies import booking, deliver, encode
from tests.conftest import Tokens
from tests.factories import create_application, events, get_application

Json = dict[str, Any]

FORM = "application/x-www-form-urlencoded"
# A text template such as `trigger={{triggerEvent}}&uid={{uid}}&email={{attendees.0.email}}`.
FORM_BODY = b"trigger=BOOKING_CREATED&uid=kZ3rT9mPqW2xYb7NcV4dHs&email=jane.doe%40example.com"


async def test_signed_form_encoded_template_body_is_refused_and_logged(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    response = await deliver(client, cohort, FORM_BODY, content_type=FORM)

    assert response.status_code == 415
    problem = response.json()
    assert problem["type"] == "urn:scheduling-service:problem:unsupported-media-type"
    assert "custom payload template" in problem["detail"]
    [logged] = await events(client, tokens, cohort, outcome="rejected")
    assert logged["body"].encode() == FORM_BODY
    assert "custom payload template" in logged["reason"]


@pytest.mark.parametrize("signature", [None, "0" * 64], ids=["unsigned", "wrongly-signed"])
async def test_unsigned_form_encoded_body_is_refused_and_not_stored(
    client: AsyncClient, tokens: Tokens, cohort: Json, signature: str | None
) -> None:
    headers = {"Content-Type": FORM}
    if signature is not None:
        headers["X-Cal-Signature-256"] = signature

    response = await client.post(
        f"/webhooks/calcom/{cohort['id']}", content=FORM_BODY, headers=headers
    )

    assert response.status_code == 401
    assert await events(client, tokens, cohort) == []


async def test_signed_json_template_body_is_refused_with_422_and_logged(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    # A JSON template such as `{"event": "{{triggerEvent}}", "booking": "{{uid}}"}`.
    body = encode({"event": "BOOKING_CREATED", "booking": "kZ3rT9mPqW2xYb7NcV4dHs"})

    response = await deliver(client, cohort, body)

    assert response.status_code == 422
    assert "custom payload template" in response.json()["detail"]
    [logged] = await events(client, tokens, cohort, outcome="rejected")
    assert "custom payload template" in logged["reason"]


async def test_json_template_that_did_not_render_is_refused_and_logged(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    # Cal.com sends `false` when a JSON template's rendering is not valid JSON.
    response = await deliver(client, cohort, b"false")

    assert response.status_code == 400
    assert "custom payload template" in response.json()["detail"]
    assert [e["outcome"] for e in await events(client, tokens, cohort)] == ["rejected"]


async def test_signed_envelope_is_applied_whatever_its_content_type(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)

    response = await deliver(client, cohort, booking(), content_type=FORM)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "matched"
    assert (await get_application(client, tokens, application))["status"] == (
        "first_round_scheduled"
    )
