"""What a background loop says about the database: one line when it becomes unreachable, one
when it is back, and a counter, rather than a traceback on every pass."""

import logging

from scheduling_service import metrics
from scheduling_service.db import is_database_unavailable
from scheduling_service.errors import Unavailable

logger = logging.getLogger("scheduling_service.outages")


class OutageLog:
    def __init__(self, loop: str) -> None:
        self.loop = loop
        self.down = False

    def failed(self, error: BaseException, what: str) -> None:
        """A pass failed: an outage is told once; any other failure is a bug, told in full."""
        # Unavailable: the secrets cache could not reach the database to verify a delivery.
        if not (is_database_unavailable(error) or isinstance(error, Unavailable)):
            logger.error("%s: %s failed", self.loop, what, exc_info=error)
            return
        if self.down:
            return
        self.down = True
        metrics.DATABASE_OUTAGES.labels(self.loop).inc()
        logger.warning(
            "database unreachable",
            extra={"fields": {"loop": self.loop, "error": type(error).__name__}},
        )

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            logger.info("database reachable again", extra={"fields": {"loop": self.loop}})
