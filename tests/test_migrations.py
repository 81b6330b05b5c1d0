from alembic import command

from scheduling_service.migrations import alembic_config


def test_models_and_migrations_agree(database_url: str) -> None:
    # Raises when autogenerate would produce any operation.
    command.check(alembic_config(database_url))
