"""The one map from errors to `application/problem+json` answers (RFC 9457).

Each problem has a stable `type` URI; clients switch on it, never on `title` or `detail`.
"""

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scheduling_service import errors
from scheduling_service.db import is_database_unavailable, sqlstate_of
from scheduling_service.pipeline import TransitionRefused

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:scheduling-service:problem:"


@dataclass(frozen=True)
class ProblemKind:
    slug: str
    status: int
    title: str

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.slug


BAD_REQUEST = ProblemKind("bad-request", 400, "Bad request")
MALFORMED_WEBHOOK = ProblemKind("malformed-webhook", 400, "The delivery is not JSON")
INVALID_WEBHOOK = ProblemKind("invalid-webhook", 422, "The delivery is not a Cal.com booking")
UNAUTHORIZED = ProblemKind("unauthorized", 401, "Authentication required")
INVALID_SIGNATURE = ProblemKind("invalid-signature", 401, "The webhook signature does not match")
FORBIDDEN = ProblemKind("forbidden", 403, "Not allowed for this role")
NOT_FOUND = ProblemKind("not-found", 404, "Not found")
METHOD_NOT_ALLOWED = ProblemKind("method-not-allowed", 405, "Method not allowed")
CONFLICT = ProblemKind("conflict", 409, "Conflict")
TRANSITION_REFUSED = ProblemKind("transition-refused", 409, "The status move is not allowed")
PAYLOAD_TOO_LARGE = ProblemKind("payload-too-large", 413, "The request body is too large")
UNSUPPORTED_MEDIA_TYPE = ProblemKind("unsupported-media-type", 415, "Unsupported media type")
VALIDATION = ProblemKind("validation-error", 422, "The request is not valid")
UNAVAILABLE = ProblemKind("service-unavailable", 503, "Temporarily unavailable")
INTERNAL = ProblemKind("internal-error", 500, "Internal error")

_BY_STATUS = {
    kind.status: kind
    for kind in (
        BAD_REQUEST,
        UNAUTHORIZED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        CONFLICT,
        PAYLOAD_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        VALIDATION,
        UNAVAILABLE,
    )
}

_DOMAIN: list[tuple[type[errors.DomainError], ProblemKind]] = [
    (errors.NotFound, NOT_FOUND),
    (errors.Conflict, CONFLICT),
    (errors.Forbidden, FORBIDDEN),
    (errors.InvalidInput, VALIDATION),
    (errors.InvalidSignature, INVALID_SIGNATURE),
    (errors.Unavailable, UNAVAILABLE),
]


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    """Raised where a problem is decided outside the domain (the webhook protocol, auth)."""

    def __init__(
        self,
        kind: ProblemKind,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.headers = headers


def problem_response(
    kind: ProblemKind,
    detail: str | None,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": kind.type,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
    }
    if extra:
        body.update(extra)
    return JSONResponse(
        jsonable_encoder(body),
        status_code=kind.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def responses(*kinds: ProblemKind) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry for the problems a route can answer."""
    return {
        kind.status: {
            "model": Problem,
            "description": kind.title,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for kind in kinds
    }


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, error: ProblemError) -> JSONResponse:
        return problem_response(error.kind, error.detail, headers=error.headers)

    @app.exception_handler(errors.DomainError)
    async def _domain(_: Request, error: errors.DomainError) -> JSONResponse:
        kind = next(kind for cls, kind in _DOMAIN if isinstance(error, cls))
        headers = {"Retry-After": "5"} if kind is UNAVAILABLE else None
        return problem_response(kind, error.detail, headers=headers)

    @app.exception_handler(TransitionRefused)
    async def _refused(_: Request, error: TransitionRefused) -> JSONResponse:
        return problem_response(TRANSITION_REFUSED, str(error))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
            for item in error.errors()
        ]
        return problem_response(
            VALIDATION, "; ".join(_describe(d) for d in details[:5]), extra={"errors": details}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = _BY_STATUS.get(error.status_code)
        if kind is None:
            kind = ProblemKind(f"http-{error.status_code}", error.status_code, "Error")
        headers = dict(error.headers) if error.headers else None
        return problem_response(kind, str(error.detail), headers=headers)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, error: DBAPIError) -> JSONResponse:
        sqlstate = sqlstate_of(error) or ""
        # Class 22 is "data exception": input PostgreSQL cannot store, so the client's fault.
        if sqlstate.startswith("22"):
            return problem_response(VALIDATION, "a value cannot be stored as given")
        if is_database_unavailable(error):
            return _database_unreachable()
        logger.exception("database error", exc_info=error)
        return problem_response(INTERNAL, "an unexpected error occurred")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        if is_database_unavailable(error):
            return _database_unreachable()
        logger.exception("unhandled error", exc_info=error)
        return problem_response(INTERNAL, "an unexpected error occurred")


def _database_unreachable() -> JSONResponse:
    return problem_response(
        UNAVAILABLE, "the database is unreachable", headers={"Retry-After": "5"}
    )


def _describe(item: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in item["loc"])
    return f"{location}: {item['msg']}"
