"""What a cohort looks like to its admins, comparable between two cohorts fed the same
bookings: applications, their history, orphaned interviews and the alerts in the outbox,
without what necessarily differs (IDs, times of processing, and the cause)."""

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

_VOLATILE = {
    "id",
    "at",
    "event_id",
    "cause",
    "application_id",
    "cohort_id",
    "created_at",
    "updated_at",
}


def _strip(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _VOLATILE}


def _all(
    client: httpx.Client, path: str, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": "200", **({"cursor": cursor} if cursor else {})}
        answer = client.get(path, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _orphan_view(orphan: dict[str, Any]) -> dict[str, Any]:
    view = _strip({k: v for k, v in orphan.items() if k not in ("resolved_at", "resolved_by")})
    # Candidates are applications of the orphan's own cohort: their IDs and times differ.
    view["candidates"] = [
        {**candidate, "application": _strip(candidate["application"])}
        for candidate in view.get("candidates", [])
    ]
    return view


def cohort_view(client: httpx.Client, headers: dict[str, str], cohort_id: str) -> dict[str, Any]:
    applications = {}
    for application in _all(client, f"/v1/cohorts/{cohort_id}/applications", headers):
        history = client.get(
            f"/v1/applications/{application['id']}/history",
            params={"limit": "200"},
            headers=headers,
        )
        assert history.status_code == 200, history.text
        view = _strip(application)
        view["pipeline"] = _strip(view["pipeline"])
        view["history"] = [_strip(entry) for entry in history.json()["items"]]
        applications[application["contact_email"]] = view
    orphans = sorted(
        (
            _orphan_view(o)
            for state in ("open", "cancelled", "matched", "dismissed")
            for o in _all(
                client, f"/v1/cohorts/{cohort_id}/orphaned-interviews", headers, state=state
            )
        ),
        key=lambda o: (o["booking_uid"], o["applicant_email"]),
    )
    return {"applications": applications, "orphans": orphans}


async def alerts(database_url: str, cohort_id: str) -> list[tuple[str, str, int]]:
    """(kind, recipient, orphans named) of each outbox message of the cohort."""
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT kind, recipient, cardinality(orphaned_interview_ids) FROM outbox_messages "
                "WHERE cohort_id = :cohort ORDER BY kind, recipient, 3"
            ),
            {"cohort": cohort_id},
        )
        found = [(str(k), str(r), int(n)) for k, r, n in rows]
    await engine.dispose()
    return found
