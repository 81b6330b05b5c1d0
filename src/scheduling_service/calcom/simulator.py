"""Deliveries shaped like Cal.com's, for `scheduling-service simulate`.

An admin checks a cohort's set-up (URL, secret, applicant matching) by sending what Cal.com
would send for a booking, without booking a real interview. The bodies follow Cal.com's
default webhook payload (version 2021-10-20), the fields of shared/calcom/*.json.
"""

import json
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from scheduling_service.calcom.delivery import Trigger
from scheduling_service.calcom.signature import sign

WEBHOOK_VERSION = "2021-10-20"
_UID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Simulated:
    trigger: Trigger
    uid: str
    body: bytes


def new_uid() -> str:
    """A booking uid like Cal.com's: 22 letters and digits."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(22))


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def booking_delivery(
    *,
    email: str,
    name: str,
    start: datetime,
    minutes: int = 30,
    reschedule_uid: str | None = None,
    cancel_uid: str | None = None,
    now: datetime | None = None,
) -> Simulated:
    """A BOOKING_CREATED delivery; BOOKING_RESCHEDULED of `reschedule_uid`, or
    BOOKING_CANCELLED of `cancel_uid`, when given."""
    if reschedule_uid and cancel_uid:
        raise ValueError("a delivery reschedules or cancels, not both")
    trigger = (
        Trigger.BOOKING_CANCELLED
        if cancel_uid
        else Trigger.BOOKING_RESCHEDULED
        if reschedule_uid
        else Trigger.BOOKING_CREATED
    )
    uid = cancel_uid or new_uid()
    end = start + timedelta(minutes=minutes)
    payload: dict[str, Any] = {
        "bookerUrl": "https://cal.com",
        "title": f"Interview between scheduling-service simulator and {name}",
        "startTime": _time(start),
        "endTime": _time(end),
        "additionalNotes": "",
        "type": "interview",
        "description": "",
        "eventTypeId": 0,
        "seatsPerTimeSlot": None,
        "organizer": {
            "id": 0,
            "name": "scheduling-service simulator",
            "email": "simulator@localhost",
            "username": "simulator",
            "timeZone": "UTC",
            "language": {"locale": "en"},
            "timeFormat": "h:mma",
            "utcOffset": 0,
        },
        "attendees": [
            {
                "email": email,
                "name": name,
                "firstName": "",
                "lastName": "",
                "timeZone": "UTC",
                "language": {"locale": "en"},
                "utcOffset": 0,
            }
        ],
        "customInputs": {},
        "responses": {
            "name": {"label": "your_name", "value": name, "isHidden": False},
            "email": {"label": "email_address", "value": email, "isHidden": False},
        },
        "userFieldsResponses": {},
        "location": "integrations:daily",
        "iCalUID": f"{uid}@Cal.com",
        "uid": uid,
        "length": minutes,
        "status": "ACCEPTED",
    }
    if trigger is Trigger.BOOKING_CANCELLED:
        # Cal.com sends no metadata on cancellation.
        payload.update(
            status="CANCELLED",
            cancellationReason="sent by scheduling-service simulate",
            cancelledBy=email,
            requestReschedule=False,
        )
    else:
        payload["metadata"] = {"videoCallUrl": f"https://app.cal.com/video/{uid}"}
    if trigger is Trigger.BOOKING_RESCHEDULED:
        payload.update(rescheduleUid=reschedule_uid, rescheduledBy=email)
    envelope = {
        "triggerEvent": trigger.value,
        "createdAt": _time(now or datetime.now(UTC)),
        "payload": payload,
    }
    # Compact, as Cal.com sends it; the signature covers these exact bytes.
    body = json.dumps(envelope, separators=(",", ":")).encode()
    return Simulated(trigger, uid, body)


def send(base_url: str, cohort_id: str, secret: str, simulated: Simulated) -> httpx.Response:
    """POST the delivery to the cohort's webhook URL, signed as Cal.com signs it."""
    return httpx.post(
        f"{base_url.rstrip('/')}/webhooks/calcom/{cohort_id}",
        content=simulated.body,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign(simulated.body, secret),
            "X-Cal-Webhook-Version": WEBHOOK_VERSION,
        },
        timeout=30,
    )
