"""A fake Cal.com API v2 (`GET /v2/bookings`, version 2024-08-13), served over real HTTP.

It is the contract reconciliation depends on, so it serves what Cal.com's reference and source
document (README, "Reconciliation with Cal.com"): a bearer API key (401 otherwise), the
`cal-api-version` header, the filters `afterUpdatedAt`, `afterCreatedAt`, `attendeeEmail`,
`eventTypeIds` and `status`, sorting by `sortUpdatedAt`/`sortCreated`, `take` (1-250, default
100) and `skip`, and `{"status": "success", "data": [...], "pagination": {...}}`. A booking
never updated has no `updatedAt`. A reschedule makes a new booking that names the old one
(`rescheduledFromUid`), the old one being cancelled with `rescheduledToUid`; a seated
booking lists each attendee with a `seatUid`, and one who gives up a seat disappears.
Reasons are the booking's `cancellationReason` and the new booking's `reschedulingReason`;
a seat given up keeps its reason nowhere the API shows. A host moving a whole seated session
(`move_session`) does what Cal.com's source does, described there.

Each change also records the webhook Cal.com would have sent for it (`webhooks`), built with
`tests.calcom_bodies`: what a receiver that was up would have got.
"""

import asyncio
import functools
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.calcom_bodies import booking as webhook_body
from tests.server import free_port

