"""Bookings: each (uid, applicant email) of a cohort stored once, read and written by the
webhook path, manual matching and reconciliation alike.

Each write of a booking is one statement, defined once. Those of the webhook's hot path are
templates (`scheduling_service.writes`): batched with the delivery's other writes, or run at
once where the caller needs the booking back (`insert_if_new`, `move`), the same statement.
"""

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from asyncpg import Record
from sqlalchemy import (
    ColumnElement,
    Insert,
    String,
    Table,
    Update,
    all_,
    any_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver, writes
from scheduling_service.models import Booking, BookingState
from scheduling_service.writes import Template, Write

# Named apart from the columns and from other tables' writes (`scheduling_service.writes`).
_bookings = cast(Table, Booking.__table__)

_BOOKING_COLUMNS = (
    "cohort_id",
    "uid",
    "applicant_email",
    "applicant_name",
    "time_zone",
    "start_time",
    "end_time",
    "meeting_url",
    "state",
    "application_id",
    "rescheduled_from_id",
)

# What the webhook path reads of a booking (`BookingRow`).
_ROW_COLUMNS = (
    _bookings.c.id,
    _bookings.c.uid,
    _bookings.c.applicant_email,
    _bookings.c.state,
    _bookings.c.start_time,
    _bookings.c.end_time,
    _bookings.c.meeting_url,
    _bookings.c.application_id,
    _bookings.c.orphaned_interview_id,
)


def _booking_store(prefix: str) -> Template:
    """A template storing a booking unless (uid, applicant email) is known: it RETURNS the
    booking's ID if it stored it. Its parameters are `{prefix}id`, `{prefix}cohort_id`..."""

    def store(condition: ColumnElement[bool] | None) -> Insert:
        row = select(
            bindparam(f"{prefix}id", type_=_bookings.c.id.type),
            *(bindparam(f"{prefix}{c}", type_=_bookings.c[c].type) for c in _BOOKING_COLUMNS),
        )
        if condition is not None:
            row = row.where(condition)
        return (
            insert(_bookings)
            .from_select(["id", *_BOOKING_COLUMNS], row)
            .on_conflict_do_nothing(index_elements=["cohort_id", "uid", "applicant_email"])
            # `insert_if_new` hands it back.
            .returning(*_ROW_COLUMNS)
        )

    return store


_store_booking = _booking_store("booking_")
# The original of a reschedule, remembered in the same statement as its new booking.
_remember_booking = _booking_store("remembered_")


_FIND_QUERY = (
    select(*_ROW_COLUMNS)
    .where(_bookings.c.cohort_id == bindparam("cohort_id"), _bookings.c.uid == bindparam("uid"))
    .order_by(_bookings.c.created_at)
)
_FIND = driver.Sql(_FIND_QUERY)
_FIND_OF_EMAILS = driver.Sql(
    _FIND_QUERY.where(_bookings.c.applicant_email == any_(bindparam("emails", type_=ARRAY(String))))
)
_READ = driver.Sql(select(*_ROW_COLUMNS).where(_bookings.c.id == bindparam("booking_id")))
# An application's live bookings (active, not yet ended), the most recently created first.
_LATEST_LIVE = driver.Sql(
    select(*_ROW_COLUMNS)
    .where(
        _bookings.c.application_id == bindparam("application_id"),
        _bookings.c.state == BookingState.ACTIVE,
        _bookings.c.end_time > func.now(),
        _bookings.c.uid != all_(bindparam("uids", type_=ARRAY(String))),
    )
    .order_by(_bookings.c.created_at.desc(), _bookings.c.id.desc())
    .limit(1)
)
_LOCK_STATE = driver.Sql(
    select(_bookings.c.state).where(_bookings.c.id == bindparam("booking_id")).with_for_update()
)


def _set_state(condition: ColumnElement[bool] | None) -> Update:
    statement = update(_bookings).where(_bookings.c.id == bindparam("state_booking_id"))
    if condition is not None:
        statement = statement.where(condition)
    return statement.values(state=bindparam("state_state"))


def _set_state_from(condition: ColumnElement[bool] | None) -> Update:
    return _set_state(condition).where(_bookings.c.state == bindparam("state_from"))


def _cancel(condition: ColumnElement[bool] | None) -> Update:
    """Cancel the booking unless it is cancelled: it RETURNS its ID if it cancelled it."""
    assert condition is None, "a gate runs unconditionally"
    return (
        update(_bookings)
        .where(
            _bookings.c.id == bindparam("cancel_booking_id"),
            _bookings.c.state != BookingState.CANCELLED,
        )
        .values(state=BookingState.CANCELLED)
        .returning(_bookings.c.id)
    )


_MOVED = {
    "start_time": bindparam("move_start_time", type_=_bookings.c.start_time.type),
    "end_time": bindparam("move_end_time", type_=_bookings.c.end_time.type),
    "meeting_url": bindparam("move_meeting_url", type_=_bookings.c.meeting_url.type),
}


def _move(condition: ColumnElement[bool] | None) -> Update:
    """Move the booking to a new time unless it is there, or cancelled: it RETURNS its ID if
    it moved it."""
    assert condition is None, "a gate runs unconditionally"
    return (
        update(_bookings)
        .where(
            _bookings.c.id == bindparam("move_booking_id"),
            _bookings.c.state != BookingState.CANCELLED,
            or_(*(_bookings.c[column].is_distinct_from(value) for column, value in _MOVED.items())),
        )
        .values(**_MOVED)
        # `move` hands it back.
        .returning(*_ROW_COLUMNS)
    )


@dataclass(frozen=True)
class BookingRow:
    """A booking as the webhook path reads it (no ORM object)."""

    id: uuid.UUID
    uid: str
    applicant_email: str
    state: BookingState
    start_time: datetime | None
    end_time: datetime | None
    meeting_url: str | None
    application_id: uuid.UUID | None
    orphaned_interview_id: uuid.UUID | None


def _rows(rows: list[Record]) -> list[BookingRow]:
    # asyncpg reads the state as text, not through `StringEnum`.
    return [BookingRow(**{**row, "state": BookingState(row["state"])}) for row in rows]


class BookingRepository:
    def __init__(self, executor: driver.Executor) -> None:
        self.executor = executor

    @property
    def session(self) -> AsyncSession:
        return driver.session_of(self.executor)

    async def insert_if_new(
        self,
        *,
        cohort_id: uuid.UUID,
        uid: str,
        applicant_email: str,
        state: BookingState,
        applicant_name: str | None = None,
        time_zone: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        meeting_url: str | None = None,
        rescheduled_from_id: uuid.UUID | None = None,
    ) -> BookingRow | None:
        """`store_write` at once: the booking stored, or None when (uid, applicant email) is
        known to the cohort already.

        A concurrent insert of the same booking waits on the unique index until the first
        transaction ends, so two deliveries of one booking never both apply it.
        """
        write = self.store_write(
            cohort_id=cohort_id,
            uid=uid,
            applicant_email=applicant_email,
            state=state,
            applicant_name=applicant_name,
            time_zone=time_zone,
            start_time=start_time,
            end_time=end_time,
            meeting_url=meeting_url,
            rescheduled_from_id=rescheduled_from_id,
        )
        return await self._returned(write)

    async def _returned(self, write: Write) -> BookingRow | None:
        """Run a write that RETURNS the booking's row, if it wrote one."""
        rows = _rows(await writes.fetch(self.executor, write))
        return rows[0] if rows else None

    @staticmethod
    def store_write(
        *,
        cohort_id: uuid.UUID,
        uid: str,
        applicant_email: str,
        state: BookingState,
        applicant_name: str | None = None,
        time_zone: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        meeting_url: str | None = None,
        application_id: uuid.UUID | None = None,
        rescheduled_from_id: uuid.UUID | None = None,
        remembered: bool = False,
    ) -> Write:
        """`insert_if_new` as a write: a gate (see `PendingWrites`) when it must be new for the
        rest to happen. `remembered`: the second booking of one flush (its parameters are
        named apart), one that may be known already."""
        prefix = "remembered_" if remembered else "booking_"
        values = {
            "id": uuid.uuid4(),
            "cohort_id": cohort_id,
            "uid": uid,
            "applicant_email": applicant_email,
            "applicant_name": applicant_name,
            "time_zone": time_zone,
            "start_time": start_time,
            "end_time": end_time,
            "meeting_url": meeting_url,
            "state": state,
            "application_id": application_id,
            "rescheduled_from_id": rescheduled_from_id,
        }
        return Write(
            _remember_booking if remembered else _store_booking,
            {f"{prefix}{name}": value for name, value in values.items()},
        )

    async def lock_state(self, booking_id: uuid.UUID) -> BookingState:
        """Lock the booking and read its state (another event may have changed it)."""
        row = await driver.fetchrow(self.executor, _LOCK_STATE, {"booking_id": booking_id})
        assert row is not None, "bookings are never deleted while their cohort exists"
        return BookingState(row["state"])

    @staticmethod
    def state_write(
        booking_id: uuid.UUID, state: BookingState, *, only_from: BookingState | None = None
    ) -> Write:
        """Set the booking's state (only from `only_from`, when given)."""
        values: dict[str, Any] = {"state_booking_id": booking_id, "state_state": state}
        if only_from is None:
            return Write(_set_state, values)
        values["state_from"] = only_from
        return Write(_set_state_from, values)

    @staticmethod
    def cancel_write(booking_id: uuid.UUID) -> Write:
        """Cancel the booking, unless it is cancelled already: a gate (see `PendingWrites`)."""
        return Write(_cancel, {"cancel_booking_id": booking_id})

    @staticmethod
    def move_write(
        booking_id: uuid.UUID, start_time: datetime, end_time: datetime, meeting_url: str | None
    ) -> Write:
        """Move the booking (a seated session moved under its own uid), unless it is at that
        time already or cancelled: a gate (see `PendingWrites`)."""
        return Write(
            _move,
            {
                "move_booking_id": booking_id,
                "move_start_time": start_time,
                "move_end_time": end_time,
                "move_meeting_url": meeting_url,
            },
        )

    async def move(
        self,
        booking_id: uuid.UUID,
        start_time: datetime,
        end_time: datetime,
        meeting_url: str | None,
    ) -> BookingRow | None:
        """`move_write` at once; the booking moved, or None when it was not."""
        return await self._returned(self.move_write(booking_id, start_time, end_time, meeting_url))

    async def find(
        self, cohort_id: uuid.UUID, uid: str, emails: Collection[str] | None = None
    ) -> list[BookingRow]:
        """The bookings of `uid`, optionally only those of the given attendees' emails."""
        values: dict[str, Any] = {"cohort_id": cohort_id, "uid": uid}
        if emails is None:
            return _rows(await driver.fetch(self.executor, _FIND, values))
        values["emails"] = list(emails)
        return _rows(await driver.fetch(self.executor, _FIND_OF_EMAILS, values))

    async def latest_live(
        self, application_id: uuid.UUID, *, besides: Collection[str]
    ) -> BookingRow | None:
        """The application's most recently created live booking (active, not yet ended)
        whose uid is none of `besides`."""
        values = {"application_id": application_id, "uids": list(besides)}
        rows = _rows(await driver.fetch(self.executor, _LATEST_LIVE, values))
        return rows[0] if rows else None

    async def attach_orphan_bookings(self, orphan_id: uuid.UUID, application_id: uuid.UUID) -> None:
        """Every booking of the orphan now belongs to the application."""
        await self.session.execute(
            update(Booking)
            .where(Booking.orphaned_interview_id == orphan_id)
            .values(application_id=application_id)
            .execution_options(synchronize_session="fetch")
        )

    async def refresh(self, booking: BookingRow) -> BookingRow:
        """Re-read the booking: another transaction may have attached it since it was read."""
        (fresh,) = _rows(await driver.fetch(self.executor, _READ, {"booking_id": booking.id}))
        return fresh

    async def flush(self) -> None:
        await self.session.flush()
