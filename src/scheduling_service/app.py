import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from scheduling_service import health, metrics, openapi
from scheduling_service.admission import ApiAdmission, Gate
from scheduling_service.applications.router import router as applications_router
from scheduling_service.auth import TokenVerifier
from scheduling_service.config import Settings, get_settings
from scheduling_service.db import (
    DeliveryTransactions,
    create_engine,
    create_sessionmaker,
    create_webhook_engine,
)
from scheduling_service.embedded import resolve_database_url
from scheduling_service.limits import RequestLimits, document_limits
from scheduling_service.logs import REQUEST_ID_HEADER
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.sender import create_sender
from scheduling_service.organizations.router import router as organizations_router
from scheduling_service.organizations.secrets import CohortSecretCache
from scheduling_service.orphans.router import router as orphans_router
from scheduling_service.problems import Problem, install_problem_handlers
from scheduling_service.reconciliation.router import router as reconciliation_router
from scheduling_service.reconciliation.service import Reconciler
from scheduling_service.redirects import RelativeRedirects
from scheduling_service.schemas import restore_example_nulls
from scheduling_service.server import give_back_large_blocks
from scheduling_service.telemetry import RequestTelemetry
from scheduling_service.webhooks.front import WebhookFront
from scheduling_service.webhooks.journal import Journal
from scheduling_service.webhooks.recovery import Recovery
from scheduling_service.webhooks.router import router as webhooks_router
from scheduling_service.webhooks.service import Intake

# Allocations (less deallocations) between two collections of the young generation.
YOUNG_COLLECTION_THRESHOLD = 20_000

DESCRIPTION = """Interview scheduling for cohort-based application programs.

Cal.com posts signed booking webhooks to `/webhooks/calcom/{cohort_id}`; the service matches
each booking to an application of the cohort by the applicant's email, moves the application
through its interview rounds, and keeps bookings that match nobody as orphaned interviews.
The `/v1` API (bearer JWT) serves the admin single-page app and integrators. Errors are
`application/problem+json` (RFC 9457) with a stable `type`.
"""


# Security reports go privately through the repository (SECURITY.md), never an issue.
CONTACT = {"name": "scheduling-service maintainers"}