API_KEY = "cal_live_fake0123456789"
API_VERSION = "2024-08-13"
MAX_TAKE = 250


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeCalcom:
    def __init__(self) -> None:
        self.bookings: dict[str, dict[str, Any]] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.seats: dict[str, int] = {}
        self.requests: list[dict[str, str]] = []
        # Answers served before any real one: (status, headers).
        self.failures: deque[tuple[int, dict[str, str]]] = deque()
        self.delay_seconds = 0.0
        self.clock = datetime.now(UTC) - timedelta(hours=1)
        self._next_id = 1000
        self._lock = threading.Lock()

    # Changes, as Cal.com's users make them.

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def _new(
        self, email: str, name: str, start: datetime, minutes: int, event_type_id: int
    ) -> dict[str, Any]:
        uid = uuid.uuid4().hex[:22]
        self._next_id += 1
        url = f"https://app.cal.com/video/{uid}"
        return {
            "id": self._next_id,
            "uid": uid,
            "title": f"Interview between Host and {name}",
            "description": "",
            "hosts": [{"id": 1, "name": "Host", "timeZone": "Europe/London"}],
            "status": "accepted",
            "start": _iso(start),
            "end": _iso(start + timedelta(minutes=minutes)),
            "duration": minutes,
            "eventTypeId": event_type_id,
            "eventType": {"id": event_type_id, "slug": "interview"},
            "meetingUrl": url,
            "location": url,
            "absentHost": False,
            "createdAt": _iso(self._tick()),
            "updatedAt": None,
            "metadata": {"videoCallUrl": url},
            "attendees": [
                {"name": name, "email": email, "timeZone": "America/New_York", "absent": False}
            ],
            "guests": [],
            "bookingFieldsResponses": {"email": email, "name": name},
        }

    def create(
        self, email: str, name: str, start: datetime, *, minutes: int = 30, event_type_id: int = 1
    ) -> str:
        with self._lock:
            booking = self._new(email, name, start, minutes, event_type_id)
            self.bookings[booking["uid"]] = booking
            self._webhook("BOOKING_CREATED", booking, email=email, name=name)
            return str(booking["uid"])

    def reschedule(
        self, uid: str, start: datetime, reason: str = "Clash with another interview"
    ) -> str:
        with self._lock:
            old = self.bookings[uid]
            attendee = old["attendees"][0]
            new = self._new(
                attendee["email"], attendee["name"], start, old["duration"], old["eventTypeId"]
            )
            new.update(rescheduledFromUid=uid, reschedulingReason=reason)
            new["bookingFieldsResponses"]["rescheduleReason"] = reason
            old.update(status="cancelled", rescheduledToUid=new["uid"], updatedAt=new["createdAt"])
            self.bookings[new["uid"]] = new
            self._webhook(
                "BOOKING_RESCHEDULED",
                new,
                email=attendee["email"],
                name=attendee["name"],
                reschedule_uid=uid,
            )
            return str(new["uid"])

    def cancel(self, uid: str, reason: str = "Cannot make it") -> None:
        with self._lock:
            booking = self.bookings[uid]
            booking.update(
                status="cancelled", cancellationReason=reason, updatedAt=_iso(self._tick())
            )
            attendee = booking["attendees"][0]
            self._webhook(
                "BOOKING_CANCELLED", booking, email=attendee["email"], name=attendee["name"]
            )

    def create_seated(self, email: str, name: str, start: datetime, *, seats: int = 4) -> str:
        with self._lock:
            booking = self._new(email, name, start, 30, 2)
            # The event type's setting: not part of the API's booking.
            self.seats[booking["uid"]] = seats
            booking["attendees"] = [self._seat(email, name)]
            del booking["bookingFieldsResponses"]
            self.bookings[booking["uid"]] = booking
            self._webhook("BOOKING_CREATED", booking, email=email, name=name, seats=seats)
            return str(booking["uid"])

    def take_seat(self, uid: str, email: str, name: str) -> None:
        with self._lock:
            booking = self.bookings[uid]
            booking["attendees"].append(self._seat(email, name))
            booking["updatedAt"] = _iso(self._tick())
            self._webhook(
                "BOOKING_CREATED",
                booking,
                email=email,
                name=name,
                seats=self.seats[uid],
            )

    def leave_seat(self, uid: str, email: str, reason: str | None = None) -> None:
        with self._lock:
            booking = self.bookings[uid]
            [leaver] = [a for a in booking["attendees"] if a["email"] == email]
            booking["attendees"].remove(leaver)
            booking["updatedAt"] = _iso(self._tick())
            first = booking["attendees"][0] if booking["attendees"] else leaver
            # Cal.com: only the leaver in `attendees`, `responses` of the booking's first attendee.
            self._webhook(
                "BOOKING_CANCELLED",
                booking,
                email=first["email"],
                name=first["name"],
                seats=self.seats[uid],
                attendees=[
                    {"email": email, "name": leaver["name"], "timeZone": leaver["timeZone"]}
                ],
                cancellation_reason=reason,
            )

    def move_session(self, uid: str, start: datetime, reason: str | None = None) -> str:
        """The host moves a whole seated session; answers the uid it is at afterwards.

        As Cal.com's `ownerRescheduleSeatedBooking` does: with no booking of the event type at
        the new time, the booking itself takes the new time (same uid; the reason goes into
        its `cancellationReason`: `moveSeatedBookingToNewTimeSlot`); with one, every seat
        moves into that booking (an attendee already there is dropped), whose own row is not
        touched (its `updatedAt` stays), and the emptied booking is cancelled, with no
        `rescheduledToUid` nor the other's `rescheduledFromUid` (`combineTwoSeatedBookings`).
        The webhook names every seat holder moved, the first one's answers in `responses`.
        """
        with self._lock:
            session = self.bookings[uid]
            holders = list(session["attendees"])
            there = [
                b
                for b in self.bookings.values()
                if b["uid"] != uid
                and b["status"] == "accepted"
                and b["eventTypeId"] == session["eventTypeId"]
                and b["start"] == _iso(start)
            ]
            if there:
                [target] = there
                present = {a["email"] for a in target["attendees"]}
                target["attendees"].extend(a for a in holders if a["email"] not in present)
                session.update(status="cancelled", attendees=[], updatedAt=_iso(self._tick()))
            else:
                target = session
                session.update(
                    start=_iso(start),
                    end=_iso(start + timedelta(minutes=session["duration"])),
                    cancellationReason=reason,
                    updatedAt=_iso(self._tick()),
                )
            first = holders[0]
            self._webhook(
                "BOOKING_RESCHEDULED",
                target,
                email=first["email"],
                name=first["name"],
                seats=self.seats[uid],
                reschedule_uid=uid,
                attendees=[
                    {"email": a["email"], "name": a["name"], "timeZone": a["timeZone"]}
                    for a in holders
                ],
                rescheduling_reason=reason,
            )
            return str(target["uid"])

    def _seat(self, email: str, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "email": email,
            "timeZone": "America/New_York",
            "absent": False,
            "seatUid": str(uuid.uuid4()),
            "bookingFieldsResponses": {"email": email, "name": name},
        }

    def _webhook(
        self,
        trigger: str,
        booking: dict[str, Any],
        cancellation_reason: str | None = None,
        rescheduling_reason: str | None = None,
        **fields: Any,
    ) -> None:
        body = webhook_body(
            trigger,
            uid=booking["uid"],
            start=booking["start"],
            end=booking["end"],
            created_at=_iso(self.clock),
            **fields,
        )
        # The reasons the API's booking shows, not the samples' own: what the person typed.
        payload = body["payload"]
        if trigger == "BOOKING_CANCELLED":
            # A seat given up leaves the booking accepted, its reason nowhere in the API.
            payload["cancellationReason"] = cancellation_reason or booking.get("cancellationReason")
        if trigger == "BOOKING_RESCHEDULED":
            reason = rescheduling_reason or booking.get("reschedulingReason")
            payload["reschedulingReason"] = reason
            payload["responses"]["rescheduleReason"]["value"] = reason
        self.webhooks.append(body)

    # The API.

    async def list_bookings(self, request: Request) -> JSONResponse:
        with self._lock:
            self.requests.append(dict(request.query_params))
            if self.failures:
                status, headers = self.failures.popleft()
                return JSONResponse(
                    {"status": "error", "error": {"code": str(status)}}, status, headers
                )
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)  # a slow Cal.com
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse(
                {
                    "status": "error",
                    "error": {"code": "UnauthorizedException", "message": "Invalid API Key"},
                },
                401,
            )
        if request.headers.get("cal-api-version") != API_VERSION:
            return JSONResponse({"status": "error", "error": {"message": "wrong version"}}, 400)
        params = request.query_params
        with self._lock:
            found = list(self.bookings.values())
        # Times compared as instants (the fake writes them all alike: UTC, milliseconds, Z).
        if "afterUpdatedAt" in params:
            after = _iso(_at(params["afterUpdatedAt"]))
            found = [b for b in found if b["updatedAt"] and b["updatedAt"] >= after]
        if "afterCreatedAt" in params:
            after = _iso(_at(params["afterCreatedAt"]))
            found = [b for b in found if b["createdAt"] >= after]
        if "attendeeEmail" in params:
            wanted_email = params["attendeeEmail"].strip().lower()
            found = [
                b for b in found if any(a["email"].lower() == wanted_email for a in b["attendees"])
            ]
        if "eventTypeIds" in params:
            wanted = {int(i) for i in params["eventTypeIds"].split(",")}
            found = [b for b in found if b["eventTypeId"] in wanted]
        if "status" in params:
            statuses = set(params["status"].split(","))
            found = [b for b in found if _status_of(b) in statuses]
        for key, field in (("sortCreated", "createdAt"), ("sortUpdatedAt", "updatedAt")):
            if key in params:
                found.sort(key=functools.partial(_sort_key, field), reverse=params[key] == "desc")
        take = int(params.get("take", 100))
        skip = int(params.get("skip", 0))
        if not 1 <= take <= MAX_TAKE or skip < 0:
            return JSONResponse({"status": "error", "error": {"message": "bad take/skip"}}, 400)
        with self._lock:
            page = [
                dict(b, attendees=[dict(a) for a in b["attendees"]])
                for b in found[skip : skip + take]
            ]
        total = len(found)
        return JSONResponse(
            {
                "status": "success",
                "data": page,
                "pagination": {
                    "totalItems": total,
                    "remainingItems": max(total - (skip + take), 0),
                    "returnedItems": len(page),
                    "itemsPerPage": take,
                    "currentPage": skip // take + 1,
                    "totalPages": -(-total // take),
                    "hasNextPage": skip + take < total,
                    "hasPreviousPage": skip > 0,
                },
            }
        )


def _sort_key(field: str, booking: dict[str, Any]) -> str:
    return str(booking[field] or "")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _status_of(booking: dict[str, Any]) -> str:
    if booking["status"] == "cancelled":
        return "cancelled"
    if booking["status"] == "pending":
        return "unconfirmed"
    return "past" if _at(booking["end"]) < datetime.now(UTC) else "upcoming"


class FakeCalcomServer:
    """The fake on 127.0.0.1, in a thread of the test process."""

    def __init__(self) -> None:
        self.calcom = FakeCalcom()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[Route("/v2/bookings", self.calcom.list_bookings)])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> "FakeCalcomServer":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the fake Cal.com API did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
