"""Which secrets a delivery may be signed with during a rotation (SPEC: the previous secret
is accepted for the grace period, then refused)."""

import uuid
from datetime import UTC, datetime, timedelta

from scheduling_service.organizations.repository import CohortSecrets
from scheduling_service.organizations.secrets import accepted_secrets

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def secrets_of(previous: str | None, expires_at: datetime | None) -> CohortSecrets:
    return CohortSecrets(uuid.uuid4(), "current", previous, expires_at)


def test_a_cohort_never_rotated_accepts_its_secret_alone() -> None:
    assert accepted_secrets(secrets_of(None, None), NOW) == ["current"]


def test_the_previous_secret_is_accepted_while_its_grace_period_lasts() -> None:
    rotated = secrets_of("previous", NOW + timedelta(seconds=1))

    assert accepted_secrets(rotated, NOW) == ["current", "previous"]


def test_the_previous_secret_is_refused_from_the_moment_its_grace_period_ends() -> None:
    assert accepted_secrets(secrets_of("previous", NOW), NOW) == ["current"]
    assert accepted_secrets(secrets_of("previous", NOW - timedelta(hours=1)), NOW) == ["current"]
