"""The one map from errors to `application/problem+json` answers (RFC 9457).

Each problem has a stable `type` URI; clients switch on it, never on `title` or `detail`.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from scheduling_service import errors
from scheduling_service.db import (
    STATEMENT_TIMEOUT_SQLSTATE,
    is_database_unavailable,
    sqlstate_of,
)
from scheduling_service.logs import REQUEST_ID_HEADER
from scheduling_service.pipeline import TransitionRefused

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:scheduling-service:problem:"


# Every kind of problem, so the document's `Problem.type` is the closed list of all of them.
KINDS: dict[str, "ProblemKind"] = {}


@dataclass(frozen=True)
class ProblemKind:
    slug: str
    status: int
    title: str

    def __post_init__(self) -> None:
        KINDS[self.type] = self

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

# What every authenticated /v1 route can answer: a bad or missing token, invalid input, and
# the database being unreachable (see `_database_unreachable`). Routes that need a role add
# FORBIDDEN, routes on a resource NOT_FOUND (see `member_problems` and the like).
AUTHENTICATED = (UNAUTHORIZED, VALIDATION, UNAVAILABLE)

# What a 503 asks the client to wait, in seconds.
_RETRY = {"Retry-After": "5"}
# What the request's log line and metrics say when the client hung up before its answer
# (nginx's "client closed request"); never sent, since nobody is left to read it.
CLIENT_GONE = 499

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


class ValidationIssue(BaseModel):
    """One reason a request is not valid."""

    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then field names and indexes."
    )
    msg: str
    type: str = Field(description="Pydantic's error type, e.g. `missing`, `value_error`.")


def _problem_schema(schema: dict[str, Any]) -> None:
    # `type` is the closed list of every kind (taken when the document is built, so kinds
    # declared anywhere count); `errors` is left out of the answer rather than null.
    schema["properties"]["type"]["enum"] = sorted(KINDS)
    del schema["properties"]["errors"]["default"]


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

    type: str = Field(description="What went wrong; clients switch on it.")
    title: str = Field(description="The type's summary, the same for every problem of a type.")
    status: int = Field(description="The HTTP status.")
    detail: str = Field(description="This occurrence, for people: never parse it.")
    errors: list[ValidationIssue] | SkipJsonSchema[None] = Field(
        default=None, description="Only on `validation-error`: every reason, in order."
    )

    @classmethod
    def document_schema(cls) -> dict[str, dict[str, Any]]:
        """Problem and the schemas it refers to, for `components.schemas`."""
        schema = cls.model_json_schema(ref_template="#/components/schemas/{model}")
        _problem_schema(schema)
        return {**schema.pop("$defs"), "Problem": schema}


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
    detail: str,
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


def responses(
    *kinds: ProblemKind, details: Mapping[ProblemKind, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry for the problems a route can answer.

    `details` gives the route's own example `detail` where the kind's generic one would not be
    what this route says. Only `application/problem+json` is documented (no `model`, which
    would add a false `application/json`); the Problem schema is registered once by the app.
    """
    details = details or {}
    return {
        kind.status: {
            "description": _WHY.get(kind.slug, kind.title),
            **({"headers": _RETRY_AFTER} if kind is UNAVAILABLE else {}),
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": {
                        "type": kind.type,
                        "title": kind.title,
                        "status": kind.status,
                        "detail": details.get(kind) or _EXAMPLE_DETAILS.get(kind.slug, kind.title),
                    },
                }
            },
        }
        for kind in kinds
    }


_NEEDS_ADMIN = "this needs the admin role of the organization"
_NEEDS_SYSTEM_ADMIN = "this needs the system_admin role"


def member_problems(
    resource: str | None, *more: ProblemKind, details: Mapping[ProblemKind, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """What a route anyone of the organization may call answers; `resource` names what its
    404 is about (None: a route on no resource, which answers no 404)."""
    found = (NOT_FOUND,) if resource else ()
    named = {NOT_FOUND: f"{resource} not found"} if resource else {}
    return responses(*AUTHENTICATED, *found, *more, details={**named, **(details or {})})


def admin_problems(
    resource: str | None, *more: ProblemKind, details: Mapping[ProblemKind, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """A route for the organization's admins (and system admins): members get 403."""
    return member_problems(
        resource, FORBIDDEN, *more, details={FORBIDDEN: _NEEDS_ADMIN, **(details or {})}
    )


def system_admin_problems(
    resource: str | None, *more: ProblemKind, details: Mapping[ProblemKind, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """A route for system admins only: everyone else of the organization gets 403."""
    return member_problems(
        resource, FORBIDDEN, *more, details={FORBIDDEN: _NEEDS_SYSTEM_ADMIN, **(details or {})}
    )


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


# Why a route answers each kind, for the document.
_WHY = {
    "bad-request": "The request cannot be read.",
    "unauthorized": "The bearer token is missing, malformed, expired, or not signed by a "
    "configured key.",
    "invalid-signature": "`X-Cal-Signature-256` is missing or is not the HMAC of the body "
    "with the cohort's secret (or, during a rotation's grace period, the previous one).",
    "forbidden": "The token's role may not do this (see the operation's description).",
    "not-found": "No such resource, or it belongs to another organization: the two answer alike.",
    "conflict": "The request clashes with what is stored (see the operation's description).",
    "transition-refused": "The state machine does not allow this move by hand (see the "
    "operation's description).",
    "payload-too-large": "The body is over the size limit.",
    "uri-too-long": "The query string is over 8192 bytes.",
    "unsupported-media-type": "The body is not `application/json`.",
    "validation-error": "The path, query or body is not valid; `errors` lists each reason.",
    "service-unavailable": "The database is unreachable or every connection is busy, or the "
    "worker is at capacity: retry after `Retry-After` seconds.",
    "malformed-webhook": "The signed body is not JSON; it is kept in the event log as `rejected`.",
    "invalid-webhook": "The signed body is not a booking Cal.com would send; it is kept in "
    "the event log as `rejected`.",
}

_EXAMPLE_DETAILS = {
    "unauthorized": "invalid token: Signature has expired",
    "invalid-signature": "X-Cal-Signature-256 does not match the cohort's webhook secret",
    "forbidden": _NEEDS_ADMIN,
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
        # Starlette raises no other status; should one appear, it stays within the documented
        # kinds rather than invent an undocumented type.
        kind = _BY_STATUS.get(error.status_code) or (
            INTERNAL if error.status_code >= 500 else BAD_REQUEST
        )
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
        if sqlstate == STATEMENT_TIMEOUT_SQLSTATE:
            # A held lock or a slow plan: the request gives its connection back rather than
            # keep it from the others.
            return problem_response(
                UNAVAILABLE, "the database took too long to answer; retry later", headers=_RETRY
            )
        logger.exception("database error", exc_info=error)
        return problem_response(INTERNAL, "an unexpected error occurred")

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(_: Request, error: ClientDisconnect) -> Response:
        # Nobody is left to answer: the request's log line says 499, and that is all.
        return Response(status_code=CLIENT_GONE)

    # Handled here rather than by `_unexpected`, which Starlette runs only to re-raise the
    # error afterwards: uvicorn would log a traceback for every request of an outage.
    @app.exception_handler(OSError)
    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    async def _unreachable(request: Request, error: Exception) -> JSONResponse:
        if not is_database_unavailable(error):
            return await _unexpected(request, error)
        return _database_unreachable()

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
