"""Keyset pagination with opaque cursors, shared by every list of the API."""

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from scheduling_service.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}.")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=200, description="The `next_cursor` of the previous page."),
]


@dataclass(frozen=True)
class Cursor:
    at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            at, id_ = raw.split("|")
            cursor = cls(datetime.fromisoformat(at), uuid.UUID(id_))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidInput("cursor is not one this service gave out") from None
        if cursor.at.tzinfo is None:
            raise InvalidInput("cursor is not one this service gave out")
        return cursor


@dataclass(frozen=True)
class Keyset:
    """Orders a query by (time column, id) and resumes after a cursor."""

    at: InstrumentedAttribute[datetime]
    id: InstrumentedAttribute[uuid.UUID]
    newest_first: bool

    def apply(self, query: Select[Any], cursor: str | None, limit: int) -> Select[Any]:
        key = tuple_(self.at, self.id)
        if cursor is not None:
            after = Cursor.decode(cursor)
            bound = tuple_(after.at, after.id)
            query = query.where(key < bound if self.newest_first else key > bound)
        order = (self.at.desc(), self.id.desc()) if self.newest_first else (self.at, self.id)
        # One row more than asked tells whether another page exists.
        return query.order_by(*order).limit(limit + 1)


def split_page(rows: Sequence[T], limit: int, key: Any) -> tuple[list[T], str | None]:
    """The page's rows and the cursor to the next page (None on the last one)."""
    items = list(rows[:limit])
    if len(rows) <= limit:
        return items, None
    at, id_ = key(items[-1])
    return items, Cursor(at, id_).encode()
