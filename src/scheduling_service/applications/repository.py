import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any, cast

from asyncpg import Record
from sqlalchemy import (
    ColumnElement,
    Insert,
    Table,
    Update,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver
from scheduling_service.bookings.effects import BookingChange, Cause, InterviewSlot, history_values
from scheduling_service.db import constraint_of
from scheduling_service.errors import Conflict
from scheduling_service.models import (
    Application,
    ApplicationEmailAlias,
    ApplicationSearchTerms,
    HistoryEntry,
    HistoryKind,
)
from scheduling_service.pagination import Keyset, split_page
from scheduling_service.pipeline import Status
from scheduling_service.writes import Write

_UNIQUE_EMAIL = "uq_applications_cohort_id_contact_email"

# The webhook's hot path reads and writes applications with Core statements built once (see
# `scheduling_service.writes`), without loading ORM objects.
_applications = cast(Table, Application.__table__)
_aliases = cast(Table, ApplicationEmailAlias.__table__)
_history = cast(Table, HistoryEntry.__table__)
_STATE = (_applications.c.id, _applications.c.status, _applications.c.interview_booking_uid)
_LOCK_BY_ID = driver.Sql(
    select(*_STATE).where(_applications.c.id == bindparam("application_id")).with_for_update()
)
_LOCK_IN_COHORT = driver.Sql(
    select(*_STATE)
    .where(
        _applications.c.id == bindparam("application_id"),
        _applications.c.cohort_id == bindparam("cohort_id"),
    )
    .with_for_update()
)
_BY_CONTACT = func.lower(_applications.c.contact_email) == bindparam("email")
# The contact email, or else a remembered alias, in one statement.
_LOCK_BY_EMAIL = driver.Sql(
    select(*_STATE)
    .where(
        _applications.c.cohort_id == bindparam("cohort_id"),
        or_(
            _BY_CONTACT,
            _applications.c.id
            == select(_aliases.c.application_id)
            .where(
                _aliases.c.cohort_id == bindparam("cohort_id"),
                _aliases.c.email == bindparam("email"),
            )
            .scalar_subquery(),
        ),
    )
    .order_by(_BY_CONTACT.desc())
    .limit(1)
    .with_for_update()
)
_INTERVIEW_COLUMNS = (
    "interview_booking_uid",
    "interview_start_time",
    "interview_end_time",
    "interview_meeting_url",
    "interview_no_show",
)
# What a no-show mark needs: the interview, as it is.
_LOCK_INTERVIEW = driver.Sql(
    select(
        _applications.c.id,
        *(_applications.c[c] for c in _INTERVIEW_COLUMNS),
    )
    .where(_applications.c.id == bindparam("application_id"))
    .with_for_update()
)
# Writes (`scheduling_service.writes`); bind parameters are named apart from the columns and
# from other tables' writes.
_HISTORY_COLUMNS = [c for c in _history.c if c.name != "at"]


def _set_status(condition: ColumnElement[bool] | None) -> Update:
    statement = update(_applications).where(_applications.c.id == bindparam("app_id"))
    if condition is not None:
        statement = statement.where(condition)
    return statement.values(status=bindparam("app_status"))


def _set_status_and_interview(condition: ColumnElement[bool] | None) -> Update:
    interview = {
        c: bindparam(f"app_{c}", type_=_applications.c[c].type) for c in _INTERVIEW_COLUMNS
    }
    return _set_status(condition).values(**interview)


def _set_no_show(condition: ColumnElement[bool] | None) -> Update:
    statement = update(_applications).where(_applications.c.id == bindparam("no_show_app_id"))
    if condition is not None:
        statement = statement.where(condition)
    return statement.values(
        interview_no_show=bindparam("no_show_marks", type_=_applications.c.interview_no_show.type)
    )


def _add_history(condition: ColumnElement[bool] | None) -> Insert:
    row = select(*(bindparam(f"history_{c.name}", type_=c.type) for c in _HISTORY_COLUMNS))
    if condition is not None:
        row = row.where(condition)
    return insert(_history).from_select([c.name for c in _HISTORY_COLUMNS], row)


@dataclass(frozen=True)
class ApplicationState:
    """What applying a booking needs of an application."""

    id: uuid.UUID
    status: Status
    interview_booking_uid: str | None


def _state(row: Record | None) -> ApplicationState | None:
    if row is None:
        return None
    # asyncpg reads the column as text, not through `StringEnum`.
    return ApplicationState(row["id"], Status(row["status"]), row["interview_booking_uid"])


# pg_trgm's unit: a shorter term has no trigram for the index to look up.
_TRIGRAM_LENGTH = 3
# Searches matching more applications than this are answered by walking the list instead.
_SEARCH_BY_ID_MAX = 1000


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ApplicationRepository:
    def __init__(self, executor: driver.Executor) -> None:
        self.executor = executor

    @property
    def session(self) -> AsyncSession:
        return driver.session_of(self.executor)

    async def add(self, application: Application) -> Application:
        try:
            async with self.session.begin_nested():
                self.session.add(application)
                await self.session.flush()
        except IntegrityError as error:
            if constraint_of(error) == _UNIQUE_EMAIL:
                raise Conflict(
                    "an application with this contact email exists in the cohort"
                ) from None
            raise
        return application

    async def get(
        self, application_id: uuid.UUID, *, for_update: bool = False
    ) -> Application | None:
        return await self.session.get(
            Application, application_id, with_for_update=for_update, populate_existing=for_update
        )

    async def lock_state(
        self, application_id: uuid.UUID, *, cohort_id: uuid.UUID | None = None
    ) -> ApplicationState | None:
        """Lock the application (of the cohort, when given) and read what a booking needs."""
        if cohort_id is None:
            row = await driver.fetchrow(
                self.executor, _LOCK_BY_ID, {"application_id": application_id}
            )
        else:
            values = {"application_id": application_id, "cohort_id": cohort_id}
            row = await driver.fetchrow(self.executor, _LOCK_IN_COHORT, values)
        return _state(row)

    async def lock_interview(self, application_id: uuid.UUID) -> InterviewSlot | None:
        """Lock the application and read its interview, with its no-show marks (None when it
        has no interview)."""
        row = await driver.fetchrow(
            self.executor, _LOCK_INTERVIEW, {"application_id": application_id}
        )
        assert row is not None, "a booking's application is never deleted"
        if row["interview_booking_uid"] is None or row["interview_start_time"] is None:
            return None
        marks = row["interview_no_show"]
        return InterviewSlot(
            row["interview_booking_uid"],
            row["interview_start_time"],
            row["interview_end_time"],
            row["interview_meeting_url"],
            # JSONB comes from asyncpg as JSON text (see `scheduling_service.driver`).
            json.loads(marks) if isinstance(marks, str) else marks,
        )

    @staticmethod
    def no_show_writes(
        application_id: uuid.UUID,
        interview: InterviewSlot,
        marks: dict[str, Any] | None,
        cause: Cause,
    ) -> tuple[Write, Write]:
        """Cal.com's no-show marks on the application's interview: its column, and its history
        entry (the interview as marked)."""
        entry = history_values(
            application_id,
            HistoryKind.NO_SHOW,
            cause,
            from_status=None,
            to_status=None,
            interview=replace(interview, no_show=marks),
        )
        values = {
            "no_show_app_id": application_id,
            # JSONB goes to asyncpg as JSON text (see `scheduling_service.driver`).
            "no_show_marks": None if marks is None else json.dumps(marks),
        }
        return Write(_set_no_show, values), HistoryRepository.add_write(entry)

    async def lock_state_by_email(
        self, cohort_id: uuid.UUID, email: str
    ) -> ApplicationState | None:
        """Lock the application whose contact email, or else a remembered alias, is `email`."""
        values = {"cohort_id": cohort_id, "email": email.strip().lower()}
        return _state(await driver.fetchrow(self.executor, _LOCK_BY_EMAIL, values))

    @staticmethod
    def update_write(application_id: uuid.UUID, values: dict[str, Any]) -> Write:
        """Set the application's status, and its interview when `values` has it."""
        named = {f"app_{column}": value for column, value in values.items()}
        named["app_id"] = application_id
        if set(values) == {"status", *_INTERVIEW_COLUMNS}:
            return Write(_set_status_and_interview, named)
        if set(values) == {"status"}:
            return Write(_set_status, named)
        raise ValueError(f"no statement writes {sorted(values)}")

    @staticmethod
    def change_writes(
        application_id: uuid.UUID, change: BookingChange, cause: Cause
    ) -> tuple[Write, Write]:
        """A booking event's change to the application: its columns, and its history entry.
        The one way a booking changes an application, whoever applies it (a delivery, a
        retry, reconciliation or a manual match)."""
        entry = history_values(
            application_id,
            change.kind,
            cause,
            from_status=change.from_status,
            to_status=change.to_status,
            interview=change.slot,
            other_interview=change.other,
        )
        return (
            ApplicationRepository.update_write(application_id, change.application_values()),
            HistoryRepository.add_write(entry),
        )

    async def refresh(self, application: Application) -> None:
        """Re-read the application's columns written by statements, not through the ORM."""
        await self.session.refresh(application)

    async def remember_alias(
        self, cohort_id: uuid.UUID, email: str, application_id: uuid.UUID
    ) -> None:
        """Remember `email` as the application's; an email already remembered keeps its owner."""
        await self.session.execute(
            insert(ApplicationEmailAlias)
            .values(
                id=uuid.uuid4(), cohort_id=cohort_id, email=email, application_id=application_id
            )
            .on_conflict_do_nothing(index_elements=["cohort_id", "email"])
        )

    async def list(
        self,
        cohort_id: uuid.UUID,
        *,
        statuses: Collection[Status] | None,
        text: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Application], str | None]:
        query: Any = select(Application).where(Application.cohort_id == cohort_id)
        if statuses is not None:
            query = query.where(Application.status.in_(list(statuses)))
        if text:
            pattern = f"%{_escape_like(text)}%"
            found = await self._search(cohort_id, text, pattern)
            if found is None:
                query = query.where(
                    or_(
                        Application.applicant_name.ilike(pattern, escape="\\"),
                        Application.contact_email.ilike(pattern, escape="\\"),
                    )
                )
            else:
                query = query.where(Application.id.in_(found))
        keyset = Keyset(Application.created_at, Application.id, newest_first=True)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda a: (a.created_at, a.id))

    async def _search(self, cohort_id: uuid.UUID, text: str, pattern: str) -> set[uuid.UUID] | None:
        """The applications of the cohort whose name or email contains `text`, when there
        are few enough to fetch by ID; None for a term too short for the trigram index or
        too common, which the newest applications answer soonest when read in list order.

        Neither way alone serves every term: walking the list reads the whole cohort for a
        rare term (838 ms at 1,000,000), and fetching every match of a common one costs more
        than the page (make bench, bench/RESULTS.md).
        """
        if len(text) < _TRIGRAM_LENGTH:
            return None
        rows = (
            await self.session.scalars(
                select(ApplicationSearchTerms.application_id)
                .where(
                    ApplicationSearchTerms.cohort_id == cohort_id,
                    # Lowered as the terms are: what ILIKE does to both sides.
                    ApplicationSearchTerms.terms.like(func.lower(pattern), escape="\\"),
                )
                .limit(2 * _SEARCH_BY_ID_MAX + 1)
            )
        ).all()
        # A row for the name and one for the email: up to two rows an application.
        return None if len(rows) > 2 * _SEARCH_BY_ID_MAX else set(rows)

    async def flush(self) -> None:
        await self.session.flush()


class HistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def add_write(values: dict[str, Any]) -> Write:
        """Add an entry (`bookings.effects.history_values`) with other writes."""
        named = {f"history_{column}": value for column, value in values.items()}
        named["history_id"] = uuid.uuid4()
        # JSONB goes to asyncpg as JSON text (see `scheduling_service.driver`).
        for column in ("history_interview", "history_other_interview"):
            if named[column] is not None:
                named[column] = json.dumps(named[column])
        return Write(_add_history, named)

    def add(self, entry: HistoryEntry) -> None:
        self.session.add(entry)

    async def list_for_orphan(self, orphan_id: uuid.UUID) -> list[HistoryEntry]:
        query = (
            select(HistoryEntry)
            .where(HistoryEntry.orphaned_interview_id == orphan_id)
            .order_by(HistoryEntry.at, HistoryEntry.id)
        )
        return list((await self.session.scalars(query)).all())

    async def list(
        self, application_id: uuid.UUID, cursor: str | None, limit: int
    ) -> tuple[list[HistoryEntry], str | None]:
        query: Any = select(HistoryEntry).where(HistoryEntry.application_id == application_id)
        keyset = Keyset(HistoryEntry.at, HistoryEntry.id, newest_first=False)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda h: (h.at, h.id))