# One tag per resource, in the order the SPA meets them.
TAGS = [
    {"name": "organizations", "description": "Programs that run cohorts; their admins get alerts."},
    {
        "name": "cohorts",
        "description": "A cohort's intake, and its Cal.com webhook URL and secret.",
    },
    {
        "name": "applications",
        "description": "Applicants of a cohort, their status, interview and history.",
    },
    {
        "name": "orphaned-interviews",
        "description": "Bookings that matched no application, to match or dismiss.",
    },
    {
        "name": "webhook-events",
        "description": "The log of Cal.com's deliveries to a cohort, and replaying failed ones.",
    },
    {
        "name": "calcom",
        "description": "The receiver Cal.com posts signed bookings to. Not for the SPA: its "
        "operation is marked `x-internal`, so client generators can leave it out.",
        "x-internal": True,
    },
    {"name": "operations", "description": "Health, readiness and metrics, for the platform."},
]


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """The ASGI app. The database URL is resolved at startup unless given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        give_back_large_blocks()
        url = database_url or resolve_database_url(settings)
        engine = create_engine(url, settings)
        app.state.engine = engine
        metrics.instrument_pool(engine, settings.database_pool_size)
        app.state.sessionmaker = create_sessionmaker(engine)
        # A pool of their own, so that slow or numerous API requests never delay a delivery.
        webhook_engine = create_webhook_engine(url, settings)
        app.state.webhook_engine = webhook_engine
        metrics.instrument_pool(webhook_engine, settings.database_webhook_pool_size)
        webhook_sessionmaker = create_sessionmaker(webhook_engine)
        secrets = CohortSecretCache(webhook_sessionmaker, settings.webhook_secrets_refresh_seconds)
        # Before the first delivery: the cache is what verifies them (an unreachable
        # database leaves it empty, and deliveries are refused with 503 until it is filled).
        await secrets.refresh()
        app.state.intake = Intake(
            DeliveryTransactions(webhook_engine),
            webhook_sessionmaker,
            settings,
            Journal(settings.journal_dir, settings.journal_max_bytes),
            secrets,
        )
        stop = asyncio.Event()
        background = [asyncio.create_task(secrets.run(stop))]
        if settings.run_recovery:
            background.append(asyncio.create_task(Recovery(app.state.intake).run(stop)))
        if settings.run_dispatcher:
            dispatcher = Dispatcher(app.state.sessionmaker, settings, create_sender(settings))
            background.append(asyncio.create_task(dispatcher.run(stop)))
        if settings.run_reconciler:
            reconciler = Reconciler(app.state.sessionmaker, settings)
            background.append(asyncio.create_task(reconciler.run(stop)))
        # What startup built (modules, the app, the ORM's mappers) lives as long as the app:
        # frozen, the collector no longer walks it in every full collection.
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        thresholds = gc.get_threshold()
        # A delivery allocates a few thousand objects, nearly all freed with it: at Python's
        # default (a young collection every 700) the collector took 5.6% of the server's CPU
        # under load (bench/RESULTS.md, issue 16).
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *thresholds[1:])
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            if settings.gc_freeze:
                gc.unfreeze()
            stop.set()
            await asyncio.gather(*background)
            await engine.dispose()
            await webhook_engine.dispose()
            metrics.release_pool(settings.database_pool_size + settings.database_webhook_pool_size)
            metrics.forget_this_process()

    # FastAPI's own /docs and /redoc load Swagger UI and ReDoc from a CDN, blank without the
    # internet; these pages use the copies the fastapi-offline package ships.
    app = FastAPIOffline(
        title="scheduling-service",
        version="0.1.0",
        description=DESCRIPTION,
        contact=CONTACT,
        license_info={"name": "MIT", "identifier": "MIT"},
        # Relative: wherever the document is served from (PUBLIC_BASE_URL in production).
        servers=[{"url": "/", "description": "The service that serves this document"}],
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    # A similarity ranking keeps a core of PostgreSQL busy for a while: a few at once would
    # slow every delivery's commit (bench/RESULTS.md), however many API requests are admitted.
    app.state.candidate_rankings = Gate(
        settings.candidate_rankings_max_concurrent,
        settings.api_queue_timeout_seconds,
        "as many candidate rankings as this worker runs at once are under way; retry later",
    )
    install_problem_handlers(app)
    app.add_middleware(RequestLimits, max_body_bytes=settings.api_max_body_bytes)
    # Before the limits read a body: a request shed at capacity costs next to nothing.
    app.add_middleware(
        ApiAdmission,
        max_concurrent=settings.api_max_concurrent_requests,
        queue_timeout=settings.api_queue_timeout_seconds,
    )
    # Outside admission and the limits: a preflight is answered before it could be shed or
    # asked for a token, and their refusals (503 with Retry-After, 413, 414) stay readable by
    # the SPA. Bearer tokens need no credentialed requests, so none are allowed.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins(),
        # Every method a route of the API may take, so a route added later needs no change.
        allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=["Retry-After", REQUEST_ID_HEADER],
        allow_credentials=False,
        max_age=600,
    )
    app.add_middleware(RelativeRedirects)
    # Deliveries skip the API's middleware and FastAPI's request handling (`webhooks.front`).
    app.add_middleware(WebhookFront)
    # Added last, so outermost: even a request refused by the limits is logged and counted.
    app.add_middleware(RequestTelemetry)
    for router in (
        organizations_router,
        applications_router,
        orphans_router,
        reconciliation_router,
        webhooks_router,
        health.router,
    ):
        app.include_router(router)
    _shape_document(app)
    return app


def _shape_document(app: FastAPI) -> None:
    """FastAPI's document, with the answers of the middleware, the one shared Problem schema,
    and shaped for client generators (`openapi.py`)."""
    build = app.openapi

    def shaped() -> dict[str, object]:
        if app.openapi_schema is None:
            document = build()
            document_limits(document)
            restore_example_nulls(document)
            components = document.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            schemas.update(Problem.document_schema())
            openapi.optional_request_fields_have_no_default(document)
            openapi.rename_schemas_for_clients(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = shaped  # type: ignore[method-assign]
