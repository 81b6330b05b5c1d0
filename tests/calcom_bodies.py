"""Cal.com deliveries for tests, built from the real sample bodies in shared/calcom/."""

import copy
import json
from pathlib import Path
from typing import Any

from httpx import AsyncClient, Response

from scheduling_service.calcom.signature import sign

# shared/ sits beside the repository; `make mutate` runs the tests from a copy of it in
# mutants/, one folder deeper, hence the search upwards.
SAMPLES = next(
    folder / "shared" / "calcom"
    for folder in Path(__file__).resolve().parents
    if (folder / "shared" / "calcom").is_dir()
)


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


def attendee(email: str, name: str | None = None) -> dict[str, Any]:
    """One entry of `payload.attendees`, as Cal.com writes it."""
    return {"email": email, "name": name or email.split("@")[0].title(), "timeZone": "Europe/Paris"}


def seated(
    trigger: str = "BOOKING_CREATED",
    *,
    uid: str,
    responses_email: str,
    attendees: list[str],
    seats: int = 5,
    **fields: Any,
) -> dict[str, Any]:
    """A seated event's delivery (`seatsPerTimeSlot` set), shaped as Cal.com builds it
    (shared/calcom/PROTOCOL.md): all seats share `uid`; `attendees` lists the seat taken, the
    seat cancelled, the seat an attendee moves, or every seat holder when the host moves the
    whole session (under the same uid, or into the uid of the booking at the new time);
    `responses_email` is the new seat's booker on creation, an attendee moving their own seat,
    but the booking's first attendee on a seat's cancellation or the host's session move. A
    new seat's `metadata` carries the earlier seats' (pass it in `metadata`)."""
    return booking(
        trigger,
        uid=uid,
        email=responses_email,
        name=responses_email.split("@")[0].title(),
        seats=seats,
        attendees=[attendee(email) for email in attendees],
        **fields,
    )


def no_show_updated(
    booking_uid: str,
    marks: dict[str, bool],
    *,
    created_at: str = "2026-05-12T15:00:00.000Z",
) -> dict[str, Any]:
    """`BOOKING_NO_SHOW_UPDATED` as Cal.com sends it when a host marks attendees absent (or
    clears the mark): `handleMarkNoShow` sends `{message, attendees: [{email, noShow}],
    bookingUid, bookingId}` in the default envelope (PROTOCOL.md style source in the README)."""
    attendees = [{"email": email, "noShow": absent} for email, absent in marks.items()]
    if len(attendees) == 1:
        [(email, absent)] = marks.items()
        message = f"{email} {'marked' if absent else 'unmarked'} as no-show"
    else:
        message = "No-show updated"
    return {
        "triggerEvent": "BOOKING_NO_SHOW_UPDATED",
        "createdAt": created_at,
        "payload": {
            "message": message,
            "attendees": attendees,
            "bookingUid": booking_uid,
            "bookingId": 4242,
        },
    }


async def deliver(
    client: AsyncClient,
    cohort: dict[str, Any],
    body: dict[str, Any] | bytes,
    *,
    secret: str | None = None,
    signature: str | None = None,
    content_type: str = "application/json",
) -> Response:
    """POST a delivery to the cohort's webhook URL, signed as Cal.com would sign it (a custom
    payload template that is not JSON is sent as `application/x-www-form-urlencoded`)."""
    raw = body if isinstance(body, bytes) else encode(body)
    headers = {"Content-Type": content_type, "X-Cal-Webhook-Version": "2021-10-20"}
    headers["X-Cal-Signature-256"] = signature or sign(raw, secret or cohort["webhook_secret"])
    return await client.post(f"/webhooks/calcom/{cohort['id']}", content=raw, headers=headers)
