"""Status-like columns (`models.base.StringEnum`): plain text in PostgreSQL, enum members in
Python, so code compares and assigns members rather than their `.value`."""

from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from scheduling_service.models import MessageKind, MessageState, OutboxMessage

DIALECT = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
COLUMNS: Any = OutboxMessage.__table__.c


def test_the_column_stays_text_in_the_schema() -> None:
    assert COLUMNS.state.type.compile(dialect=DIALECT) == "VARCHAR"


def test_members_and_their_text_are_written_as_the_text() -> None:
    write = COLUMNS.state.type.bind_processor(DIALECT)

    assert write(MessageState.SENT) == "sent"
    assert write("sent") == "sent"
    assert write(None) is None


def test_text_read_back_is_a_member() -> None:
    read = COLUMNS.kind.type.result_processor(DIALECT, None)

    assert read("orphan_digest") is MessageKind.ORPHAN_DIGEST


def test_a_value_outside_the_enum_is_refused_before_it_reaches_the_database() -> None:
    write = COLUMNS.state.type.bind_processor(DIALECT)

    with pytest.raises(ValueError, match="'delivered' is not a valid MessageState"):
        write("delivered")
