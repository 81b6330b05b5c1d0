from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Lets `make run` and `scheduling-service token` agree out of the box; production refuses it.
DEVELOPMENT_JWT_SECRET = "development-only-jwt-secret-never-use-in-production"


class Settings(BaseSettings):
    """Every setting of the service; each is read from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg:// URL; unset starts an embedded PostgreSQL.",
    )
    embedded_postgres_dir: Path = Path(".data/postgres")
    database_pool_size: int = Field(default=10, ge=1)
    public_base_url: str = "http://localhost:8000"
    jwt_secret: SecretStr | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: list[str] = ["HS256", "RS256", "ES256"]
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_secret_grace_hours: int = Field(default=24, ge=0)
    webhook_lock_timeout_ms: int = Field(
        default=5000, ge=1, description="A webhook event waiting longer on a row lock fails."
    )
    webhook_retry_max_attempts: int = Field(default=10, ge=1)
    webhook_retry_base_seconds: float = Field(default=2.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=300.0, gt=0)
    journal_dir: Path = Field(
        default=Path(".data/journal"),
        description="Where deliveries wait, fsynced, while the database is unreachable.",
    )
    journal_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    run_recovery: bool = Field(
        default=True, description="Whether `serve` drains the journal and retries failed events."
    )
    recovery_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the journal and failed events are retried."
    )
    smtp_url: str | None = Field(
        default=None,
        description="smtp://[user:password@]host[:port], smtps:// for TLS; unset logs alerts.",
    )
    alert_from: str = "scheduling-service <alerts@localhost>"
    app_base_url: str | None = Field(
        default=None,
        description="The SPA's address, for links in alerts; PUBLIC_BASE_URL if unset.",
    )
    alert_limit_per_window: int = Field(default=5, ge=1)
    alert_window_seconds: int = Field(default=600, ge=1)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_retry_base_seconds: float = Field(default=2.0, gt=0)
    outbox_retry_max_seconds: float = Field(default=600.0, gt=0)
    dispatcher_poll_seconds: float = Field(default=1.0, gt=0)
    run_dispatcher: bool = Field(
        default=True, description="Whether `serve` also sends the outbox (else run `worker`)."
    )

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.environment == "development" and self.jwt_secret is None:
            self.jwt_secret = SecretStr(DEVELOPMENT_JWT_SECRET)
        if self.environment == "production":
            if self.jwt_secret is not None and (
                self.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET
            ):
                raise ValueError("production refuses the development JWT_SECRET")
            if self.jwt_jwks_url is None and (
                self.jwt_secret is None or len(self.jwt_secret.get_secret_value()) < 32
            ):
                raise ValueError("production needs JWT_JWKS_URL or a JWT_SECRET of 32+ characters")
            if not self.public_base_url.startswith("https://"):
                raise ValueError("production needs an https:// PUBLIC_BASE_URL")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
