"""Secrets never leave the service except where they are handed out on purpose.

The webhook secret is shown when a cohort is created or its secret rotated, nowhere else; a
bearer token and a Cal.com API key are never echoed; none appears in logs, problem documents,
listings or the event log.
"""

import logging

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from scheduling_service.calcom.signature import sign
from tests.calcom_bodies import booking, deliver, encode
from tests.conftest import JWT_SECRET, Tokens
from tests.factories import UNREACHABLE_CALCOM, create_application, create_cohort, create_org


async def test_secrets_and_tokens_stay_out_of_logs_problems_and_listings(
    client: AsyncClient, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    system = tokens("system_admin")
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    admin = tokens("admin", org["id"])
    application = await create_application(client, tokens, cohort)
    rotated = await client.post(f"/v1/cohorts/{cohort['id']}/webhook-secret/rotate", headers=system)
    current = rotated.json()["webhook_secret"]
    secrets = {
        "first webhook secret": cohort["webhook_secret"],
        "current webhook secret": current,
        "JWT_SECRET": JWT_SECRET,
        "admin token": admin["Authorization"].split()[1],
        "system token": system["Authorization"].split()[1],
        "Cal.com API key": "cal_live_leak0123456789abcdef",
    }
    connected = await client.put(
        f"/v1/cohorts/{cohort['id']}/calcom-connection",
        json={"api_key": secrets["Cal.com API key"], "base_url": UNREACHABLE_CALCOM},
        headers=admin,
    )
    url = f"/webhooks/calcom/{cohort['id']}"
    raw = encode(booking(uid="uid-leak", email="jane.doe@example.com"))
    json_type = {"Content-Type": "application/json"}
    problems: list[Response] = [
        # The secret where a token belongs, and a token where a signature belongs.
        await client.get(
            f"/v1/cohorts/{cohort['id']}", headers={"Authorization": f"Bearer {current}"}
        ),
        await client.post(
            url, content=raw, headers={**json_type, "X-Cal-Signature-256": secrets["admin token"]}
        ),
        await client.post(url, content=raw, headers={**json_type, "X-Cal-Signature-256": current}),
        # A token made with the right secret but tampered, and one cut short.
        await client.get(
            f"/v1/cohorts/{cohort['id']}",
            headers={"Authorization": admin["Authorization"][:-4] + "AAAA"},
        ),
        await client.get(
            f"/v1/cohorts/{cohort['id']}", headers={"Authorization": admin["Authorization"][:-40]}
        ),
        # An authentic delivery the service refuses, and one it cannot parse.
        await deliver(client, cohort, {"triggerEvent": "BOOKING_CREATED"}, secret=current),
        await client.post(
            url, content=b"{", headers={**json_type, "X-Cal-Signature-256": sign(b"{", current)}
        ),
        # Reconciling with a Cal.com that cannot be reached.
        await client.post(f"/v1/cohorts/{cohort['id']}/reconcile", json={}, headers=admin),
    ]
    applied = await deliver(client, cohort, raw, secret=current)
    listings = [
        await client.get(path, headers=admin)
        for path in (
            f"/v1/cohorts/{cohort['id']}",
            f"/v1/organizations/{org['id']}/cohorts",
            f"/v1/cohorts/{cohort['id']}/webhook-events",
            f"/v1/applications/{application['id']}/history",
        )
    ]

    assert connected.status_code == 200, connected.text
    assert [r.status_code for r in problems] == [401, 401, 401, 401, 401, 422, 400, 424]
    assert applied.status_code == 200, applied.text
    assert all(r.status_code == 200 for r in listings)
    assert len(listings[2].json()["items"]) == 3
    exposed = {
        where: [name for name, secret in secrets.items() if secret in text]
        for where, text in [
            ("logs", caplog.text),
            *((f"problem {n}", r.text) for n, r in enumerate(problems)),
            ("answer to the delivery", applied.text),
            ("answer to the connection", connected.text),
            *((f"listing {n}", r.text) for n, r in enumerate(listings)),
        ]
    }
    assert exposed == {where: [] for where in exposed}


async def test_database_errors_carry_no_statement_parameters(app: FastAPI) -> None:
    # Logged errors are SQLAlchemy's; with parameters they would show secrets and raw bodies.
    async with app.state.engine.connect() as connection:
        await connection.execute(text("CREATE TEMP TABLE kept (id int PRIMARY KEY, secret text)"))
        await connection.execute(text("INSERT INTO kept VALUES (1, 'first-secret')"))
        with pytest.raises(DBAPIError) as raised:
            await connection.execute(
                text("INSERT INTO kept VALUES (1, :secret)"), {"secret": "second-secret"}
            )

    assert "duplicate key" in str(raised.value)
    assert "second-secret" not in str(raised.value)
