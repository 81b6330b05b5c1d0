"""Cal.com deliveries for tests, built from the real sample bodies in shared/calcom/."""

import copy
import json
from pathlib import Path
from typing import Any

from httpx import AsyncClient, Response

from scheduling_service.calcom.signature import sign

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "calcom"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of shared/calcom/<name>.json."""
    document: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return copy.deepcopy(document)


def encode(document: dict[str, Any]) -> bytes:
    # Cal.com sends compact JSON; the signature covers these exact bytes.
    return json.dumps(document, separators=(",", ":")).encode()


def booking(
    trigger: str = "BOOKING_CREATED",
    *,
    uid: str = "uid-1",
    email: str = "jane.doe@example.com",
    name: str = "Jane Doe",
    start: str = "2026-05-12T14:00:00Z",
    end: str = "2026-05-12T14:30:00Z",
    created_at: str = "2026-05-04T09:12:45.123Z",
    reschedule_uid: str | None = None,
    metadata: dict[str, Any] | None = None,
    seats: int | None = None,
    attendees: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A delivery shaped like the samples, with the fields tests vary."""
    source = {
        "BOOKING_CREATED": "booking_created",
        "BOOKING_RESCHEDULED": "booking_rescheduled",
        "BOOKING_CANCELLED": "booking_cancelled",
    }[trigger]
    document = sample(source)
    payload = document["payload"]
    document["createdAt"] = created_at
    payload["uid"] = uid
    payload["startTime"] = start
    payload["endTime"] = end
    payload["responses"]["email"]["value"] = email
    payload["responses"]["name"]["value"] = name
    payload["attendees"] = attendees or [
        {"email": email, "name": name, "timeZone": "America/New_York"}
    ]
    payload["seatsPerTimeSlot"] = seats
    if trigger == "BOOKING_RESCHEDULED":
        payload["rescheduleUid"] = reschedule_uid
    if metadata is not None:
        payload["metadata"] = metadata
    elif trigger != "BOOKING_CANCELLED":
        payload["metadata"] = {"videoCallUrl": f"https://app.cal.com/video/{uid}"}
    return document


async def deliver(
    client: AsyncClient,
    cohort: dict[str, Any],
    body: dict[str, Any] | bytes,
    *,
    secret: str | None = None,
    signature: str | None = None,
) -> Response:
    """POST a delivery to the cohort's webhook URL, signed as Cal.com would sign it."""
    raw = body if isinstance(body, bytes) else encode(body)
    headers = {"Content-Type": "application/json", "X-Cal-Webhook-Version": "2021-10-20"}
    headers["X-Cal-Signature-256"] = signature or sign(raw, secret or cohort["webhook_secret"])
    return await client.post(f"/webhooks/calcom/{cohort['id']}", content=raw, headers=headers)
