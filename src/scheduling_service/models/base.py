import uuid
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import CheckConstraint, DateTime, Dialect, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012
    # Server-side defaults are read back on flush, so no attribute loads lazily under asyncio.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012


class HasId:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class HasTimestamps:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


def one_of(column: str, values: type[StrEnum], name: str) -> CheckConstraint:
    """A CHECK that keeps a text column within an enum's values."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


EnumT = TypeVar("EnumT", bound=StrEnum)


class StringEnum(TypeDecorator[EnumT]):
    """A text column read as members of `enum` and written from them, so code compares and
    assigns members, never `.value`. The schema keeps plain text, kept within the values by
    `one_of`'s CHECK (a PostgreSQL ENUM would need a migration for every new value)."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[EnumT]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: EnumT | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> EnumT | None:
        return None if value is None else self.enum(value)
