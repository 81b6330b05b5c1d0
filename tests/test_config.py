"""Settings: production refuses what would make it unsafe; the README documents every one."""

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from scheduling_service.config import DEVELOPMENT_JWT_SECRET, Settings, SmtpEndpoint
from tests.conftest import ROOT
from tests.e2e.server import BIN

STRONG_SECRET = "8f2c5e0b7a4d9c1e6f3a8b5d2e7c0a9f"


def production(**values: Any) -> Settings:
    chosen: dict[str, Any] = {
        "environment": "production",
        "public_base_url": "https://scheduling.example.org",
        "jwt_secret": STRONG_SECRET,
        "secrets_encryption_key": Fernet.generate_key().decode(),
        **values,
    }
    return Settings(_env_file=None, **chosen)  # type: ignore[call-arg]


def refusal(**values: Any) -> str:
    refusals = production(**values).production_refusals()
    assert refusals
    return "; ".join(refusals)


def test_production_accepts_a_strong_secret_and_https() -> None:
    assert production().production_refusals() == []


def test_production_accepts_jwks_alone() -> None:
    settings = production(jwt_secret=None, jwt_jwks_url="https://idp.example.org/jwks")

    assert settings.jwt_secret is None
    assert settings.production_refusals() == []


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"jwt_secret": None}, "a missing JWT_SECRET"),
        ({"jwt_secret": DEVELOPMENT_JWT_SECRET}, "the development JWT_SECRET"),
        ({"jwt_secret": "too-short-secret"}, "a weak JWT_SECRET"),
        ({"jwt_secret": "ab" * 32}, "a weak JWT_SECRET"),
        # A set secret still verifies HS256 tokens, JWKS or not.
        (
            {"jwt_secret": "short", "jwt_jwks_url": "https://idp.example.org/jwks"},
            "a weak JWT_SECRET",
        ),
        ({"secrets_encryption_key": None}, "a missing SECRETS_ENCRYPTION_KEY"),
        ({"public_base_url": "http://scheduling.example.org"}, "not https://"),
        ({"public_base_url": "https://"}, "not https://"),
    ],
)
def test_production_refuses_unsafe_settings(values: dict[str, Any], reason: str) -> None:
    assert reason in refusal(**values)


def test_a_secrets_encryption_key_that_is_not_a_fernet_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="SECRETS_ENCRYPTION_KEY is not a Fernet key"):
        Settings(_env_file=None, secrets_encryption_key="not-a-fernet-key")  # type: ignore[call-arg]


def test_production_names_every_refusal_at_once() -> None:
    message = refusal(jwt_secret="short", public_base_url="http://x.example.org")

    assert "a weak JWT_SECRET" in message
    assert "not https://" in message


def test_development_needs_no_configuration() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET
    assert settings.workers() == 1


def test_serve_refuses_unsafe_production_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ENVIRONMENT": "production",
        "JWT_SECRET": "short",
        "PUBLIC_BASE_URL": "http://scheduling.example.org",
    }
    env.pop("JWT_JWKS_URL", None)

    result = subprocess.run(
        [str(BIN / "scheduling-service"), "serve", "--port", "1"],
        env=env,
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("scheduling-service: invalid configuration: production refuses ")
    assert "a weak JWT_SECRET" in line
    assert "not https://" in line


def readme_settings() -> set[str]:
    """The names in the first column of the README's configuration table."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z0-9_]+)`", row.split("|")[1])}


def test_readme_documents_every_setting_and_no_other() -> None:
    fields = {name.upper() for name in Settings.model_fields}

    assert readme_settings() == fields


def test_cors_defaults_to_local_spa_servers_in_development_and_none_in_production() -> None:
    development = Settings(_env_file=None)  # type: ignore[call-arg]

    assert "http://localhost:5173" in development.allowed_origins()
    assert "http://127.0.0.1:3000" in development.allowed_origins()
    assert production().allowed_origins() == []


@pytest.mark.parametrize(
    "origin", ["*", "https://*.example.org", "https://app.example.org/", "app.example.org"]
)
def test_cors_refuses_what_is_not_an_exact_origin(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(_env_file=None, cors_allowed_origins=[origin])  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("HS256", ["HS256"]),
        ("HS256, RS256", ["HS256", "RS256"]),
        ('["ES256"]', ["ES256"]),
    ],
)
def test_jwt_algorithms_read_as_json_or_names_separated_by_commas(
    monkeypatch: pytest.MonkeyPatch, given: str, read: list[str]
) -> None:
    monkeypatch.setenv("JWT_ALGORITHMS", given)

    assert Settings(_env_file=None).jwt_algorithms == read  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.test", "SMTP_URL must be smtp://"),
        ("smtp://", "SMTP_URL must be smtp://"),
        ("smtp://mail.test:port", "SMTP_URL's port must be a number"),
        ("smtp://mail.test?starttls=maybe", "SMTP_URL's starttls must be true or false"),
    ],
)
def test_an_unusable_smtp_url_is_refused_when_the_settings_are_read(url: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Settings(_env_file=None, smtp_url=url)  # type: ignore[call-arg]


def test_the_mail_server_is_read_from_smtp_url_and_its_password_kept_out_of_reprs() -> None:
    settings = Settings(_env_file=None, smtp_url="smtps://alerts:hunter2@mail.test")  # type: ignore[call-arg]

    server = settings.smtp_server()

    assert server == SmtpEndpoint("mail.test", 465, "alerts", "hunter2", True, None)
    assert "hunter2" not in repr(server)


@pytest.mark.parametrize("unset", [None, ""])
def test_without_smtp_url_there_is_no_mail_server(unset: str | None) -> None:
    assert Settings(_env_file=None, smtp_url=unset).smtp_server() is None  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "value", ["alerts", "Alerts <alerts@>", "alerts@example.org\nBcc: everyone@example.org"]
)
def test_an_alert_from_that_is_not_one_address_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="ALERT_FROM must be one email address"):
        Settings(_env_file=None, alert_from=value)  # type: ignore[call-arg]


def test_alert_message_ids_end_with_the_domain_of_alert_from() -> None:
    settings = Settings(_env_file=None, alert_from="Alerts <alerts@acme.example>")  # type: ignore[call-arg]

    assert settings.alert_domain() == "acme.example"


@pytest.mark.parametrize(
    ("app", "public", "base"),
    [
        (None, "https://api.example.org/", "https://api.example.org"),
        ("https://app.example.org/", "https://api.example.org", "https://app.example.org"),
    ],
)
def test_alerts_link_to_app_base_url_else_public_base_url(
    app: str | None, public: str, base: str
) -> None:
    settings = Settings(_env_file=None, app_base_url=app, public_base_url=public)  # type: ignore[call-arg]

    assert settings.alert_link_base() == base


def test_worker_refuses_a_bad_alert_from_in_one_line(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name != "ALERT_FROM"}
    env["ALERT_FROM"] = "nobody"
    env["DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/never_reached"

    result = subprocess.run(
        [str(BIN / "scheduling-service"), "worker"],
        env=env,
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert line.startswith("scheduling-service: invalid configuration: ")
    assert "ALERT_FROM must be one email address" in line
