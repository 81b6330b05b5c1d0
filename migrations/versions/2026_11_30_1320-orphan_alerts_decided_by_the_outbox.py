"""Orphan alerts the dispatcher decides: the outbox kind `orphan_undecided`, and the
recipient's messages indexed by kind (the rate limit asks for one kind at a time)

Revision ID: 8a4f2c6e9b13
Revises: 5c2d8e1f7a30
Create Date: 2026-11-30 13:20:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8a4f2c6e9b13"
down_revision: str | None = "5c2d8e1f7a30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'orphan_alert', 'orphan_digest', 'calcom_key_rejected'"


_OLD_INDEX = "ix_outbox_messages_cohort_id_recipient_created_at"
_NEW_INDEX = "ix_outbox_messages_cohort_id_recipient_kind_created_at"


def upgrade() -> None:
    _replace_check(f"kind IN ({_KINDS}, 'orphan_undecided')")
    op.create_index(_NEW_INDEX, "outbox_messages", ["cohort_id", "recipient", "kind", "created_at"])
    op.drop_index(_OLD_INDEX, table_name="outbox_messages")


def downgrade() -> None:
    op.create_index(_OLD_INDEX, "outbox_messages", ["cohort_id", "recipient", "created_at"])
    op.drop_index(_NEW_INDEX, table_name="outbox_messages")
    # Decided as an alert each: none is lost, the rate limit may be exceeded once.
    op.execute("UPDATE outbox_messages SET kind = 'orphan_alert' WHERE kind = 'orphan_undecided'")
    _replace_check(f"kind IN ({_KINDS})")


def _replace_check(condition: str) -> None:
    op.drop_constraint(op.f("ck_outbox_messages_kind"), "outbox_messages", type_="check")
    op.create_check_constraint(op.f("ck_outbox_messages_kind"), "outbox_messages", condition)
