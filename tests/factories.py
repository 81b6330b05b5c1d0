"""Plain typed factories that build data through the REST API, as the SPA would."""

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient, Response

from tests.conftest import Tokens

PROBLEM_TYPE_PREFIX = "urn:scheduling-service:problem:"
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"


def assert_problem(response: Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status` (and the `type` ending in `slug`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), (
        response.headers["content-type"]
    )
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["type"].startswith(PROBLEM_TYPE_PREFIX), body["type"]
    if slug is not None:
        assert body["type"] == PROBLEM_TYPE_PREFIX + slug
    return body


async def create_org(
    client: AsyncClient,
    tokens: Tokens,
    name: str = "Acme Fellowship",
    admin_emails: list[str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/organizations",
        json={
            "name": name,
            "admin_emails": ["admin@acme.example.org"] if admin_emails is None else admin_emails,
        },
        headers=tokens("system_admin"),
    )
    assert response.status_code == 201, response.text
    org: dict[str, Any] = response.json()
    return org


async def create_cohort(
    client: AsyncClient, tokens: Tokens, org_id: str, name: str = "Spring 2027"
) -> dict[str, Any]:
    """Answers the cohort as created, with its `webhook_secret`."""
    response = await client.post(
        f"/v1/organizations/{org_id}/cohorts",
        json={"name": name},
        headers=tokens("system_admin"),
    )
    assert response.status_code == 201, response.text
    cohort: dict[str, Any] = response.json()
    return cohort


async def create_application(
    client: AsyncClient,
    tokens: Tokens,
    cohort: dict[str, Any],
    *,
    name: str = "Jane Doe",
    email: str = "jane.doe@example.org",
    status: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"applicant_name": name, "contact_email": email}
    if status is not None:
        body["status"] = status
    response = await client.post(
        f"/v1/cohorts/{cohort['id']}/applications",
        json=body,
        headers=tokens("admin", cohort["organization_id"]),
    )
    assert response.status_code == 201, response.text
    application: dict[str, Any] = response.json()
    return application


async def move_status(
    client: AsyncClient,
    tokens: Tokens,
    application: dict[str, Any],
    org_id: str,
    status: str,
    reason: str | None = None,
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/applications/{application['id']}/status",
        json={"status": status, "reason": reason},
        headers=tokens("admin", org_id),
    )
    assert response.status_code == 200, response.text
    moved: dict[str, Any] = response.json()
    return moved


def booking_body(
    *,
    email: str,
    name: str = "Walk In",
    uid: str | None = None,
    start: datetime | None = None,
    minutes: int = 30,
    trigger: str = "BOOKING_CREATED",
) -> bytes:
    """A minimal Cal.com booking delivery (the 2021-10-20 envelope)."""
    start = start or (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    end = start + timedelta(minutes=minutes)
    uid = uid or uuid.uuid4().hex
    document = {
        "triggerEvent": trigger,
        "createdAt": datetime.now(UTC).isoformat(),
        "payload": {
            "uid": uid,
            "startTime": start.strftime(ISO_SECONDS),
            "endTime": end.strftime(ISO_SECONDS),
            "attendees": [{"email": email, "name": name, "timeZone": "Europe/London"}],
            "responses": {"name": {"value": name}, "email": {"value": email}},
            "metadata": {"videoCallUrl": f"https://video.example.org/{uid}"},
            "seatsPerTimeSlot": None,
        },
    }
    return json.dumps(document).encode()


async def deliver(client: AsyncClient, cohort_id: str, secret: str, body: bytes) -> Response:
    """Post a delivery to the cohort's webhook, signed as Cal.com signs it."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return await client.post(
        f"/webhooks/calcom/{cohort_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Cal-Signature-256": signature},
    )


async def book(
    client: AsyncClient,
    cohort: dict[str, Any],
    *,
    email: str,
    name: str = "Walk In",
    start: datetime | None = None,
) -> dict[str, Any]:
    """A booking created in Cal.com for `email`; answers the webhook's JSON answer."""
    response = await deliver(
        client,
        cohort["id"],
        cohort["webhook_secret"],
        booking_body(email=email, name=name, start=start),
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def create_orphan(
    client: AsyncClient, cohort: dict[str, Any], email: str = "stranger@example.org"
) -> str:
    """A booking by someone with no application: answers the orphaned interview's ID."""
    answer = await book(client, cohort, email=email, name="Stranger Danger")
    assert answer["outcome"] == "orphaned", answer
    orphan_id: str = answer["orphaned_interview_id"]
    return orphan_id


@dataclass(frozen=True)
class Tenant:
    """An organization with one cohort, one application, one open orphaned interview, and a
    Cal.com API connection."""

    org: dict[str, Any]
    cohort: dict[str, Any]
    application: dict[str, Any]
    orphan_id: str
    event_id: str
    """The event-log entry of the booking that made the orphan."""

    @property
    def org_id(self) -> str:
        org_id: str = self.org["id"]
        return org_id

    def ids(self) -> dict[str, str]:
        """The values for `{org}`, `{cohort}`, `{application}` and `{orphan}` in a path."""
        return {
            "org": self.org_id,
            "cohort": self.cohort["id"],
            "application": self.application["id"],
            "orphan": self.orphan_id,
            "event": self.event_id,
        }


UNREACHABLE_CALCOM = "http://127.0.0.1:9"


async def create_tenant(client: AsyncClient, tokens: Tokens, name: str) -> Tenant:
    slug = name.lower()
    org = await create_org(client, tokens, name=name, admin_emails=[f"admin@{slug}.example.org"])
    cohort = await create_cohort(client, tokens, org["id"], f"{name} cohort")
    application = await create_application(
        client, tokens, cohort, name=f"{name} Applicant", email=f"applicant@{slug}.example.org"
    )
    orphan_id = await create_orphan(client, cohort, email=f"walk-in@{slug}.example.org")
    connected = await client.put(
        f"/v1/cohorts/{cohort['id']}/calcom-connection",
        # Nothing listens there: reconciling answers 424 at once, after every check.
        json={"api_key": f"cal_live_{slug}", "base_url": UNREACHABLE_CALCOM},
        headers=tokens("admin", org["id"]),
    )
    assert connected.status_code == 200, connected.text
    events = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events", headers=tokens("admin", org["id"])
    )
    [event] = events.json()["items"]
    return Tenant(org, cohort, application, orphan_id, event["id"])
