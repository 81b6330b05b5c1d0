import json
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Lets `make run` and `scheduling-service token` agree out of the box; production refuses it.
DEVELOPMENT_JWT_SECRET = "development-only-jwt-secret-never-use-in-production"
# An HS256 secret anyone could guess forges every token: production wants 32+ characters, and
# not a run of a few repeated ones.
MIN_JWT_SECRET_LENGTH = 32
MIN_JWT_SECRET_DISTINCT_CHARACTERS = 8
# Where a SPA's development server usually runs (Vite, then Create React App and Next.js).
DEVELOPMENT_CORS_ORIGINS = [
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:3000",
    "http://127.0.0.1:3000",
]
# The schemes of a PostgreSQL URL as providers hand it out, and SQLAlchemy's for asyncpg.
ASYNCPG_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})


@dataclass(frozen=True)
class SmtpEndpoint:
    """The mail server SMTP_URL names (`Settings.smtp_server`)."""

    hostname: str
    port: int
    username: str | None
    password: str | None = field(repr=False)  # no repr of it may carry the password to a log
    use_tls: bool
    start_tls: bool | None
    """True requires STARTTLS, False never tries it, None uses it when the server offers it."""

    @classmethod
    def from_url(cls, url: str) -> "SmtpEndpoint":
        """smtp://[user:password@]host[:port][?starttls=true|false], or smtps:// for TLS from
        the first byte; the user and password are percent-decoded."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("SMTP_URL must be smtp://[user:password@]host[:port] or smtps://")
        use_tls = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", [None])[-1]
        if starttls not in {None, "true", "false"}:
            raise ValueError("SMTP_URL's starttls must be true or false")
        try:
            port = parts.port or (465 if use_tls else 25)
        except ValueError:
            raise ValueError("SMTP_URL's port must be a number from 0 to 65535") from None
        return cls(
            hostname=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=None if starttls is None else starttls == "true",
        )


class Settings(BaseSettings):
    """Every setting of the service; each is read from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        description="postgresql:// URL (served by asyncpg); unset starts an embedded PostgreSQL.",
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
    database_webhook_pool_size: int = Field(
        default=5,
        ge=1,
        description="Connections per worker for Cal.com's deliveries alone; no API request "
        "can take one.",
    )
    api_statement_timeout_ms: int = Field(
        default=5000,
        ge=1,
        description="An API request's statement running longer is cancelled, and the "
        "request answered 503.",
    )
    public_base_url: str = "http://localhost:8000"
    cors_allowed_origins: list[str] | None = Field(
        default=None,
        description="Origins whose pages may call the API (JSON list); unset: the usual local "
        "SPA development servers in development, none in production.",
    )
    jwt_secret: SecretStr | None = None
    jwt_jwks_url: str | None = None
    # NoDecode: read by the validator below, so `HS256,RS256` works too, and a mistake is a
    # validation error of this setting alone (not a parse error before validation).
    jwt_algorithms: Annotated[list[str], NoDecode] = ["HS256", "RS256", "ES256"]
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_max_token_age: int | None = Field(
        default=None,
        ge=1,
        description="Seconds: a token whose `iat` is older is refused (and `iat` is then "
        "required), whatever its `exp`; unset: no limit.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics answers only `Authorization: Bearer <this token>`.",
    )
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
    server_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request head not whole this long after its first byte (or after the "
        "connection opened) closes the connection.",
    )
    server_body_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description="A request body not whole this long after its head closes the connection.",
    )
    server_max_header_bytes: int = Field(
        default=16 * 1024,
        ge=4096,
        description="Request line and headers larger than this are refused (400 while still "
        "incomplete, 431 when they arrive whole).",
    )
    server_limit_concurrency: int | None = Field(
        default=1000,
        ge=1,
        description="Requests in progress at once per worker; beyond it the server answers "
        "503. Connections still sending a request are bounded by the timeouts instead.",
    )
    webhook_secret_grace_hours: int = Field(default=24, ge=0)
    webhook_secrets_refresh_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often each process reads every cohort's webhook secrets again, so a "
        "rotation on one replica is honoured by all within this time.",
    )
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

    @field_validator("cors_allowed_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str] | None) -> list[str] | None:
        # An origin is compared as a whole string: a path, a trailing slash or a wildcard
        # would never match what a browser sends, or (`*`) would let every site in.
        for origin in origins or []:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or "*" in origin
                or origin != f"{parts.scheme}://{parts.netloc}"
            ):
                raise ValueError(
                    f"{origin!r} is not an origin: give scheme://host[:port], "
                    "e.g. https://app.example.org, without a path or wildcard"
                )
        return origins

    def allowed_origins(self) -> list[str]:
        if self.cors_allowed_origins is not None:
            return self.cors_allowed_origins
        return list(DEVELOPMENT_CORS_ORIGINS) if self.environment == "development" else []

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        """The service speaks to PostgreSQL through asyncpg, so the URL people copy from their
        provider (postgresql:// or postgres://) is served by it too."""
        if not value:  # an empty DATABASE_URL= in an env file means unset, too
            return None
        scheme, separator, rest = value.partition("://")
        if not separator or scheme not in ASYNCPG_SCHEMES:
            raise ValueError(
                "write a PostgreSQL URL, postgresql://user:password@host:5432/database "
                f"(not {scheme + '://' if separator else 'this'})"
            )
        return f"postgresql+asyncpg://{rest}"

    @field_validator("smtp_url")
    @classmethod
    def _parsable_smtp_url(cls, value: str | None) -> str | None:
        if not value:  # an empty SMTP_URL= in an env file means unset, too
            return None
        SmtpEndpoint.from_url(value)  # refused at start, not at the first alert
        return value

    def smtp_server(self) -> SmtpEndpoint | None:
        """The mail server of SMTP_URL; None when it is unset (alerts are logged)."""
        return SmtpEndpoint.from_url(self.smtp_url) if self.smtp_url else None

    @field_validator("alert_from")
    @classmethod
    def _alert_address(cls, value: str) -> str:
        local, _, domain = parseaddr(value)[1].rpartition("@")
        if not local or not domain or "\n" in value or "\r" in value:
            raise ValueError(
                "ALERT_FROM must be one email address, as `name <alerts@example.org>` or "
                "`alerts@example.org`"
            )
        return value

    def alert_domain(self) -> str:
        """The domain of ALERT_FROM's address, which ends the alerts' Message-IDs."""
        return parseaddr(self.alert_from)[1].rpartition("@")[2]

    def alert_link_base(self) -> str:
        """What alerts' links start with: APP_BASE_URL, else PUBLIC_BASE_URL, no final `/`."""
        return (self.app_base_url or self.public_base_url).rstrip("/")

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _algorithm_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(
                    'write a JSON list, e.g. ["HS256", "RS256"], or names separated by commas'
                ) from None
        return [name.strip() for name in value.split(",") if name.strip()]

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
    def _development_secret(self) -> "Settings":
        if self.environment == "development" and self.jwt_secret is None:
            self.jwt_secret = SecretStr(DEVELOPMENT_JWT_SECRET)
        return self

    def production_refusals(self, uses: Collection[str] | None = None) -> list[str]:
        """What production refuses among the settings in `uses` (all when None): a command
        is refused only for the settings it reads, so `migrate` needs no JWT_SECRET."""
        if self.environment != "production":
            return []
        refusals = []
        if uses is None or "jwt_secret" in uses:
            refusals += self._jwt_secret_refusals()
        base = urlsplit(self.public_base_url)
        if (uses is None or "public_base_url" in uses) and (
            base.scheme != "https" or not base.netloc
        ):
            refusals.append("a PUBLIC_BASE_URL that is not https://")
        if (
            uses is None or "secrets_encryption_key" in uses
        ) and self.secrets_encryption_key is None:
            refusals.append("a missing SECRETS_ENCRYPTION_KEY (it encrypts Cal.com API keys)")
        return refusals

    def _jwt_secret_refusals(self) -> list[str]:
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if secret is None:
            if self.jwt_jwks_url is None:
                return ["a missing JWT_SECRET (set it, or JWT_JWKS_URL)"]
        elif secret == DEVELOPMENT_JWT_SECRET:
            return ["the development JWT_SECRET"]
        elif (
            len(secret) < MIN_JWT_SECRET_LENGTH
            or len(set(secret)) < MIN_JWT_SECRET_DISTINCT_CHARACTERS
        ):
            # Even beside JWT_JWKS_URL: a secret that is set still verifies HS256 tokens.
            return [
                f"a weak JWT_SECRET (use {MIN_JWT_SECRET_LENGTH}+ random characters, "
                "e.g. `openssl rand -hex 32`)"
            ]
        return []


@lru_cache
def get_settings() -> Settings:
    return Settings()
