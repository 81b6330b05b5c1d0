import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Lets `make run` and `scheduling-service token` agree out of the box; production refuses it.
DEVELOPMENT_JWT_SECRET = "development-only-jwt-secret-never-use-in-production"
# An HS256 secret anyone could guess forges every token: production wants 32+ characters, and
# not a run of a few repeated ones.
MIN_JWT_SECRET_LENGTH = 32
MIN_JWT_SECRET_DISTINCT_CHARACTERS = 8


class Settings(BaseSettings):
    """Every setting of the service; each is read from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg:// URL; unset starts an embedded PostgreSQL.",
    )
    embedded_postgres_dir: Path = Path(".data/postgres")
    # Small on purpose: PostgreSQL does the most with about two busy connections per core, and
    # past that more connections only queue inside it (`make bench`, bench/RESULTS.md).
    database_pool_size: int = Field(default=5, ge=1)
    database_pool_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a request waits for a pooled connection; then the API answers "
        "503 and the webhook keeps the delivery in the journal.",
    )
    public_base_url: str = "http://localhost:8000"
    jwt_secret: SecretStr | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: list[str] = ["HS256", "RS256", "ES256"]
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    webhook_max_body_bytes: int = 1024 * 1024
    api_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Larger bodies to any other route get 413."
    )
    api_max_concurrent_requests: int = Field(
        default=10,
        ge=1,
        description="API requests each worker serves at once; the rest wait their turn.",
    )
    api_queue_timeout_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long an API request waits its turn before it is answered 503.",
    )
    server_timeout_keep_alive: int = Field(
        default=5, ge=1, description="Seconds an idle keep-alive connection is kept open."
    )
    server_max_header_bytes: int = Field(
        default=16 * 1024,
        ge=4096,
        description="Request line and headers larger than this are refused with 400.",
    )
    server_limit_concurrency: int | None = Field(
        default=1000,
        ge=1,
        description="Connections and requests at once; beyond it the server answers 503.",
    )
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
    alert_digest_max_orphans: int = Field(
        default=100,
        ge=1,
        # Each orphan added rewrites the digest's list of IDs under the recipient's lock, so
        # an unbounded digest made every orphan of a long burst slower than the last.
        description="Orphans one digest lists; a burst beyond it is split into several digests.",
    )
    outbox_max_attempts: int = Field(
        default=30,
        ge=1,
        # With the 2 s base and 600 s cap: about 3.6 hours of retrying, so an SMTP outage of
        # an afternoon delays alerts rather than failing them.
        description="Attempts before an alert is marked failed and no longer retried.",
    )
    outbox_retry_base_seconds: float = Field(default=2.0, gt=0)
    outbox_retry_max_seconds: float = Field(default=600.0, gt=0)
    dispatcher_poll_seconds: float = Field(default=1.0, gt=0)
    run_dispatcher: bool = Field(
        default=True, description="Whether `serve` also sends the outbox (else run `worker`)."
    )
    secrets_encryption_key: SecretStr | None = Field(
        default=None,
        description="Fernet key (`scheduling-service secrets-key` prints one) that encrypts "
        "Cal.com API keys at rest; required in production. Unset in development: a key "
        "generated once in SECRETS_KEY_FILE.",
    )
    secrets_key_file: Path = Path(".data/secrets.key")
    run_reconciler: bool = Field(
        default=True,
        description="Whether `serve` also reconciles cohorts with Cal.com's bookings API.",
    )
    reconcile_interval_seconds: float = Field(
        default=600.0, gt=0, description="How often each connected cohort is reconciled."
    )
    reconcile_overlap_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Each run asks Cal.com for bookings changed since the watermark minus this, "
        "for clock skew and changes committed late.",
    )
    reconcile_initial_lookback_hours: float = Field(
        default=72.0,
        gt=0,
        description="How far back the first run of a new connection looks (`--since` to go "
        "further).",
    )
    reconcile_lease_seconds: float = Field(
        default=300.0, gt=0, description="How long a replica holds a cohort's reconciliation."
    )
    calcom_api_timeout_seconds: float = Field(default=30.0, gt=0)
    calcom_api_max_attempts: int = Field(
        default=5, ge=1, description="Attempts per Cal.com API request (429, 5xx, timeouts)."
    )
    calcom_api_retry_base_seconds: float = Field(default=1.0, gt=0)
    calcom_api_retry_max_seconds: float = Field(default=60.0, gt=0)
    web_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes of `serve`; unset: 1 in development, one per CPU in "
        "production.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        description="Where workers share their metrics; `serve` makes a temporary one when it "
        "starts several workers and this is unset.",
    )

    @field_validator("secrets_encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                Fernet(value.get_secret_value())
            except ValueError:
                raise ValueError(
                    "SECRETS_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded "
                    "bytes; `scheduling-service secrets-key` prints one)"
                ) from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    def workers(self) -> int:
        if self.web_concurrency is not None:
            return self.web_concurrency
        if self.environment == "development":
            return 1
        # The CPUs this process may run on (a container's cpuset), not all of the host's.
        return len(os.sched_getaffinity(0)) or 1

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.environment == "development" and self.jwt_secret is None:
            self.jwt_secret = SecretStr(DEVELOPMENT_JWT_SECRET)
        if self.environment == "production":
            refusals = self._production_refusals()
            if refusals:
                raise ValueError("production refuses " + "; ".join(refusals))
        return self

    def _production_refusals(self) -> list[str]:
        refusals = []
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if secret is None:
            if self.jwt_jwks_url is None:
                refusals.append("a missing JWT_SECRET (set it, or JWT_JWKS_URL)")
        elif secret == DEVELOPMENT_JWT_SECRET:
            refusals.append("the development JWT_SECRET")
        elif (
            len(secret) < MIN_JWT_SECRET_LENGTH
            or len(set(secret)) < MIN_JWT_SECRET_DISTINCT_CHARACTERS
        ):
            # Even beside JWT_JWKS_URL: a secret that is set still verifies HS256 tokens.
            refusals.append(
                f"a weak JWT_SECRET (use {MIN_JWT_SECRET_LENGTH}+ random characters, "
                "e.g. `openssl rand -hex 32`)"
            )
        if self.secrets_encryption_key is None:
            refusals.append("a missing SECRETS_ENCRYPTION_KEY (it encrypts Cal.com API keys)")
        base = urlsplit(self.public_base_url)
        if base.scheme != "https" or not base.netloc:
            refusals.append("a PUBLIC_BASE_URL that is not https://")
        return refusals


@lru_cache
def get_settings() -> Settings:
    return Settings()
