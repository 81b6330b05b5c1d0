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
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from scheduling_service import errors
from scheduling_service.db import is_database_unavailable, sqlstate_of
from scheduling_service.logs import REQUEST_ID_HEADER
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
URI_TOO_LONG = ProblemKind("uri-too-long", 414, "The query string is too long")
UNSUPPORTED_MEDIA_TYPE = ProblemKind("unsupported-media-type", 415, "Unsupported media type")
VALIDATION = ProblemKind("validation-error", 422, "The request is not valid")
# 424 (Failed Dependency), not a 5xx: the service is fine, the cohort's Cal.com connection
# (its key, its address, or Cal.com itself) is not; the detail says which.
UPSTREAM_FAILED = ProblemKind("calcom-api-failed", 424, "Cal.com's API could not be used")
UNAVAILABLE = ProblemKind("service-unavailable", 503, "Temporarily unavailable")
INTERNAL = ProblemKind("internal-error", 500, "Internal error")

# What every authenticated /v1 route can answer: a bad or missing token, a role or tenancy
# refusal, invalid input, and the database being unreachable (see `_database_unreachable`).
AUTHENTICATED = (UNAUTHORIZED, FORBIDDEN, NOT_FOUND, VALIDATION, UNAVAILABLE)

# What a 503 asks the client to wait, in seconds.
_RETRY = {"Retry-After": "5"}

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
        URI_TOO_LONG,
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
    (errors.UpstreamFailed, UPSTREAM_FAILED),
]


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": VALIDATION.type,
                    "title": VALIDATION.title,
                    "status": VALIDATION.status,
                    "detail": "body.contact_email: value is not a valid email address",
                    "errors": [
                        {
                            "loc": ["body", "contact_email"],
                            "msg": "value is not a valid email address",
                            "type": "value_error",
                        }
                    ],
                }
            ]
        }
    )

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
    """The OpenAPI `responses` entry for the problems a route can answer.

    Only `application/problem+json` is documented (no `model`, which would add a false
    `application/json`); the Problem schema itself is registered once by the app.
    """
    return {
        kind.status: {
            "description": kind.title,
            **({"headers": _RETRY_AFTER} if kind is UNAVAILABLE else {}),
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": {
                        "type": kind.type,
                        "title": kind.title,
                        "status": kind.status,
                        "detail": _EXAMPLE_DETAILS.get(kind.slug, kind.title),
                    },
                }
            },
        }
        for kind in kinds
    }


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


_EXAMPLE_DETAILS = {
    "unauthorized": "invalid token: Signature has expired",
    "invalid-signature": "X-Cal-Signature-256 does not match the cohort's webhook secret",
    "forbidden": "this needs the admin role of the organization",
    "not-found": "cohort not found",
    "conflict": "an application with this contact email exists in the cohort",
    "transition-refused": "an application cannot move from accepted to submitted by hand",
    "payload-too-large": "the body is over 65536 bytes",
    "uri-too-long": "the query string is over 8192 bytes",
    "unsupported-media-type": "the body must be application/json",
    "validation-error": "query.limit: Input should be less than or equal to 200",
    "service-unavailable": "the database is unreachable",
    "malformed-webhook": "the body is not JSON: Expecting value: line 1 column 1 (char 0)",
    "invalid-webhook": "payload.startTime: Field required",
    "calcom-api-failed": "Cal.com refused the API key (401)",
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, error: ProblemError) -> JSONResponse:
        return problem_response(error.kind, error.detail, headers=error.headers)

    @app.exception_handler(errors.DomainError)
    async def _domain(_: Request, error: errors.DomainError) -> JSONResponse:
        kind = next(kind for cls, kind in _DOMAIN if isinstance(error, cls))
        headers = _RETRY if kind is UNAVAILABLE else None
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
        if error.status_code == 400 and isinstance(
            error.__cause__, (UnicodeDecodeError, RecursionError)
        ):
            # FastAPI answers a bare 400 when the JSON body fails to decode other than with a
            # JSONDecodeError: bytes that are not UTF-8, or nesting deeper than the parser's
            # recursion limit. Like any other body that is not JSON, that is a 422.
            return problem_response(VALIDATION, "body: not UTF-8 JSON, or nested too deeply")
        kind = _BY_STATUS.get(error.status_code)
        if kind is None:
            kind = ProblemKind(f"http-{error.status_code}", error.status_code, "Error")
        headers = dict(error.headers) if error.headers else None
        return problem_response(kind, str(error.detail), headers=headers)

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(_: Request, error: PoolTimeout) -> JSONResponse:
        # The database answers, but every connection of this worker's pool stayed busy for
        # DATABASE_POOL_TIMEOUT_SECONDS: load to shed, not an error.
        return problem_response(
            UNAVAILABLE, "every database connection is busy; retry later", headers=_RETRY
        )

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
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        if is_database_unavailable(error):
            response = _database_unreachable()
        else:
            logger.exception("unhandled error", exc_info=error)
            response = problem_response(INTERNAL, "an unexpected error occurred")
        # Starlette runs this handler outside every middleware: the request ID header the
        # telemetry middleware adds to other answers is added here.
        if (request_id := getattr(request.state, "request_id", None)) is not None:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


def unexpected_error_status(error: BaseException) -> int:
    """The status `_unexpected` answers for `error` (the telemetry middleware logs it)."""
    return UNAVAILABLE.status if is_database_unavailable(error) else INTERNAL.status


def _database_unreachable() -> JSONResponse:
    return problem_response(UNAVAILABLE, "the database is unreachable", headers=_RETRY)


def _describe(item: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in item["loc"])
    return f"{location}: {item['msg']}"
