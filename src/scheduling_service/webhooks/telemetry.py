"""One log line and the metrics for each Cal.com delivery received over HTTP."""

import logging
import uuid

from scheduling_service import metrics
from scheduling_service.calcom.delivery import Trigger
from scheduling_service.errors import InvalidSignature, NotFound, Unavailable

logger = logging.getLogger("scheduling_service.webhooks")

# Outcomes of deliveries refused before they were recorded.
_REFUSALS: dict[type[Exception], str] = {
    NotFound: "unknown_cohort",
    InvalidSignature: "invalid_signature",
    Unavailable: "unavailable",
}
# The trigger label takes Cal.com's few known values: anything else a sender writes is
# "other", so no sender can create series without bound.
_KNOWN_TRIGGERS = frozenset(Trigger)


def delivered(
    cohort_id: uuid.UUID, event_id: str, trigger: str | None, outcome: str, seconds: float
) -> None:
    _observe(cohort_id, event_id, trigger, outcome, seconds)


def refused(cohort_id: uuid.UUID, error: Exception, seconds: float) -> None:
    outcome = next((name for cls, name in _REFUSALS.items() if isinstance(error, cls)), "error")
    # Nothing of a refused body is trusted, not even its trigger.
    _observe(cohort_id, None, None, outcome, seconds)


def _observe(
    cohort_id: uuid.UUID, event_id: str | None, trigger: str | None, outcome: str, seconds: float
) -> None:
    label = "none" if trigger is None else trigger if trigger in _KNOWN_TRIGGERS else "other"
    metrics.WEBHOOK_DELIVERIES.labels(label, outcome).inc()
    metrics.WEBHOOK_PROCESSING.labels(label).observe(seconds)
    logger.info(
        "webhook delivery",
        extra={
            "fields": {
                "cohort_id": str(cohort_id),
                "event_id": event_id,
                "trigger": trigger,
                "outcome": outcome,
                "duration_ms": round(seconds * 1000, 2),
            }
        },
    )
