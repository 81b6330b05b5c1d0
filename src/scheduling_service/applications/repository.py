import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.db import constraint_of
from scheduling_service.errors import Conflict
from scheduling_service.models import Application, ApplicationEmailAlias, HistoryEntry
from scheduling_service.pagination import Keyset, split_page

_UNIQUE_EMAIL = "uq_applications_cohort_id_contact_email"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ApplicationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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

    async def get_in_cohort(
        self, cohort_id: uuid.UUID, application_id: uuid.UUID, *, for_update: bool = False
    ) -> Application | None:
        application = await self.get(application_id, for_update=for_update)
        if application is None or application.cohort_id != cohort_id:
            return None
        return application

    async def find_by_email(
        self, cohort_id: uuid.UUID, email: str, *, for_update: bool = False
    ) -> Application | None:
        """The application whose contact email, or else a remembered alias, is `email`."""
        email = email.strip().lower()
        by_contact = select(Application).where(
            Application.cohort_id == cohort_id, func.lower(Application.contact_email) == email
        )
        by_alias = (
            select(Application)
            .join(ApplicationEmailAlias, ApplicationEmailAlias.application_id == Application.id)
            .where(
                ApplicationEmailAlias.cohort_id == cohort_id, ApplicationEmailAlias.email == email
            )
        )
        for query in (by_contact, by_alias):
            if for_update:
                query = query.with_for_update(of=Application).execution_options(
                    populate_existing=True
                )
            found: Application | None = await self.session.scalar(query)
            if found is not None:
                return found
        return None

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
        statuses: Collection[str] | None,
        text: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Application], str | None]:
        query: Any = select(Application).where(Application.cohort_id == cohort_id)
        if statuses is not None:
            query = query.where(Application.status.in_(list(statuses)))
        if text:
            pattern = f"%{_escape_like(text)}%"
            query = query.where(
                or_(
                    Application.applicant_name.ilike(pattern, escape="\\"),
                    Application.contact_email.ilike(pattern, escape="\\"),
                )
            )
        keyset = Keyset(Application.created_at, Application.id, newest_first=True)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda a: (a.created_at, a.id))

    async def flush(self) -> None:
        await self.session.flush()


class HistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
