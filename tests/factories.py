"""Plain typed factories that build data through the REST API and the webhook, as the SPA
and Cal.com would; the one check of a problem answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from httpx import AsyncClient, Response

from tests.calcom_bodies import booking, deliver

if TYPE_CHECKING:  # tests/conftest.py builds its fixtures with these factories
    from tests.conftest import Tokens

# Two, so that alerts are seen to go to each admin.
ADMINS = ["ada@acme.example", "grace@acme.example"]
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
    name: str = "Acme",
    admin_emails: list[str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/organizations",
        json={
            "name": name,
            "admin_emails": ADMINS if admin_emails is None else admin_emails,
        },
        headers=tokens("system_admin"),
    )
    assert response.status_code == 201, response.text
    org: dict[str, Any] = response.json()
    return org


async def create_cohort(
    client: AsyncClient, tokens: Tokens, org_id: str, name: str = "Spring 2026"
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
    email: str = "jane.doe@example.com",
    status: str | None = "waiting_first_round",
) -> dict[str, Any]:
    """By default waiting for its first round, as a booking of `calcom_bodies.booking()`
    finds it; `status=None` leaves the status to the API (`submitted`)."""
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


async def book(
    client: AsyncClient,
    cohort: dict[str, Any],
    *,
    email: str,
    name: str = "Walk In",
    start: datetime | None = None,
) -> dict[str, Any]:
    """A new booking (an ID of its own) made in Cal.com for `email`, a week ahead unless
    `start` is given; answers the webhook's JSON answer."""
    start = start or (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    uid = uuid.uuid4().hex
    document = booking(
        uid=uid,
        email=email,
        name=name,
        start=start.strftime(ISO_SECONDS),
        end=(start + timedelta(minutes=30)).strftime(ISO_SECONDS),
        created_at=datetime.now(UTC).isoformat(),
        metadata={"videoCallUrl": f"https://video.example.org/{uid}"},
    )
    response = await deliver(client, cohort, document)
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
        client,
        tokens,
        cohort,
        name=f"{name} Applicant",
        email=f"applicant@{slug}.example.org",
        status=None,
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


# Reading back what the API shows of them.


async def get_application(
    client: AsyncClient, tokens: Tokens, application: dict[str, Any]
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/applications/{application['id']}",
        headers=tokens("system_admin"),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def history(
    client: AsyncClient, tokens: Tokens, application: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/applications/{application['id']}/history",
        headers=tokens("system_admin"),
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["items"]
    return entries


async def events(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any], **params: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events",
        params=params,
        headers=tokens("admin", cohort["organization_id"]),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def open_orphans(client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]) -> int:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/orphaned-interviews/count",
        headers=tokens("member", cohort["organization_id"]),
    )
    assert response.status_code == 200, response.text
    count: int = response.json()["open"]
    return count
