"""The log: one JSON object per line, per request and per webhook delivery, and no secrets."""

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from httpx import AsyncClient

from scheduling_service.calcom.signature import sign
from scheduling_service.logs import JsonFormatter
from tests.calcom_bodies import booking, deliver, encode
from tests.conftest import Tokens
from tests.factories import create_application, create_cohort, create_org
from tests.operations.scrape import lines_of

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_text(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Everything logged during the test, formatted as the service formats it."""
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.fixture
def log_lines(log_text: io.StringIO) -> LogLines:
    # Each line must be a JSON object on its own: json.loads fails on anything else.
    return lambda: [json.loads(line) for line in log_text.getvalue().splitlines()]


async def test_each_request_is_one_line_with_its_request_id(
    client: AsyncClient, log_lines: LogLines
) -> None:
    response = await client.get("/readyz", headers={"X-Request-ID": "trace-7"})

    [line] = lines_of(log_lines(), "scheduling_service.requests")
    assert response.headers["X-Request-ID"] == "trace-7"
    assert line["request_id"] == "trace-7"
    assert line["method"] == "GET"
    assert line["route"] == "/readyz"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["level"] == "info"


async def test_each_webhook_delivery_is_one_line_with_cohort_event_and_outcome(
    client: AsyncClient, tokens: Tokens, log_lines: LogLines
) -> None:
    cohort = await create_cohort(client, tokens, (await create_org(client, tokens))["id"])
    await create_application(client, tokens, cohort)

    response = await deliver(client, cohort, booking())

    [line] = lines_of(log_lines(), "scheduling_service.webhooks")
    assert line["cohort_id"] == cohort["id"]
    assert line["event_id"] == response.json()["event_id"]
    assert line["outcome"] == "matched"
    assert line["trigger"] == "BOOKING_CREATED"
    assert line["request_id"] == response.headers["X-Request-ID"]
    [request] = [
        r
        for r in lines_of(log_lines(), "scheduling_service.requests")
        if r["request_id"] == line["request_id"]
    ]
    assert request["route"] == "/webhooks/calcom/{cohort_id}"


async def test_logs_hold_no_secret_token_signature_or_body(
    client: AsyncClient, tokens: Tokens, log_text: io.StringIO, log_lines: LogLines
) -> None:
    system = tokens("system_admin")
    jwt = system["Authorization"].removeprefix("Bearer ")
    org = (
        await client.post(
            "/v1/organizations",
            json={"name": "Acme", "admin_emails": ["admin@acme.example"]},
            headers=system,
        )
    ).json()
    cohort = (
        await client.post(
            f"/v1/organizations/{org['id']}/cohorts", json={"name": "Spring"}, headers=system
        )
    ).json()
    secret = cohort["webhook_secret"]
    marker = "Zebulon-Quixotic-Marker"
    bodies = [
        encode(booking(name=marker, email="zebulon@example.org")),  # orphaned
        encode(booking(uid="")).replace(b'"uid":""', f'"uid":"","x":"{marker}"'.encode()),
        f'{{"not json": "{marker}"'.encode(),  # 400, still recorded
    ]
    signatures = [sign(body, secret) for body in bodies]
    statuses = [(await deliver(client, cohort, body)).status_code for body in bodies]
    forged = await deliver(client, cohort, bodies[0], signature="f" * 64)
    assert [*statuses, forged.status_code] == [200, 422, 400, 401]
    rotated = await client.post(f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate", headers=system)
    assert rotated.status_code == 200

    text = log_text.getvalue()
    assert len(lines_of(log_lines(), "scheduling_service.webhooks")) == 4
    for forbidden in [secret, rotated.json()["webhook_secret"], jwt, marker, *signatures]:
        assert forbidden not in text
    for body in bodies:
        assert body.decode() not in text
