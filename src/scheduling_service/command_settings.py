"""Reading the settings for one command: it is checked only for the settings it reads, and a
mistake in one is a `Refusal`, which the command line shows as one line."""

from collections.abc import Collection

from pydantic import ValidationError
from pydantic_settings import SettingsError

from scheduling_service.config import Settings, get_settings


class Refusal(Exception):
    """A mistake of the person running the command (a setting, an address): shown as one
    line on stderr, exit code 1, no traceback."""


# The settings each command reads; a command is refused only for these (`serve` reads all).
COMMON = frozenset({"environment", "log_level"})
DATABASE = COMMON | {
    "database_url",
    "embedded_postgres_dir",
    "database_pool_size",
    "database_pool_timeout_seconds",
}
MIGRATE_USES = DATABASE
# Reconciliation (in `worker`, and `reconcile` alone) applies Cal.com's changes as the webhook
# would, orphan alerts included.
RECONCILER = frozenset(
    {
        "secrets_encryption_key",
        "reconcile_interval_seconds",
        "reconcile_overlap_seconds",
        "reconcile_initial_lookback_hours",
        "reconcile_lease_seconds",
        "calcom_api_timeout_seconds",
        "calcom_api_max_attempts",
        "calcom_api_retry_base_seconds",
        "calcom_api_retry_max_seconds",
        "webhook_lock_timeout_ms",
        "run_reconciler",
        "secrets_key_file",
    }
)
WORKER_USES = (
    RECONCILER
    | DATABASE
    | {
        "smtp_url",
        "alert_from",
        "app_base_url",
        "public_base_url",
        "alert_limit_per_window",
        "alert_window_seconds",
        "outbox_max_attempts",
        "outbox_retry_base_seconds",
        "outbox_retry_max_seconds",
        "dispatcher_poll_seconds",
    }
)
RECONCILE_USES = WORKER_USES
EMBEDDED_USES = COMMON | {"embedded_postgres_dir"}
TOKEN_USES = COMMON | {"jwt_secret", "jwt_jwks_url", "jwt_audience", "jwt_issuer"}


def load_settings(uses: frozenset[str] | None) -> Settings:
    """The settings, checked only where the command reads them (`uses`; None: all). A setting
    it does not read is left at its default when it fails validation."""
    try:
        settings = _validated(uses)
    except SettingsError as error:
        raise Refusal(f"invalid configuration: {_describe(error)}") from None
    refusals = settings.production_refusals(uses)
    if refusals:
        raise Refusal("invalid configuration: production refuses " + "; ".join(refusals))
    return settings


def _validated(uses: frozenset[str] | None) -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        unused = {
            str(item["loc"][0])
            for item in error.errors()
            if uses is not None and item["loc"] and item["loc"][0] not in uses
        }
        problems = _describe(error, unused)
        if problems:
            raise Refusal(f"invalid configuration: {problems}") from None
    # Only settings the command does not read failed: they keep their defaults (values given
    # here outrank the environment's).
    return Settings(**{name: Settings.model_fields[name].get_default() for name in unused})


def _describe(error: ValidationError | SettingsError, unused: Collection[str] = ()) -> str:
    if isinstance(error, SettingsError):
        # pydantic-settings parses list and dict settings as JSON before validating them.
        field = str(error).split('"')[1].upper() if '"' in str(error) else "a setting"
        return f"{field}: not valid JSON; write it as JSON"
    parts = []
    for item in error.errors():
        if item["loc"] and item["loc"][0] in unused:
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        field = "_".join(str(part) for part in item["loc"]).upper()
        parts.append(f"{field}: {message}" if field and not message.startswith(field) else message)
    return "; ".join(parts)
