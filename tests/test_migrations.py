import asyncio
from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from scheduling_service.migrations import alembic_config


def test_models_and_migrations_agree(database_url: str) -> None:
    # Raises when autogenerate would produce any operation.
    command.check(alembic_config(database_url))


def _run(database_url: str, statement: str) -> list[tuple[Any, ...]]:
    async def fetch() -> list[tuple[Any, ...]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(statement))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(fetch())


def test_search_terms_are_filled_for_existing_applications_and_kept_by_the_trigger(
    fresh_database: str,
) -> None:
    config = alembic_config(fresh_database)
    command.upgrade(config, "8c4e1f7a2d93")
    _run(
        fresh_database,
        "WITH o AS (INSERT INTO organizations (id, name, admin_emails)"
        "  VALUES (gen_random_uuid(), 'Acme', '{}') RETURNING id),"
        " c AS (INSERT INTO cohorts (id, organization_id, name, webhook_secret)"
        "  SELECT gen_random_uuid(), id, 'Spring', 's' FROM o RETURNING id)"
        " INSERT INTO applications (id, cohort_id, applicant_name, contact_email, status)"
        " SELECT gen_random_uuid(), id, 'Ada LOVELACE', 'Ada@Example.org', 'submitted' FROM c",
    )

    command.upgrade(config, "head")
    before = _run(fresh_database, "SELECT field, terms FROM application_search_terms")
    _run(
        fresh_database,
        "INSERT INTO applications (id, cohort_id, applicant_name, contact_email, status)"
        " SELECT gen_random_uuid(), cohort_id, 'Grace Hopper', 'grace@example.org', 'submitted'"
        " FROM applications",
    )
    _run(fresh_database, "UPDATE applications SET status = 'under_review'")
    _run(
        fresh_database,
        "UPDATE applications SET contact_email = 'countess@example.org'"
        " WHERE applicant_name = 'Ada LOVELACE'",
    )
    after = _run(fresh_database, "SELECT field, terms FROM application_search_terms")

    assert sorted(before) == [
        ("applicant_name", "ada lovelace"),
        ("contact_email", "ada@example.org"),
    ]
    assert sorted(after) == [
        ("applicant_name", "ada lovelace"),
        ("applicant_name", "grace hopper"),
        ("contact_email", "countess@example.org"),
        ("contact_email", "grace@example.org"),
    ]
